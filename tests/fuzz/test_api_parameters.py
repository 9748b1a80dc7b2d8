"""Every API parameter, given garbage: never a 5xx, and every error is one JSON body naming the parameter."""

from __future__ import annotations

import functools
from urllib.parse import quote

import numpy as np
import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.settings import Settings
from stackmeter.store import open_store
from stackmeter.units import parse_utc_time
from tests.fuzz import garbage
from tests.fuzz.test_cli_options import BITBRAINS
from tests.fuzz.test_notifications import valid_messages

ERROR_KEYS = {"error", "detail", "where"}
TIME_PARAMETERS = {"from", "to", "end"}
# Parameters read as numbers or choices; values that mean something to each.
MEANINGFUL = {
    "threshold": ("cpu=0.9", "cpu=1e308", "memory=nan", "cpu=0.9,disk=-1", "gpu=0.5", "cpu", "0.9", "1e308"),
    "share": ("0.05", "1", "0", "nan", "inf", "1e308", "-0.0", "1e-320"),
    "q": ("0", "1", "0.95", "nan", "1.0000001", "-0.0"),
    "timescale": ("5m", "1h", "1d", "1w", "1mo", "5m,1h", "2h", ""),
    "resource": ("cpu", "memory", "disk", "network", "cpu,memory", "gpu", ""),
    "format": ("json", "csv", "CSV", "xml", ""),
    "from_raw": ("true", "false", "1", "0", "yes", "maybe"),
    "by": ("host", "flavor", "project", "instance"),
    "operation": ("create", "delete", "resize_prep", "bogus"),
    "entity": ("41", "196", "nope", "", "../41", "%00"),
}


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("api") / "api.duckdb")
    capture = tmp_path_factory.mktemp("capture") / "capture.jsonl"
    capture.write_bytes(b"\n".join(orjson.dumps(message) for message in valid_messages(0)) + b"\n")
    with open_store(path) as store:
        operations.ingest(store, "bitbrains", [BITBRAINS])
        operations.ingest_notifications(store, capture)
    with TestClient(create_app(Settings(store=path), tokens=())) as test_client:
        yield test_client


@functools.cache
def routes() -> dict[str, tuple[str, ...]]:
    """Each route of the API and the names of its parameters, from its OpenAPI description."""
    app = create_app(Settings(store=":memory:"), tokens=())
    return {
        path: tuple(parameter["name"] for parameter in operation.get("parameters", ()))
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method == "get"
    }


def values_for(name: str) -> st.SearchStrategy[str]:
    kind = garbage.times() if name in TIME_PARAMETERS else garbage.numbers()
    return st.one_of(
        st.sampled_from(MEANINGFUL.get(name, ("1",))),
        kind,
        garbage.values(),
        st.sampled_from(garbage.ODD_TEXT),
        st.text(max_size=300).map(lambda text: text * 20),
    )


# Query parameters a route needs unless another one is given: a replay needs a policy unless
# measured=true, so a request with neither is refused naming the policy.
NEEDED_UNLESS = {"/api/v1/replay": {"policy"}}


@functools.cache
def required_queries() -> dict[str, set[str]]:
    """Each route's required query parameters (a request without one is refused naming it)."""
    app = create_app(Settings(store=":memory:"), tokens=())
    return {
        path: {p["name"] for p in operation.get("parameters", ()) if p.get("required") and p["in"] == "query"}
        | NEEDED_UNLESS.get(path, set())
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
        if method == "get"
    }


@st.composite
def requests(draw) -> tuple[str, list[tuple[str, str]], str]:
    """A route, garbage for some of its parameters, and the raw query string sent."""
    path = draw(st.sampled_from(sorted(routes())))
    names = [name for name in routes()[path] if "{" + name + "}" not in path]
    chosen = draw(st.lists(st.sampled_from(names + ["bogus"]), max_size=3)) if names else ["bogus"]
    query = [(name, draw(values_for(name))) for name in chosen]
    url = path
    for name in routes()[path]:
        if "{" + name + "}" in path:
            url = url.replace("{" + name + "}", quote(draw(values_for("entity")), safe=""))
    raw = "&".join(f"{quote(name)}={quote(value, safe='')}" for name, value in query)
    if draw(st.integers(0, 9)) == 0:  # percent escapes that are not UTF-8, or broken
        name = draw(st.sampled_from(names or ["bogus"]))
        escape = draw(st.sampled_from(("%ff", "%", "%zz", "%c3", "%00")))
        query.append((name, escape))
        raw += f"&{name}={escape}"
    return url, query, raw


@given(request=requests())
def test_every_parameter_gives_a_4xx_with_one_error_body_or_an_answer(client, request):
    url, query, raw = request
    response = client.get(f"{url}?{raw}" if raw else url)
    event(f"{response.status_code} {url.split('/')[3]}")
    assert response.status_code < 500, (response.status_code, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == ERROR_KEYS, body
        if response.status_code == 422 and query:
            required = set().union(
                *(names for path, names in required_queries().items() if url.startswith(path))
            )
            assert body["where"] in {name for name, _ in query} | {"entity"} | required, body
    elif response.headers["content-type"].startswith("application/json"):
        answer = response.json()
        given_once = {name: value for name, value in query if [n for n, _ in query].count(name) == 1}
        if url.startswith("/api/v1/series/"):  # the samples are those asked for
            first, last = (parse_utc_time(given_once.get(name), name) for name in ("from", "to"))
            for row in answer["samples"]:
                ts = np.datetime64(row["ts"].removesuffix("Z"), "ns")
                assert (first is None or first <= ts) and (last is None or ts < last), (row, first, last)
