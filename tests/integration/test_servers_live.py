"""Prometheus and VictoriaMetrics scraping a real node_exporter agree with collecting from it directly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.sources.exposition import CounterState
from stackmeter.store import open_store
from tests.integration.exporter_servers import burn_one_core, by_resource, flush_recent_samples, scrape

pytestmark = pytest.mark.integration


def test_prometheus_and_victoria_metrics_agree_with_direct_collection(node_exporter, metric_servers):
    span_s = 10
    burner = burn_one_core()
    try:
        time.sleep(1.0)
        _, state = scrape(node_exporter, CounterState())
        time.sleep(span_s)
        direct, _ = scrape(node_exporter, state)  # rates over the last 10 s
    finally:
        burner.kill()
        burner.wait()
    time.sleep(1.5)  # the servers scrape every second: let them catch up
    end = direct.samples.ts[0]
    host = direct.entities[0].entity
    expected = by_resource(direct)
    for server_url in metric_servers.values():
        flush_recent_samples(server_url)
        with open_store(":memory:") as store:
            # One point per second over the last 2 s, each a rate over the same 10 s as ours (give or
            # take the second the server's evaluation times are aligned to).
            start = end - np.timedelta64(2, "s")
            summary = operations.ingest_prometheus(store, server_url, start, end, 1.0, rate_window_s=span_s)
            assert summary.samples_added > 0 and store.has_entity(host), (
                server_url
            )  # named by nodename both ways
            via_server = {r: store.read_series(host, r) for r in ("cpu", "memory", "disk")}
        latest = {resource: (series.used[-1], series.capacity[-1]) for resource, series in via_server.items()}
        # Busy cores over the same 10 s (one core spinning, and whatever else runs): within 0.2 cores.
        assert latest["cpu"][0] == pytest.approx(expected["cpu"][0], abs=0.2), server_url
        assert latest["cpu"][1] == expected["cpu"][1]
        # Memory within 2 % of the total, disk busy within 0.1.
        assert latest["memory"][0] == pytest.approx(expected["memory"][0], abs=0.02 * expected["memory"][1])
        assert latest["memory"][1] == expected["memory"][1]
        assert latest["disk"][0] == pytest.approx(expected["disk"][0], abs=0.1)
