"""collect, list_sources and ingest_prometheus into an in-memory store, over fake exporters and servers."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest

from stackmeter import operations
from stackmeter.errors import ConfigError, SourceUnavailable
from stackmeter.models import DOWN, TOO_LATE, UP
from stackmeter.sources.prometheus import ResourceQuery
from stackmeter.sources.scrape import Target

FIXTURES = Path(__file__).parent.parent / "fixtures"
NODE = (FIXTURES / "node_exporter" / "e2e-output.txt").read_text(encoding="utf-8")
MEM = "node_memory_MemAvailable_bytes 1.5e+09\n"


def exporters(request: httpx.Request) -> httpx.Response:
    if request.url.host == "down":
        return httpx.Response(500, text="boom")
    return httpx.Response(200, text=NODE + MEM)


TARGETS = [Target("http://up-1:9100/metrics"), Target("http://down:9100/metrics")]


def test_collect_writes_each_round_and_the_status_of_every_target(store):
    seen = []
    summary = operations.collect(
        store,
        TARGETS,
        every_s=0.05,
        for_s=0.15,
        transport=httpx.MockTransport(exporters),
        on_round=seen.append,
    )
    assert summary.rounds == 3 and not summary.stopped
    assert [s.rounds for s in seen] == [1, 2, 3]
    series = store.read_series("up-1:9100", "memory")
    assert series.size == 3
    total = float(re.search(r"^node_memory_MemTotal_bytes (\S+)$", NODE, re.MULTILINE).group(1))
    assert series.used.tolist() == [total - 1.5e9] * 3
    assert store.read_series("up-1:9100", "cpu").size == 2  # rates need two scrapes; counters did not move
    statuses = {s.target: s for s in operations.list_sources(store)}
    assert statuses["http://up-1:9100/metrics"].state == UP
    down = statuses["http://down:9100/metrics"]
    assert down.state == DOWN and down.last_error == "HTTP 500: boom" and down.last_success is None
    assert summary.rejected >= 2  # the down target, once per attempt (it backs off)


def test_collect_stops_cleanly_and_keeps_what_it_has(store):
    stop = threading.Event()

    def on_round(summary):
        if summary.rounds == 2:
            stop.set()  # as the CLI's signal handler does

    summary = operations.collect(
        store,
        TARGETS[:1],
        every_s=0.05,
        stop=stop,
        on_round=on_round,
        transport=httpx.MockTransport(exporters),
    )
    assert summary.stopped and summary.rounds == 2
    assert store.read_series("up-1:9100", "memory").size == 2


@pytest.mark.parametrize("every_s, for_s", [(0, None), (15, -1)])
def test_collect_refuses_bad_intervals(store, every_s, for_s):
    with pytest.raises(ConfigError):
        operations.collect(store, TARGETS, every_s=every_s, for_s=for_s)


def prometheus(request: httpx.Request) -> httpx.Response:
    params = request.url.params
    start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
    times = np.arange(start, end + step / 2, step)
    query = params["query"]
    value = {"busy": 3.0, "cpus": 4.0}.get(query, 1.0)
    result = [{"metric": {"instance": "h1:9100"}, "values": [[t, str(value)] for t in times]}]
    return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})


def test_ingest_prometheus_lands_once(store):
    start, end = np.datetime64("2026-03-02T00:00:00"), np.datetime64("2026-03-02T01:00:00")
    queries = {"cpu": ResourceQuery("busy", "cpus")}
    transport = httpx.MockTransport(prometheus)
    summary = operations.ingest_prometheus(
        store, "http://prom:9090", start, end, 300, queries, transport=transport
    )
    assert (summary.samples_read, summary.samples_added, summary.entities) == (13, 13, 1)
    assert summary.first_ts == np.datetime64("2026-03-02T00:00:00", "ns")
    again = operations.ingest_prometheus(
        store, "http://prom:9090", start, end, 300, queries, transport=transport
    )
    assert (again.samples_added, again.duplicates) == (0, 13)
    series = store.read_series("h1:9100", "cpu")
    assert series.used.tolist() == [3.0] * 13 and series.capacity.tolist() == [4.0] * 13


def test_ingest_prometheus_refuses_samples_older_than_the_back_window_unless_lifted(store):
    queries = {"cpu": ResourceQuery("busy", "cpus")}
    transport = httpx.MockTransport(prometheus)
    day = np.timedelta64(1, "D")
    recent = np.datetime64("2026-03-20T00:00:00")
    operations.ingest_prometheus(
        store, "http://prom:9090", recent, recent + day, 3600, queries, transport=transport
    )
    # Older history, 03-12 to 03-19: the default week back from the newest sample (03-21) reaches 03-14.
    older = (recent - 8 * day, recent - day)
    refused = operations.ingest_prometheus(
        store, "http://prom:9090", *older, 3600, queries, transport=transport
    )
    expected_late = 2 * 24  # the hourly samples of 03-12 and 03-13
    assert refused.rejected_by_reason == {TOO_LATE: expected_late}
    assert refused.samples_added == refused.samples_read - expected_late
    backfill = operations.ingest_prometheus(
        store, "http://prom:9090", *older, 3600, queries, transport=transport, back_window_s=None
    )
    assert (backfill.samples_added, backfill.rejected) == (expected_late, 0)
    assert store.read_series("h1:9100", "cpu").size == 25 + 7 * 24 + 1


def test_ingest_prometheus_unreachable_writes_nothing(store):
    def refuse(request):
        raise httpx.ConnectError("Connection refused")

    start, end = np.datetime64("2026-03-02T00:00:00"), np.datetime64("2026-03-02T01:00:00")
    with pytest.raises(SourceUnavailable, match="http://prom:9090/api/v1/query_range: cannot connect"):
        operations.ingest_prometheus(
            store, "http://prom:9090", start, end, retries=0, transport=httpx.MockTransport(refuse)
        )
    assert store.read_status().samples == 0


def test_ingest_prometheus_refuses_credentials_in_the_url(store):
    start, end = np.datetime64("2026-03-02T00:00:00"), np.datetime64("2026-03-02T01:00:00")
    with pytest.raises(ConfigError, match="--url: credentials in a URL") as caught:
        operations.ingest_prometheus(store, "http://admin:hunter2@prom:9090", start, end)
    assert "hunter2" not in str(caught.value)
