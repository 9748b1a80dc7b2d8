"""Prometheus servers that answer garbage: only stackmeter errors, nothing invalid stored, the rest lands."""

from __future__ import annotations

import functools
import itertools
import json
import math

import httpx
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.errors import StackmeterError
from stackmeter.sources.prometheus import NODE_EXPORTER_QUERIES, NODE_NAMES_QUERY
from stackmeter.store import open_store
from stackmeter.store.duckdb.schema import CODE_RESOURCES
from tests.fuzz import garbage
from tests.fuzz.garbage import assert_store_valid, brief, last_batch
from tests.store.sql import connection_of

URL = "http://prometheus.example:9090"
START_S = 1_772_445_600  # 2026-03-02T10:00:00Z, a multiple of the step
STEP_S = 300
EXAMPLES = itertools.count()
START = np.datetime64(START_S, "s").astype("datetime64[ns]")
END = START + np.timedelta64(3 * STEP_S, "s")
STATUSES = (200, 200, 200, 204, 301, 400, 401, 404, 422, 429, 500, 502, 503)
JSON_GARBAGE = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
TIMES = st.one_of(
    st.sampled_from((7258118400, 7258118399.999, -1, 0, 99999999999, 1e308, -1e308, 2**64, 1e-320, -0.0)),
    st.sampled_from(garbage.EDGE_EPOCH_SECONDS),
    st.floats(),
    st.integers(),
    JSON_GARBAGE,
)
POINT_VALUES = st.one_of(garbage.numbers(), st.floats().map(repr), JSON_GARBAGE)


def node_values() -> dict[str, list[tuple[dict, float]]]:
    """What the fake server answers to each query of the node_exporter mapping: two hosts."""
    q, window = NODE_EXPORTER_QUERIES, f"{STEP_S}s"
    a, b = {"instance": "10.0.0.1:9100", "job": "node"}, {"instance": "10.0.0.2:9100", "job": "node"}
    return {
        NODE_NAMES_QUERY: [({**a, "nodename": "compute-1"}, 1)],
        q["cpu"].used.replace("$window", window): [(a, 6.0), (b, 1.5)],
        q["cpu"].capacity: [(a, 8), (b, 4)],
        q["memory"].used: [(a, 3e9), (b, 1e9)],
        q["memory"].capacity: [({**a, "__name__": "node_memory_MemTotal_bytes"}, 4e9), (b, 2e9)],
        q["disk"].used.replace("$window", window): [(a, 0.25), (b, 0.9)],
        q["network"].used.replace("$window", window): [
            ({**a, "device": "eth0"}, 1e6),
            ({**b, "device": "eth0"}, 5e5),
        ],
        q["network"].capacity: [({**a, "device": "eth0"}, 1.25e8)],
    }


class FakePrometheus:
    """Answers query_range as Prometheus does: one point per step of the range asked."""

    def __init__(self, values: dict[str, list[tuple[dict, float]]]):
        self.values = values

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        times = [start + i * step for i in range(int((end - start) // step) + 1)]
        result = [
            {"metric": labels, "values": [[t, str(value)] for t in times]}
            for labels, value in self.values[params["query"]]
        ]
        return httpx.Response(
            200, json={"status": "success", "data": {"resultType": "matrix", "result": result}}
        )


def store_samples(store, suffix: str = "") -> dict:
    """``{(entity, resource, ts µs): (used, capacity)}`` of the entities named ``…suffix``, without it."""
    rows = (
        connection_of(store)
        .execute(
            """SELECT e.entity, s.resource_code, epoch_us(s.ts), s.used, s.capacity
           FROM samples s JOIN entities e USING (entity_id) WHERE suffix(e.entity, ?)""",
            [suffix],
        )
        .fetchall()
    )
    return {
        (entity.removesuffix(suffix), CODE_RESOURCES[code], ts): (used, capacity)
        for entity, code, ts, used, capacity in rows
    }


@functools.cache
def clean_samples() -> dict:
    with open_store(":memory:") as store:
        transport = httpx.MockTransport(FakePrometheus(node_values()))
        operations.ingest_prometheus(store, URL, START, END, STEP_S, transport=transport, retries=0)
        return store_samples(store)


def by_resource(samples: dict, with_entity: bool) -> dict:
    found: dict = {}
    for (entity, resource, ts), value in samples.items():
        found.setdefault(resource, set()).add((entity if with_entity else "", ts, value))
    return found


class GarbledServer:
    """The fake Prometheus, but each answer may be garbage drawn from ``data``."""

    def __init__(self, data, suffix: str):
        self.clean = FakePrometheus(node_values())
        self.data = data
        self.suffix = suffix  # added to host names, so that each example's hosts are new to the store
        self.touched: set[str] = set()  # queries whose answers were garbled
        self.malformed = False  # an answer is not one a server sends (wrong types, not JSON, …)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        body = json.loads(self.clean(request).content)
        for series in body["data"]["result"]:
            for label in ("instance", "nodename"):
                if label in series["metric"]:
                    series["metric"][label] += self.suffix
        answer = httpx.Response(200, json=body)
        kind = self.data.draw(
            st.sampled_from(
                ("clean", "clean", "clean", "point value", "point time", "status", "body", "types")
            ),
            label=f"answer to {query[:30]}",
        )
        if kind == "clean":
            return answer
        self.touched.add(query)
        if kind in ("point value", "point time"):
            result = body["data"]["result"]
            if not result:
                return answer
            series = self.data.draw(st.sampled_from(result), label="series")
            i = self.data.draw(st.integers(0, len(series["values"]) - 1), label="point")
            part = 1 if kind == "point value" else 0
            series["values"][i][part] = self.data.draw(POINT_VALUES if part else TIMES, label=kind)
            return httpx.Response(
                200, content=json.dumps(body).encode(), headers={"content-type": "application/json"}
            )
        self.malformed = True
        status = self.data.draw(st.sampled_from(STATUSES), label="status")
        if kind == "status":
            return httpx.Response(status, content=answer.content)
        if kind == "body":
            raw = json.dumps(body).encode()
            content = self.data.draw(
                st.one_of(
                    st.integers(0, 1000).map(
                        lambda per_mille: raw[: len(raw) * per_mille // 1000]
                    ),  # its length varies
                    st.binary(max_size=60),
                    st.sampled_from(
                        (b"", b"null", b"[]", b"{}", b"NaN", b'{"status":"success"}', b"\xff\xfe")
                    ),
                    st.just(raw.decode().encode("utf-16")),
                ),
                label="body",
            )
            return httpx.Response(status, content=content)
        where = self.data.draw(
            st.sampled_from(("body", "data", "result", "series", "metric", "values")), label="where"
        )
        value = self.data.draw(JSON_GARBAGE, label="value")
        if where == "body":
            body = value
        elif where == "data":
            body["data"] = value
        elif where == "result":
            body["data"]["result"] = value
        elif where == "series" and body["data"]["result"]:
            body["data"]["result"][0] = value
        elif body["data"]["result"]:
            body["data"]["result"][0][where] = value
        return httpx.Response(status, content=json.dumps(body).encode())


@pytest.fixture(scope="module")
def store():
    with open_store(":memory:", rollup_levels=("1d",)) as opened:
        yield opened


@given(data=st.data())
def test_garbage_answers_raise_only_stackmeter_errors_and_spare_the_other_queries(store, data):
    suffix = f"~{next(EXAMPLES)}"
    server = GarbledServer(data, suffix)
    before = last_batch(store)
    try:
        operations.ingest_prometheus(
            store, URL, START, END, STEP_S, transport=httpx.MockTransport(server), retries=0
        )
    except StackmeterError:
        assert server.malformed, "an answer well formed, with bad points, aborted the ingest"
        assert_store_valid(store, before)
        return
    assert_store_valid(store, before)
    operations.overload_report(store, "1d")
    got = store_samples(store, suffix)
    names_touched = any("node_uname_info" in query for query in server.touched)
    got_by, clean_by = by_resource(got, not names_touched), by_resource(clean_samples(), not names_touched)
    for resource, query in operations_queries().items():
        if not server.touched & query:
            assert got_by.get(resource) == clean_by.get(resource), resource
    data.draw(st.just(brief(str(sorted(server.touched)))), label="touched")


def operations_queries() -> dict[str, set[str]]:
    """The queries each resource is read from, as the fake server sees them."""
    window = f"{STEP_S}s"
    return {
        resource: {query.used.replace("$window", window)}
        | ({query.capacity.replace("$window", window)} if isinstance(query.capacity, str) else set())
        for resource, query in NODE_EXPORTER_QUERIES.items()
    }


EDGE_STARTS = (
    *garbage.EDGE_DATETIME64,
    np.datetime64(-1, "ns"),
    np.datetime64(0, "ns"),
    np.datetime64(7258118400 * 10**9 - 1, "ns"),
    np.datetime64(7258118400 * 10**9, "ns"),
    np.datetime64(int(7258118400 - 2 * 30 * 86400), "s"),
)


@given(start=st.sampled_from(EDGE_STARTS), end=st.sampled_from(EDGE_STARTS))
def test_ranges_at_the_domain_edges_store_only_times_inside(store, start, end):
    """A coarse step keeps each range to a few thousand points."""
    before = last_batch(store)
    server = FakePrometheus(node_values())
    try:
        summary = operations.ingest_prometheus(
            store,
            URL,
            start,
            end,
            30 * 86400,
            transport=httpx.MockTransport(server),
            rate_window_s=STEP_S,
            retries=0,
            back_window_s=None,
        )
    except StackmeterError:
        assert_store_valid(store, before)
        return
    assert_store_valid(store, before)
    operations.overload_report(store, "1d")
    start_s, end_s = (float(t.astype("datetime64[s]").astype(np.int64)) for t in (start, end))
    if summary.first_ts is not None:
        first, last = (
            float(t.astype("datetime64[ms]").astype(np.int64)) / 1e3
            for t in (summary.first_ts, summary.last_ts)
        )
        assert start_s - 1 <= first and last <= end_s + 1 and not math.isnan(first)
