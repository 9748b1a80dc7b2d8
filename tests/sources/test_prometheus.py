"""Prometheus HTTP API client against an in-process fake server (httpx.MockTransport)."""

from __future__ import annotations

import math

import httpx
import numpy as np
import pytest

from stackmeter import models
from stackmeter.errors import ConfigError, ParseError, SourceError, SourceUnavailable
from stackmeter.sources.prometheus import (
    MAX_POINTS_PER_SERIES,
    NO_SERIES,
    NODE_EXPORTER_QUERIES,
    SERVER_WARNING,
    UNAVAILABLE,
    ResourceQuery,
    fetch_query_range,
    fetch_utilization,
    load_queries,
    plan_chunks,
)

URL = "http://prometheus.example:9090"
START_S = 1_772_445_600  # 2026-03-02T10:00:00Z, a multiple of 300
STEP_S = 300


def no_sleep(_seconds: float) -> None:
    pass


def matrix(series: list[tuple[dict, list[tuple[float, float | str]]]], warnings=()) -> dict:
    body = {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": labels, "values": [[t, str(v)] for t, v in points]} for labels, points in series
            ],
        },
    }
    if warnings:
        body["warnings"] = list(warnings)
    return body


def answer(result: list) -> dict:
    """A successful matrix answer whose ``result`` is given as it is."""
    return {"status": "success", "data": {"resultType": "matrix", "result": result}}


class FakePrometheus:
    """Answers query_range like Prometheus: one point per step, refusing more than 11,000 per series.

    ``values[query]`` maps each label set to a function of the evaluation time in seconds.
    """

    def __init__(self, values: dict[str, list[tuple[dict, object]]]):
        self.values = values
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        assert request.url.path == "/api/v1/query_range"
        start, end, step = float(params["start"]), float(params["end"]), float(params["step"])
        points = int((end - start) // step) + 1
        if points > MAX_POINTS_PER_SERIES:
            body = {
                "status": "error",
                "errorType": "bad_data",
                "error": "exceeded maximum resolution of 11,000 points per timeseries",
            }
            return httpx.Response(400, json=body)
        times = [start + i * step for i in range(points)]
        series = [(labels, [(t, value(t)) for t in times]) for labels, value in self.values[params["query"]]]
        return httpx.Response(200, json=matrix(series))


def node_values() -> dict[str, list[tuple[dict, object]]]:
    q = NODE_EXPORTER_QUERIES
    a, b = {"instance": "10.0.0.1:9100", "job": "node"}, {"instance": "10.0.0.2:9100", "job": "node"}
    window = f"{STEP_S}s"
    return {
        "max by (instance, nodename) (node_uname_info)": [({**a, "nodename": "compute-1"}, lambda t: 1)],
        q["cpu"].used.replace("$window", window): [(a, lambda t: 6.0), (b, lambda t: 1.5)],
        q["cpu"].capacity: [(a, lambda t: 8), (b, lambda t: 4)],
        q["memory"].used: [(a, lambda t: 3e9), (b, lambda t: 1e9)],
        q["memory"].capacity: [
            ({**a, "__name__": "node_memory_MemTotal_bytes"}, lambda t: 4e9),
            ({**b, "__name__": "node_memory_MemTotal_bytes"}, lambda t: 2e9),
        ],
        q["disk"].used.replace("$window", window): [(a, lambda t: 0.25), (b, lambda t: 0.9)],
        q["network"].used.replace("$window", window): [
            ({**a, "device": "eth0"}, lambda t: 1e6),
            ({**a, "device": "eth1"}, lambda t: 3e6),
            ({**b, "device": "eth0"}, lambda t: 5e5),
        ],
        q["network"].capacity: [
            ({**a, "device": "eth0"}, lambda t: 1.25e8),
            ({**a, "device": "eth1"}, lambda t: 1.25e9),
        ],
    }


def client_for(handler) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize(
    "start_s, end_s, step_s, expected",
    [
        (0, 600, 300, [(0, 600)]),
        (10, 590, 300, [(300, 300)]),  # aligned inwards to multiples of the step
        (0, 3 * 10 * 60, 60, [(0, 540), (600, 1140), (1200, 1740), (1800, 1800)]),  # with max_points=10
    ],
)
def test_plan_chunks(start_s, end_s, step_s, expected):
    assert plan_chunks(start_s, end_s, step_s, max_points=10) == expected


def test_a_month_at_one_minute_stays_under_the_point_limit():
    chunks = plan_chunks(0, 30 * 86_400, 60)
    points = [int((end - start) // 60) + 1 for start, end in chunks]
    assert max(points) <= MAX_POINTS_PER_SERIES
    assert sum(points) == 30 * 86_400 // 60 + 1  # every step once, no overlap
    assert all(later[0] == earlier[1] + 60 for earlier, later in zip(chunks, chunks[1:], strict=False))


def test_bad_ranges_are_config_errors():
    with pytest.raises(ConfigError, match="step"):
        plan_chunks(0, 10, 0)
    with pytest.raises(ConfigError, match="before start"):
        plan_chunks(10, 0, 1)


def test_utilization_follows_the_mapping():
    server = FakePrometheus(node_values())
    end_s = START_S + 3 * STEP_S
    parsed = fetch_utilization(client_for(server), URL, START_S, end_s, STEP_S)
    s = parsed.samples
    got = {(e, r): (u, c) for e, r, u, c in zip(s.entity, s.resource, s.used, s.capacity, strict=True)}
    assert got[("compute-1", "cpu")] == (6.0, 8.0)  # named by node_uname_info
    assert got[("10.0.0.2:9100", "cpu")] == (1.5, 4.0)  # no nodename: the instance
    assert got[("compute-1", "memory")] == (3e9, 4e9)
    assert got[("10.0.0.2:9100", "disk")] == (0.9, 1.0)
    assert got[("compute-1", "network")] == (3e6, 1.25e9)  # eth1 is busiest, with its own speed
    net_b = got[("10.0.0.2:9100", "network")]
    assert net_b[0] == 5e5 and math.isnan(net_b[1])  # speed unknown: kept, capacity NaN
    assert s.size == 2 * 4 * 4  # 2 hosts x 4 resources x 4 steps
    assert sorted(set(s.ts.astype("datetime64[s]").astype(int))) == [START_S + i * STEP_S for i in range(4)]
    assert parsed.rejections == ()
    assert {e.entity for e in parsed.entities} == {"compute-1", "10.0.0.2:9100"}
    request = server.requests[1]
    assert request.method == "GET"
    assert dict(request.url.params) | {"query": ""} == {
        "query": "",
        "start": str(START_S),
        "end": str(end_s),
        "step": "300",
    }


def test_long_ranges_are_chunked_under_the_limit():
    values = {"up_used": [({"instance": "h:9100"}, lambda t: 0.5)]}
    server = FakePrometheus(values)
    end_s = START_S + 25_000 * 60
    queries = {"cpu": ResourceQuery("up_used", 1.0)}
    parsed = fetch_utilization(client_for(server), URL, START_S, end_s, 60, queries, names_query=None)
    assert len(server.requests) == 3
    assert parsed.samples.size == 25_001
    assert np.all(np.diff(parsed.samples.ts.astype(np.int64)) == 60 * 10**9)


def respond(*responses):
    """A handler that gives the responses (or raises the exceptions) in turn."""
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler


ONE_POINT = matrix([({"instance": "h:9100"}, [(START_S, 0.5)])])


def test_server_errors_are_retried():
    handler = respond(httpx.Response(503, text="overloaded"), httpx.Response(200, json=ONE_POINT))
    result = fetch_query_range(client_for(handler), URL, "q", START_S, START_S, 60, sleep=no_sleep)
    assert result.series[0].values.tolist() == [0.5]


@pytest.mark.parametrize(
    "failure, message",
    [
        (httpx.Response(500, text="internal error"), "HTTP 500: internal error"),
        (httpx.ConnectError("Connection refused"), "cannot connect (Connection refused)"),
        (httpx.ReadTimeout("timed out"), "timed out (ReadTimeout)"),
        (
            httpx.Response(503, json={"status": "error", "errorType": "unavailable", "error": "no store"}),
            "no store",
        ),
    ],
)
def test_unavailable_after_retries_names_the_server(failure, message):
    sleeps: list[float] = []
    with pytest.raises(SourceUnavailable) as caught:
        fetch_query_range(client_for(respond(failure)), URL, "q", START_S, START_S, 60, sleep=sleeps.append)
    assert str(caught.value).startswith(f"{URL}/api/v1/query_range: ")
    assert message in str(caught.value)
    assert sleeps == [0.5, 1.0]


def test_error_json_is_reported_with_its_type_and_query():
    body = {"status": "error", "errorType": "bad_data", "error": 'parse error: unexpected "}"'}
    with pytest.raises(SourceError) as caught:
        fetch_query_range(client_for(respond(httpx.Response(400, json=body))), URL, "up}", 0, 60, 60)
    assert not isinstance(caught.value, SourceUnavailable)
    assert str(caught.value) == (
        f'{URL}/api/v1/query_range: HTTP 400, bad_data: parse error: unexpected "}}" (query: up}})'
    )


@pytest.mark.parametrize(
    "response, message",
    [
        (httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"}), "text/html"),
        (
            httpx.Response(200, json={"status": "success", "data": {"resultType": "vector", "result": []}}),
            "matrix",
        ),
        (httpx.Response(200, json=answer([{"metric": {}, "values": [[0]]}])), "malformed series"),
        (httpx.Response(200, json=answer([{"metric": {}, "values": [[[0, "1"]]]}])), "malformed series"),
        (httpx.Response(200, json=answer([{"metric": {}, "values": {"0": "1"}}])), "malformed series"),
        (httpx.Response(200, json=answer([{"values": []}])), "malformed series"),
    ],
)
def test_answers_that_are_not_the_api_are_parse_errors(response, message):
    with pytest.raises(ParseError, match=message) as caught:
        fetch_query_range(client_for(respond(response)), URL, "q", 0, 60, 60)
    assert caught.value.path == f"{URL}/api/v1/query_range"


def test_warnings_and_invalid_points_are_reported_and_good_data_kept():
    body = matrix(
        [({"instance": "h:9100"}, [(START_S, 0.5), (START_S + 60, "NaN"), (START_S + 120, "+Inf")])],
        warnings=["store 10.1.1.1:10901 unavailable, partial response"],
    )
    queries = {"disk": ResourceQuery("q", 1.0)}
    parsed = fetch_utilization(
        client_for(respond(httpx.Response(200, json=body))),
        URL,
        START_S,
        START_S + 120,
        60,
        queries,
        names_query=None,
    )
    assert parsed.samples.used.tolist() == [0.5]
    reasons = [(r.reason, r.field) for r in parsed.rejections]
    assert (SERVER_WARNING, "disk") in reasons
    assert reasons.count((models.NOT_FINITE, "disk")) == 2


def test_a_chunk_that_stays_down_is_a_gap_and_the_rest_lands():
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        start = float(request.url.params["start"])
        if start > START_S:  # the second chunk is down
            return httpx.Response(502, text="bad gateway")
        return httpx.Response(200, json=ONE_POINT)

    queries = {"cpu": ResourceQuery("q", 1.0)}
    parsed = fetch_utilization(
        client_for(handler),
        URL,
        START_S,
        START_S + 19 * 60,
        60,
        queries,
        names_query=None,
        max_points=10,
        sleep=no_sleep,
    )
    assert parsed.samples.size == 1
    [rejection] = parsed.rejections
    assert rejection.reason == UNAVAILABLE and "HTTP 502" in rejection.detail


def test_nothing_reachable_raises():
    queries = {"cpu": ResourceQuery("q", 1.0)}
    handler = respond(httpx.ConnectError("Connection refused"))
    with pytest.raises(SourceUnavailable, match="cannot connect"):
        fetch_utilization(client_for(handler), URL, START_S, START_S + 60, 60, queries, sleep=no_sleep)


def test_unknown_resource_is_a_config_error():
    with pytest.raises(ConfigError, match="valid: cpu, memory, disk, network"):
        fetch_utilization(
            client_for(respond(httpx.Response(200))), URL, 0, 60, 60, {"gpu": ResourceQuery("q", 1)}
        )


def test_queries_file_overrides_some_resources(tmp_path):
    path = tmp_path / "queries.toml"
    path.write_text(
        "[queries.network]\n"
        "used = 'max by (instance) (rate(node_network_receive_bytes_total{device=\"bond0\"}[$window]))'\n"
        "capacity = 2.5e9\n"
        "[queries.disk]\n"
        "capacity = 'vector(1)'\n"
        "[queries]\n"
        "memory = false\n"
    )
    queries = load_queries(path)
    assert set(queries) == {"cpu", "disk", "network"}
    assert queries["cpu"] == NODE_EXPORTER_QUERIES["cpu"]
    assert queries["network"].capacity == 2.5e9 and 'device="bond0"' in queries["network"].used
    assert queries["disk"] == ResourceQuery(NODE_EXPORTER_QUERIES["disk"].used, "vector(1)")


@pytest.mark.parametrize(
    "text, message",
    [
        ("[queries.gpu]\nused = 'x'\n", "unknown resource 'gpu'"),
        ("[queries.cpu]\nused = 3\n", r"needs used = 'PromQL'"),
        ("[queries.cpu\n", "cannot read queries file"),
    ],
)
def test_bad_queries_files_are_config_errors(tmp_path, text, message):
    path = tmp_path / "queries.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_queries(path)


def test_an_empty_rate_query_says_why_it_may_be_empty():
    empty = httpx.Response(200, json=matrix([]))
    queries = {"cpu": ResourceQuery("sum(rate(x[$window]))", 1.0), "memory": ResourceQuery("y", 1.0)}
    parsed = fetch_utilization(client_for(respond(empty)), URL, 0, 600, 60, queries, names_query=None)
    [rejection] = parsed.rejections
    assert (rejection.field, rejection.reason) == ("cpu", NO_SERIES)
    assert "rate() over 60s needs two scrapes" in rejection.detail


def test_unusable_points_are_refused_one_by_one_and_the_rest_lands():
    points = [
        [START_S, "0.5"],
        ["soon", "0.5"],  # a time that is not a number
        [None, "0.5"],
        [1e300, "0.5"],  # times outside the domain, which nanoseconds would wrap around
        [10**400, "0.5"],
        [99_999_999_999, "0.5"],
        [-5, "0.5"],
        ["1e999", "0.5"],
        [START_S + 60, "busy"],  # values that are not numbers
        [START_S + 120, None],
        [START_S + 180, "0.25"],
    ]
    body = answer([{"metric": {"instance": "h:9100"}, "values": points}])
    queries = {"disk": ResourceQuery("q", 1.0)}
    client = client_for(respond(httpx.Response(200, json=body)))
    parsed = fetch_utilization(client, URL, START_S, START_S + 180, 60, queries, names_query=None)
    assert parsed.samples.used.tolist() == [0.5, 0.25]
    expected_ts = np.array([START_S, START_S + 180], dtype="datetime64[s]").astype("datetime64[ns]")
    np.testing.assert_array_equal(parsed.samples.ts, expected_ts)
    found = [(r.path, r.field, r.reason, r.detail.split(": ")[0]) for r in parsed.rejections]
    where = '{instance="h:9100"} point'
    assert found == [
        (URL, "disk", models.BAD_TIMESTAMP, f"{where} 2"),
        (URL, "disk", models.BAD_TIMESTAMP, f"{where} 3"),
        *[(URL, "disk", models.OUT_OF_TIME_DOMAIN, f"{where} {n}") for n in (4, 5, 6, 7, 8)],
        (URL, "disk", models.NOT_A_NUMBER, f"{where} 9"),
        (URL, "disk", models.NOT_A_NUMBER, f"{where} 10"),
    ]


def test_points_of_a_well_formed_answer_are_read_in_one_go():
    body = matrix([({"instance": "h:9100"}, [(START_S, 0.5), (START_S + 60, "NaN"), (7_258_118_400, 1)])])
    result = fetch_query_range(client_for(respond(httpx.Response(200, json=body))), URL, "q", 0, 60, 60)
    [series] = result.series
    assert series.ts_ns.tolist() == [START_S * 10**9, (START_S + 60) * 10**9]
    assert np.isnan(series.values[1])  # NaN is a number here: refused later, as a sample
    [rejection] = result.rejections
    assert rejection.reason == models.OUT_OF_TIME_DOMAIN and rejection.path == f"{URL}/api/v1/query_range"


@pytest.mark.parametrize(
    "resource, used, capacity, detail",
    [
        ("cpu", 2e9, 4.0, "used 2e+09 above 1e+09"),
        ("cpu", 4.0 * models.MAX_UTILIZATION * 2, 4.0, f"utilization 20000 above {models.MAX_UTILIZATION:g}"),
        ("network", 2e15, math.nan, "used 2e+15 above 1e+15"),
        ("memory", 1e9, 2.0**61, "capacity 2.30584e+18 above 1.15292e+18"),
    ],
)
def test_implausible_samples_are_refused(resource, used, capacity, detail):
    # a plausible sample (1 of 4) at the start, then the implausible one
    values = {
        "used": [({"instance": "h:9100"}, lambda t: used if t > START_S else 1.0)],
        "capacity": [({"instance": "h:9100"}, lambda t: capacity if t > START_S else 4.0)],
    }
    queries = {resource: ResourceQuery("used", "capacity")}
    parsed = fetch_utilization(
        client_for(FakePrometheus(values)), URL, START_S, START_S + 60, 60, queries, names_query=None
    )
    assert parsed.samples.used.tolist() == [1.0]
    [rejection] = parsed.rejections
    assert (rejection.field, rejection.reason) == (resource, models.IMPLAUSIBLE)
    assert rejection.detail.endswith(detail)
