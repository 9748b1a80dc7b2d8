"""Paging of every list route: each page is a slice of the whole answer (the CLI's, unpaged), with
its total in ``X-Total-Count`` and GitHub-style ``Link`` headers; bounds refused with the error body."""

from __future__ import annotations

import csv
import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.api.paging import DEFAULT_PAGE_SIZE, MAX_PAGE, MAX_PAGE_SIZE, Page
from stackmeter.cli import app as cli_app
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.bus_store import write_bus_store
from tests.conftest import ADMIN, ALPHA, TOKENS, cli_json, run_cli

LINK = re.compile(r'<([^>]+)>; rel="(\w+)"')


@pytest.mark.parametrize(
    "number, size, items, expected, last",
    [
        (1, 3, range(10), [0, 1, 2], 4),
        (4, 3, range(10), [9], 4),
        (5, 3, range(10), [], 4),
        (1, 10, range(10), list(range(10)), 1),
        (1, 5, range(0), [], 1),
        (2, 1, range(2), [1], 2),
    ],
)
def test_a_page_is_a_slice_of_the_list(number, size, items, expected, last):
    page = Page(number, size)
    assert list(page.of(list(items))) == expected
    assert page.last(len(items)) == last


@pytest.fixture(scope="module")
def bus_path(tmp_path_factory) -> str:
    """A store of bus notifications, with dead letters: 300 operations and 40 malformed messages."""
    return write_bus_store(tmp_path_factory.mktemp("paging-bus"), 300, seed=11, malformed=40)


@pytest.fixture(scope="module")
def client(fleet_path):
    with TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def bus_client(bus_path):
    with TestClient(create_app(Settings(store=bus_path), tokens=TOKENS)) as test_client:
        yield test_client


def get(client, url: str, token: str = ADMIN, **headers: str):
    response = client.get(url, headers={"Authorization": f"Bearer {token}", **headers})
    assert response.status_code == 200, response.text
    return response


def links(response) -> dict[str, int]:
    """The pages the ``Link`` header points to, by rel; each link is the request's URL but for ``page``."""
    found = {}
    asked = parse_qs(urlsplit(str(response.url)).query)
    asked.pop("page", None)
    for url, rel in LINK.findall(response.headers["link"]):
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path == urlsplit(str(response.url)).path
        found[rel] = int(query.pop("page")[0])
        assert query == asked, (url, rel)
    return found


def assert_pages_slice(client, url: str, whole, key: str | None, page_size: int) -> None:
    """Every page of ``url`` (and one past the end) is ``whole``'s slice of the list under ``key``
    (the body itself when ``None``), the rest of the body as in ``whole``; following ``next``
    from page 1 gives the whole list back."""
    everything = whole if key is None else whole[key]
    last = max(1, -(-len(everything) // page_size))
    assert last >= 3, "the test wants several pages"
    for number in range(1, last + 2):
        response = get(client, f"{url}&page={number}&page_size={page_size}")
        body = response.json()
        shown = body if key is None else body.pop(key)
        assert shown == everything[(number - 1) * page_size : number * page_size], number
        if key is not None:
            assert body == {name: value for name, value in whole.items() if name != key}
        assert int(response.headers["x-total-count"]) == len(everything)
        expected = {"first": 1, "last": last}
        if number > 1:
            expected["prev"] = min(number - 1, last)
        if number < last:
            expected["next"] = number + 1
        assert links(response) == expected, number
    followed, next_url = [], f"{url}&page_size={page_size}"
    while next_url:
        response = get(client, next_url)
        followed += response.json() if key is None else response.json()[key]
        next_url = next((link for link, rel in LINK.findall(response.headers["link"]) if rel == "next"), None)
    assert followed == everything


def test_quantile_pages_are_slices_of_the_cli_answer(client, fleet_path):
    whole = cli_json("quantile", "--all", "--timescale", "1d", "--store", fleet_path)
    assert len(whole["windows"]) > 250
    assert_pages_slice(client, "/api/v1/quantile?timescale=1d", whole, "windows", 100)


def test_fleet_pages_are_slices_of_the_cli_answer(client, fleet_path):
    whole = cli_json("fleet", "--timescale", "1d", "--store", fleet_path)
    assert len(whole["windows"]) > 250
    assert_pages_slice(client, "/api/v1/fleet?timescale=1d", whole, "windows", 100)


def test_entity_overload_pages_cut_every_resource_to_the_pages_windows(client, fleet_path):
    """A page of one entity's windows: the whole answer's windows whose start is among the page's
    starts, every resource alike; the pages together give the whole answer back."""
    whole = get(client, "/api/v1/entities/196/overload?timescale=1h&page_size=10000").json()
    starts = sorted({w for item in whole["resources"] + whole["unjudged"] for w in item["window"]})
    assert len(starts) > 1500
    size, joined = 700, {item["resource"]: {key: [] for key in item} for item in whole["resources"]}
    for number in range(1, -(-len(starts) // size) + 1):
        response = get(client, f"/api/v1/entities/196/overload?timescale=1h&page={number}&page_size={size}")
        assert int(response.headers["x-total-count"]) == len(starts)
        body = response.json()
        mine = set(starts[(number - 1) * size : number * size])
        for item, expected in zip(body["resources"], whole["resources"], strict=True):
            assert set(item["window"]) <= mine
            assert (item["windows"], item["windows_overloaded"]) == (
                expected["windows"],
                expected["windows_overloaded"],
            )
            for key in ("window", "mean_utilization", "max_utilization", "overloaded"):
                joined[item["resource"]][key] += item[key]
    for expected in whole["resources"]:
        for key in ("window", "mean_utilization", "max_utilization", "overloaded"):
            assert joined[expected["resource"]][key] == expected[key]


def test_entities_pages_are_slices_of_the_cli_answer(client, fleet_path):
    whole = cli_json("entities", "--store", fleet_path)
    assert_pages_slice(client, "/api/v1/entities?format=json", whole, None, 1)


def test_series_pages_are_slices_of_the_cli_answer(client, fleet_path):
    whole = cli_json("series", "196", "--resource", "cpu", "--from", "2013-08-01", "--to", "2013-08-03",
                     "--store", fleet_path)  # fmt: skip
    url = "/api/v1/series/196?resource=cpu&from=2013-08-01&to=2013-08-03"
    assert_pages_slice(client, url, whole, "samples", 250)


def test_operations_pages_are_slices_of_the_cli_answer(bus_client, bus_path):
    whole = cli_json("operations", "--timescale", "1h", "--by", "host", "--store", bus_path)
    assert_pages_slice(bus_client, "/api/v1/operations?timescale=1h&by=host", whole, "stats", 20)


def test_dead_letters_pages_are_slices_of_the_cli_answer(bus_client, bus_path):
    whole = cli_json("deadletters", "--limit", "1000", "--store", bus_path)
    assert whole["dead_letters"] == len(whole["latest"]) == 40
    assert_pages_slice(bus_client, "/api/v1/deadletters?format=json", whole, "latest", 15)


def test_a_project_token_sees_no_dead_letters(bus_client):
    response = get(bus_client, "/api/v1/deadletters", ALPHA)
    assert response.json() == {"dead_letters": 0, "latest": []}
    assert response.headers["x-total-count"] == "0"
    assert links(response) == {"first": 1, "last": 1}


def test_heat_map_headers_count_every_entity(client):
    with open_store(client.app.state.settings.store) as store:
        everyone = operations.heat_map(store, "1d", "cpu", page_size=200).rows
    response = get(client, "/api/v1/heatmap?timescale=1d&page=2&page_size=1&columns=3")
    assert int(response.headers["x-total-count"]) == response.json()["entities"] == len(everyone) == 4
    assert links(response) == {"first": 1, "prev": 1, "next": 3, "last": 4}
    assert [row["entity"] for row in response.json()["rows"]] == [everyone[1].entity]


@pytest.mark.parametrize(
    "url, args",
    [
        ("/api/v1/quantile?timescale=1w&format=csv", ["quantile", "--all", "--timescale", "1w", "--csv"]),
        ("/api/v1/entities?format=csv", ["entities", "--csv"]),
    ],
)
def test_csv_pages_are_slices_of_the_cli_csv(client, fleet_path, url, args):
    header, *rows = list(csv.reader(io.StringIO(run_cli(*args, "--store", fleet_path))))
    for number in (1, 2, 3):
        response = get(client, f"{url}&page={number}&page_size=2")
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["x-total-count"] == str(len(rows))
        assert list(csv.reader(io.StringIO(response.text))) == [header, *rows[(number - 1) * 2 : number * 2]]


def test_without_paging_parameters_a_small_store_is_whole_on_page_1(client, fleet_path):
    response = get(client, "/api/v1/quantile?timescale=1d")
    assert response.json() == cli_json("quantile", "--all", "--timescale", "1d", "--store", fleet_path)
    assert len(response.json()["windows"]) < DEFAULT_PAGE_SIZE
    assert links(response) == {"first": 1, "last": 1}
    assert response.headers["x-total-count"] == str(len(response.json()["windows"]))


def test_a_project_token_counts_its_project_only(client):
    response = get(client, "/api/v1/entities?page_size=1", ALPHA)
    assert response.headers["x-total-count"] == "2"
    assert links(response) == {"first": 1, "next": 2, "last": 2}


@pytest.mark.parametrize(
    "query, where, detail",
    [
        ("page=0", "page", "page: Input should be greater than or equal to 1, got '0'"),
        ("page=-1", "page", "page: Input should be greater than or equal to 1, got '-1'"),
        (f"page={MAX_PAGE + 1}", "page",
         f"page: Input should be less than or equal to {MAX_PAGE}, got '{MAX_PAGE + 1}'"),
        ("page_size=0", "page_size", "page_size: Input should be greater than or equal to 1, got '0'"),
        (f"page_size={MAX_PAGE_SIZE + 1}", "page_size",
         f"page_size: Input should be less than or equal to {MAX_PAGE_SIZE}, got '{MAX_PAGE_SIZE + 1}'"),
        ("page=two", "page", "page: Input should be a valid integer, unable to parse string as an integer, "
         "got 'two'"),
    ],
)  # fmt: skip
@pytest.mark.parametrize(
    "route", ["/api/v1/quantile", "/api/v1/entities", "/api/v1/series/196", "/api/v1/operations",
              "/api/v1/deadletters", "/api/v1/fleet", "/api/v1/entities/196/overload"],
)  # fmt: skip
def test_out_of_bounds_paging_is_a_422_with_the_error_body(client, route, query, where, detail):
    response = client.get(f"{route}?{query}", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 422
    assert response.json() == {"error": "ValidationError", "detail": detail, "where": where}
    assert "link" not in response.headers and "x-total-count" not in response.headers


def test_openapi_documents_paging_on_every_list_route(client):
    schema = client.get("/openapi.json", headers={"Authorization": f"Bearer {ADMIN}"}).json()
    paged = {"/api/v1/quantile", "/api/v1/entities", "/api/v1/series/{entity}", "/api/v1/heatmap",
             "/api/v1/operations", "/api/v1/deadletters", "/api/v1/fleet",
             "/api/v1/entities/{entity}/overload"}  # fmt: skip
    for path, item in schema["paths"].items():
        operation = item["get"]
        names = {parameter["name"] for parameter in operation.get("parameters", [])}
        headers = operation["responses"]["200"].get("headers", {})
        if path in paged:
            assert {"page", "page_size"} <= names, path
            assert set(headers) == {"X-Total-Count", "Link"}, path
            assert headers["X-Total-Count"]["schema"]["type"] == "integer"
        else:
            assert not {"page", "page_size"} & names and not headers, path


def test_quantile_pages_of_an_answer_too_large_to_hold_are_slices_of_the_cli_csv(
    client, fleet_path, monkeypatch
):
    """A page reads only its own rows, so the bound on one whole answer (here lowered below what
    the test store holds at 1h) refuses the CLI's table and JSON, not the API's pages nor the
    CLI's CSV, which streams page by page."""
    from stackmeter.operations import rollups

    monkeypatch.setattr(rollups, "MAX_QUANTILE_WINDOWS", 5_000)
    header, *rows = list(csv.reader(io.StringIO(run_cli("quantile", "--all", "--timescale", "1h", "--csv",
                                                        "--store", fleet_path))))  # fmt: skip
    assert len(rows) > 5_000
    for number in (1, 2, 3, -(-len(rows) // 2_000), -(-len(rows) // 2_000) + 1):
        response = get(client, f"/api/v1/quantile?timescale=1h&format=csv&page={number}&page_size=2000")
        assert response.headers["x-total-count"] == str(len(rows))
        page = list(csv.reader(io.StringIO(response.text)))
        assert page == [header, *rows[(number - 1) * 2_000 : number * 2_000]], number
    whole = CliRunner().invoke(
        cli_app, ["quantile", "--all", "--timescale", "1h", "--json", "--store", fleet_path]
    )
    assert whole.exit_code == 2
    said = " ".join(whole.output.split())
    assert f"are {len(rows):,} (entity, window) rows, more than the 5,000 one answer holds" in said
    assert "`stackmeter quantile --csv` streams them" in said
    one = CliRunner().invoke(
        cli_app, ["quantile", "196", "--timescale", "1h", "--json", "--store", fleet_path]
    )
    assert one.exit_code == 0, one.output
