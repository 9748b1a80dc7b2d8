"""Dashboard pages under bad input: an HTML error page with a 4xx naming the parameter, never a 500."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import MAX_DURATION_S, MAX_THRESHOLD, Entity, Parsed, make_samples
from stackmeter.operations import HEAT_MAP_MAX_PAGE
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.conftest import ADMIN, READ, TOKENS

HEADERS = {"Authorization": f"Bearer {ADMIN}"}
# An empty field means "the default" on a page (a form sends every field), so it is not in here.
NOT_NUMBERS = ["nan", "NaN", "inf", "-inf", "1e308", "1e999", "-1", "99999999999999999999999", " ", "lots",
               "0x10", "%ff", "%00", "1" * 5000]  # fmt: skip
THRESHOLDS = {f"threshold_{name}": [*NOT_NUMBERS, "0", str(MAX_THRESHOLD * 1.01)] for name in
              ("cpu", "memory", "disk", "network")}  # fmt: skip
CONTROLS = {
    "threshold": ["cpu", "cpu=", "cpu=nan", "cpu=1e308", "cpu=1e999", "cpu=-1", "gpu=0.5", "cpu=lots"],
    "timescale": ["2m", "1h,1d", "%00"],
    "resource": ["gpu", "cpu,memory", "%00"],
    "share": [*NOT_NUMBERS, "0", "1.0000001"],
    **THRESHOLDS,
}
BAD_PARAMETERS = {
    "/": CONTROLS,
    "/heatmap": {
        **CONTROLS,
        "page": [*NOT_NUMBERS, "0", "1.5", str(HEAT_MAP_MAX_PAGE + 1)],
        "rows": [*NOT_NUMBERS, "0", "1.5", str(operations.HEAT_MAP_MAX_ROWS + 1)],
        "end": ["yesterday", "nan", "1e308", "-1", "9999-01-01", "2013-13-01", "%00"],
    },
    "/entity/196": CONTROLS,
    "/replay": {
        "policy": ["bogus-mmt-1", "npa-mmt", "dvfs-mem", "lr-mmt-1.2-mem-mem", "%00"],
        "semantics": ["mine", "%00"],
        "fleet": ["mine", "../fleets/planetlab-800", "%00"],
        "from": ["yesterday", "nan", "9999-01-01", "%00"],
        "to": ["yesterday", "2013-13-01", "%00"],
    },
    "/operations": {
        "timescale": ["2m", "1h,1d", "%00"],
        "operation": ["explode", "%00"],
        "by": ["colour", "%00"],
        "timeout": [*NOT_NUMBERS, "0", "-0", str(MAX_DURATION_S * 1.01)],
    },
}
CASES = [
    pytest.param(page, name, value, id=f"{page}?{name}={value[:30]}")
    for page, parameters in BAD_PARAMETERS.items()
    for name, values in parameters.items()
    for value in values
]


@pytest.fixture(scope="module")
def client(fleet_path):
    with TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as test_client:
        yield test_client


def error_of(response) -> tuple[str | None, str]:
    """Return the parameter an error page names (``data-where``) and its message."""
    assert response.headers["content-type"].startswith("text/html")
    found = re.search(r'<p class="error" id="error"(?: data-where="([^"]*)")?>(.*?)</p>', response.text, re.S)
    assert found, response.text
    return found.group(1), found.group(2)


@pytest.mark.parametrize("page, name, value", CASES)
def test_a_bad_parameter_is_a_422_page_naming_it(client, page, name, value):
    response = client.get(f"{page}?{name}={value}", headers=HEADERS)
    assert response.status_code == 422, response.text
    where, message = error_of(response)
    assert where == name
    assert message


@pytest.mark.parametrize(
    "page", ["/?share=&threshold_cpu=", "/heatmap?page=&rows=&end=", "/operations?timeout="]
)
def test_empty_fields_take_the_defaults(client, page):
    assert client.get(page, headers=HEADERS).status_code == 200


def test_the_replay_page_shows_memory_overload_when_memory_is_replayed(client):
    # The Bitbrains VMs have memory samples: the page's column carries the API's numbers.
    query = "?policy=dvfs&policy=thr-mmt-0.8&semantics=stackmeter&from=2013-08-01&to=2013-08-08"
    page = client.get("/replay" + query, headers=HEADERS).text
    expected = client.get("/api/v1/replay" + query, headers=HEADERS).json()
    # They use more memory than the paper's 4 GB hosts hold: a memory-aware policy says so.
    refused = client.get("/api/v1/replay?policy=thr-mmt-0.8-mem&to=2013-07-02", headers=HEADERS)
    assert refused.status_code == 422 and "MB of memory in use) fits on none" in refused.text
    assert expected["memory_vms"] == 4 and "memory in use of 4 VMs replayed" in page
    assert 'id="chart-memory"' in page and ">memory overload</th>" in page
    for row in expected["policies"]:
        assert f'data-field="memory_overload" data-value="{row["memory_overload"]}"' in page


def test_thresholds_as_the_api_takes_them_set_the_page(client):
    page = client.get("/heatmap?timescale=1d&threshold=cpu=0.5,memory=0.7", headers=HEADERS).text
    assert 'name="threshold_cpu" id="threshold_cpu" value="0.5"' in page
    assert 'name="threshold_memory" id="threshold_memory" value="0.7"' in page


def test_an_unknown_entity_or_page_is_a_404_page(client):
    for url in ("/entity/no-such-vm", "/entity/%00", "/nope", "/static/nope.js"):
        response = client.get(url, headers=HEADERS)
        assert response.status_code == 404
        assert error_of(response)[0] is None


def test_a_login_form_that_is_not_utf8_is_refused_not_a_failure(client):
    response = client.post(
        "/login",
        content=b"token=\xff\xfe&next=/",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 401
    assert "unknown token" in response.text


def test_two_apps_in_one_process_each_serve_their_own_tokens(fleet_path):
    # The pages are module-level routes: all they know of an app comes from its app.state.
    login = {
        "content": f"token={ADMIN}&next=/".encode(),
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
    }
    others = (Token.of(READ, "read"),)
    with (
        TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as ours,
        TestClient(create_app(Settings(store=fleet_path), tokens=others)) as theirs,
    ):
        assert ours.post("/login", follow_redirects=False, **login).status_code == 303
        assert theirs.post("/login", follow_redirects=False, **login).status_code == 401
        assert ours.get("/heatmap", headers=HEADERS).status_code == 200
        assert theirs.get("/heatmap", headers=HEADERS).status_code == 401


def test_a_chart_timescale_no_longer_shown_falls_back_to_the_default(client):
    """The form keeps `chart` when the timescale changes: the page shows the new one's chart."""
    page = client.get("/?chart=1w&timescale=1h", headers=HEADERS)
    assert page.status_code == 200
    assert '<h2 id="fleet-title">Overloaded per 1h window</h2>' in page.text
    assert client.get("/?chart=2m", headers=HEADERS).status_code == 200


def test_an_entity_name_cannot_close_the_pages_script_data(tmp_path):
    """Entity names are data: in the JSON a page carries for its charts, `<`, `>` and `&` are
    escaped, so a name holding `</script>` neither ends the script nor runs."""
    name = 'x</script><img src=x onerror="alert(1)">&'
    path = str(tmp_path / "hostile.duckdb")
    ts = np.datetime64("2013-08-01T00:00", "ns") + np.arange(24) * np.timedelta64(300, "s")
    with open_store(path) as store:
        samples = make_samples(ts, name, "cpu", np.full(24, 0.9), 1.0)
        store.write_parsed([Parsed("hostile", samples, (Entity(name, "vm", None),))], source="test")
    with TestClient(create_app(Settings(store=path), tokens=TOKENS)) as hostile:
        for url in ("/heatmap?timescale=1h&resource=cpu", "/?timescale=1h"):
            text = hostile.get(url, headers=HEADERS).text
            assert "<img src=x" not in text, url
        text = hostile.get("/heatmap?timescale=1h&resource=cpu", headers=HEADERS).text
        data = re.search(r'<script type="application/json" id="heatmap-data">(.*?)</script>', text, re.S)
        assert [row["entity"] for row in json.loads(data.group(1))["rows"]] == [name]
