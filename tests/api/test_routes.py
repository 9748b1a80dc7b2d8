"""Every API route: same numbers as the CLI, tokens required, project scoping by listing and by id."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.export import jsonable
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.conftest import ADMIN, ALPHA, BETA, READ, TOKENS, cli_json, run_cli
from tests.fleet import PROJECTS, rounded

# One example request per route in the OpenAPI schema; test_every_route_has_an_example keeps them in step.
EXAMPLES = {
    "/api/v1/overload": "/api/v1/overload?timescale=1d&resource=cpu,memory",
    "/api/v1/fleet": "/api/v1/fleet?timescale=1d&resource=cpu",
    "/api/v1/quantile": "/api/v1/quantile?entity=196&resource=cpu&q=0.95&timescale=1w",
    "/api/v1/entities": "/api/v1/entities",
    "/api/v1/series/{entity}": "/api/v1/series/196?resource=memory&from=2013-08-01&to=2013-08-02",
    "/api/v1/status": "/api/v1/status",
    "/api/v1/replay": "/api/v1/replay?policy=dvfs",
    "/api/v1/heatmap": "/api/v1/heatmap?timescale=1d&resource=cpu&columns=10",
    "/api/v1/entities/{entity}/overload": "/api/v1/entities/196/overload?timescale=1d",
    "/api/v1/operations": "/api/v1/operations?timescale=1d&by=host",
    "/api/v1/deadletters": "/api/v1/deadletters?page_size=5",
}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def client(fleet_path):
    with TestClient(create_app(Settings(store=fleet_path), tokens=TOKENS)) as test_client:
        yield test_client


def get(client, url: str, token: str = ADMIN, **kwargs):
    return client.get(url, headers={**bearer(token), **kwargs.pop("headers", {})}, **kwargs)


def test_every_route_has_an_example(client):
    assert set(client.app.openapi()["paths"]) == set(EXAMPLES)


@pytest.mark.parametrize("url", EXAMPLES.values())
def test_every_route_needs_a_known_token(client, url):
    for headers in ({}, bearer("not-a-token-0123456789"), {"Authorization": "Basic YWRtaW46YWRtaW4="}):
        response = client.get(url, headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
    for token in (ADMIN, READ, ALPHA):
        assert get(client, url, token).status_code == 200, token


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?timescale=1h,1d&resource=cpu,memory,disk,network&top=3",
        "?timescale=5m,1w,1mo&threshold=cpu=0.5,memory=0.3&share=0.5",
        "?timescale=1d&resource=disk,network&threshold=disk=0.05,network=0.05&share=0.01&top=0",
    ],
)
def test_overload_equals_the_cli(client, fleet_path, query):
    flags = {
        "timescale": "--timescale",
        "resource": "--resource",
        "threshold": "--threshold",
        "share": "--share",
        "top": "--top",
    }
    args = []
    for pair in filter(None, query.lstrip("?").split("&")):
        name, value = pair.split("=", 1)
        args += [flags[name], value]
    expected = cli_json("overload", "--store", fleet_path, *args)
    response = get(client, "/api/v1/overload" + query)
    assert response.status_code == 200
    assert response.json() == expected
    csv = get(client, "/api/v1/overload" + query + ("&" if query else "?") + "format=csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text == run_cli("overload", "--store", fleet_path, *args, "--csv")


@pytest.mark.parametrize(
    "query, args",
    [
        ("", []),
        ("?timescale=1h&resource=cpu,memory&share=0.5", ["--timescale", "1h", "--resource", "cpu,memory",
                                                         "--share", "0.5"]),
        ("?timescale=1mo&threshold=cpu=0.5&from_raw=true", ["--timescale", "1mo", "--threshold", "cpu=0.5",
                                                            "--from-raw"]),
    ],
)  # fmt: skip
def test_fleet_equals_the_cli_and_agrees_with_overload(client, fleet_path, query, args):
    expected = cli_json("fleet", "--store", fleet_path, *args)
    whole = "/api/v1/fleet" + query + ("&" if query else "?") + "page_size=10000"
    assert len(expected["windows"]) <= 10_000
    assert get(client, whole).json() == expected
    csv_text = get(client, whole + "&format=csv").text
    assert csv_text == run_cli("fleet", "--store", fleet_path, *args, "--csv")
    # the overload report's partial windows, latest window and its count are the fleet's
    timescale = expected["timescale"]
    report = get(
        client,
        f"/api/v1/overload?timescale={timescale}"
        + query.replace("?", "&").replace(f"&timescale={timescale}", ""),
    ).json()
    for cell in report["cells"]:
        rows = [row for row in expected["windows"] if row["resource"] == cell["resource"]]
        complete = [row for row in rows if row["complete"]]
        assert cell["windows"] == len(rows)
        assert cell["windows_partial"] == len(rows) - len(complete)
        assert cell["latest_window"] == (complete[-1]["window"] if complete else None)
        assert cell["overloaded_latest"] == (complete[-1]["overloaded"] if complete else None)
        assert cell["overloaded_max"] == max(row["overloaded"] for row in rows)


def test_fleet_is_scoped_to_the_tokens_project(client, alpha_only_path):
    assert get(client, "/api/v1/fleet?timescale=1h&page_size=10000", ALPHA).json() == cli_json(
        "fleet", "--timescale", "1h", "--store", alpha_only_path
    )


def test_replay_equals_the_cli_and_is_scoped(client, fleet_path, alpha_only_path):
    query, args = (
        "?policy=npa&policy=dvfs&from=2013-08-01",
        ["--policy", "npa", "--policy", "dvfs", "--from", "2013-08-01"],
    )
    expected = cli_json("replay", "--store", fleet_path, *args)
    assert get(client, "/api/v1/replay" + query).json() == expected
    assert get(client, "/api/v1/replay" + query + "&format=csv").text == run_cli(
        "replay", "--store", fleet_path, *args, "--csv"
    )
    timeline = get(client, "/api/v1/replay" + query + "&steps=true").json()
    for row, policy in zip(timeline["policies"], expected["policies"], strict=True):
        assert {key: value for key, value in row.items() if key != "steps"} == policy
        steps = row["steps"]
        assert len(steps["time"]) == len(steps["hosts_active"]) == len(steps["energy_kwh"]) > 0
        assert sum(steps["energy_kwh"]) == pytest.approx(policy["energy_kwh"], rel=1e-9)
        # The VMs' memory is replayed too: the paper's 4 GB hosts run out of it.
        assert len(steps["hosts_memory_overloaded"]) == len(steps["hosts_active"])
        assert 0 < policy["memory_overload"] <= 1 if policy["policy"] == "dvfs" else True
    assert expected["memory_vms"] == 4
    mine = get(client, "/api/v1/replay?policy=dvfs", ALPHA).json()
    assert mine == cli_json("replay", "--store", alpha_only_path, "--policy", "dvfs")
    assert mine["vms"] == 2 and mine["memory_vms"] == 2


def test_overload_says_what_served_it_and_raw_samples_give_the_same_numbers(client):
    rolled = get(client, "/api/v1/overload?timescale=5m,1h,1d,1mo").json()
    raw = get(client, "/api/v1/overload?timescale=5m,1h,1d,1mo&from_raw=true").json()
    assert rolled["served_by"] == {
        "5m": "rollup 5m",
        "1h": "rollup 1h",
        "1d": "rollup 1d",
        "1mo": "rollup 1d",
    }
    assert raw["served_by"] == dict.fromkeys(("5m", "1h", "1d", "1mo"), "raw")
    assert rounded(rolled["cells"]) == rounded(raw["cells"])
    assert rolled["multi_resource"] == raw["multi_resource"]
    off_edge = get(client, "/api/v1/overload?timescale=1d&threshold=cpu=0.855").json()
    assert off_edge["served_by"] == {"1d": "raw"}
    assert off_edge["served_note"] == "threshold cpu=0.855 not on a 0.01 bin edge"


def test_quantile_equals_the_cli_and_is_scoped(client, fleet_path):
    for query, args in [
        ("?entity=196&q=0.95&timescale=1w", ["196", "--q", "0.95", "--timescale", "1w"]),
        ("?resource=memory&q=0.5&timescale=1mo&from_raw=true",
         ["--all", "--resource", "memory", "--q", "0.5", "--timescale", "1mo", "--from-raw"]),
    ]:  # fmt: skip
        assert get(client, "/api/v1/quantile" + query).json() == cli_json(
            "quantile", *args, "--store", fleet_path
        )
    windows = get(client, "/api/v1/quantile?timescale=1mo", ALPHA).json()["windows"]
    assert {row["entity"] for row in windows} == {"176", "196"}
    assert get(client, "/api/v1/quantile?entity=41", ALPHA).status_code == 404


def test_accept_header_asks_for_csv(client, fleet_path):
    response = get(client, "/api/v1/entities", headers={"Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    table = pd.read_csv(io.StringIO(response.text), dtype={"entity": str})
    assert table["entity"].tolist() == [row["entity"] for row in cli_json("entities", "--store", fleet_path)]
    assert get(client, "/api/v1/entities?format=json", headers={"Accept": "text/csv"}).json()[0]["entity"]


def test_entities_and_series_equal_the_cli(client, fleet_path):
    assert get(client, "/api/v1/entities").json() == cli_json("entities", "--store", fleet_path)
    expected = cli_json(
        "series",
        "196",
        "--resource",
        "memory",
        "--from",
        "2013-08-01",
        "--to",
        "2013-08-02",
        "--store",
        fleet_path,
    )
    assert get(client, EXAMPLES["/api/v1/series/{entity}"]).json() == expected
    assert len(expected["samples"]) > 200


def test_heat_map_and_entity_overload_equal_the_operations(client, fleet_path):
    with open_store(fleet_path) as store:
        heat = operations.heat_map(store, "1d", "cpu", columns=10)
        entity = operations.entity_overload(store, "196", "1d")
    assert rounded(get(client, EXAMPLES["/api/v1/heatmap"]).json()) == rounded(jsonable(heat))
    entity_json = get(client, EXAMPLES["/api/v1/entities/{entity}/overload"]).json()
    assert rounded(entity_json) == rounded(jsonable(entity))


@pytest.mark.parametrize("query, headers", [("&format=csv", {}), ("", {"Accept": "text/csv"})])
def test_heat_map_csv_has_a_row_per_cell_with_the_numbers_of_the_json(client, query, headers):
    url = "/api/v1/heatmap?timescale=1d&resource=network&columns=20&page_size=3"
    heat = get(client, url).json()
    response = get(client, url + query, headers=headers)
    assert response.headers["content-type"].startswith("text/csv")
    header, *rows = csv.reader(io.StringIO(response.text))
    assert header == ["entity", "window", "mean_utilization", "overloaded"]
    expected = [
        (row["entity"], window, mean, str(hot).lower())
        for row in heat["rows"]
        for window, mean, hot in zip(heat["columns"], row["utilization"], row["overloaded"], strict=True)
        if mean is not None
    ]
    assert [(entity, window, float(mean), hot) for entity, window, mean, hot in rows] == expected
    assert len(expected) > 20 and {hot for *_, hot in expected} == {"true", "false"}


def test_status_counts_what_the_token_sees(client, fleet_path):
    admin, read, alpha = (get(client, "/api/v1/status", token).json() for token in (ADMIN, READ, ALPHA))
    assert admin["location"] == fleet_path
    assert read["location"] is None and alpha["location"] is None
    assert admin["entities"] == read["entities"] == 4
    assert alpha["entities"] == 2
    assert admin["samples"] > alpha["samples"] > 0
    assert admin["batches"] == 12


def test_a_project_token_sees_its_project_as_if_it_were_the_whole_store(client, alpha_only_path):
    """Everything an alpha token reads equals what the CLI reads from a store of alpha's VMs alone."""
    for query, args in [
        ("", []),
        (
            "?timescale=1h,1d&share=0.5&threshold=cpu=0.5",
            ["--timescale", "1h,1d", "--share", "0.5", "--threshold", "cpu=0.5"],
        ),
    ]:
        assert get(client, "/api/v1/overload" + query, ALPHA).json() == cli_json(
            "overload", "--store", alpha_only_path, *args
        )
    entities = get(client, "/api/v1/entities", ALPHA).json()
    assert [row["entity"] for row in entities] == ["176", "196"]
    assert entities == [
        {**row, "project": "alpha"} for row in cli_json("entities", "--store", alpha_only_path)
    ]
    rows = get(client, "/api/v1/heatmap?timescale=1h&page_size=200", ALPHA).json()["rows"]
    assert sorted(row["entity"] for row in rows) == ["176", "196"]


@pytest.mark.parametrize("entity", [name for name, project in PROJECTS.items() if project != "alpha"])
def test_another_projects_entity_is_not_found_as_if_it_did_not_exist(client, entity):
    for url in (f"/api/v1/series/{entity}", f"/api/v1/entities/{entity}/overload"):
        hidden = get(client, url, ALPHA)
        missing = get(client, url.replace(entity, "no-such-vm"), ALPHA)
        assert hidden.status_code == missing.status_code == 404
        assert hidden.json() == {
            "error": "UnknownEntity",
            "detail": f"no entity {entity!r} in the store",
            "where": None,
        }
        assert missing.json()["detail"] == "no entity 'no-such-vm' in the store"
        assert get(client, url, ADMIN).status_code == 200


def test_an_admin_token_bound_to_a_project_is_scoped_too(client):
    assert [row["entity"] for row in get(client, "/api/v1/entities", BETA).json()] == ["41"]
    assert get(client, "/api/v1/series/196", BETA).status_code == 404
    assert get(client, "/api/v1/status", BETA).json()["location"] is not None


@pytest.mark.parametrize(
    "url, names",
    [
        ("/api/v1/overload?share=0", "share"),
        ("/api/v1/overload?share=1.5", "share"),
        ("/api/v1/overload?threshold=cpu=-1", "threshold"),
        ("/api/v1/overload?threshold=cpu=0", "threshold"),
        ("/api/v1/overload?threshold=gpu=0.5", "threshold"),
        ("/api/v1/overload?timescale=2m", "timescale"),
        ("/api/v1/overload?resource=gpu", "resource"),
        ("/api/v1/overload?top=-1", "top"),
        ("/api/v1/fleet?timescale=1h,1d", "timescale"),
        ("/api/v1/fleet?resource=gpu", "resource"),
        ("/api/v1/fleet?share=0", "share"),
        ("/api/v1/fleet?threshold=cpu=abc", "threshold"),
        ("/api/v1/series/196?resource=gpu", "resource"),
        ("/api/v1/series/196?from=yesterday", "from"),
        ("/api/v1/heatmap?timescale=1h,1d", "timescale"),
        ("/api/v1/heatmap?page_size=1000", "page_size"),
        ("/api/v1/heatmap?threshold=0", "threshold"),
        ("/api/v1/entities/196/overload?share=2", "share"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(client, url, names):
    response = get(client, url)
    assert response.status_code == 422, response.text
    assert response.json()["error"] in ("ConfigError", "ValidationError")
    assert response.json()["where"] == names
    assert names in response.json()["detail"]


def test_ranges_are_stated(client):
    assert "less than or equal to 1" in get(client, "/api/v1/overload?share=2").json()["detail"]
    assert "5m, 1h, 1d, 1w, 1mo" in get(client, "/api/v1/overload?timescale=1x").json()["detail"]


def test_values_that_are_not_numbers_are_422_naming_the_parameter(client):
    response = get(client, "/api/v1/overload?share=lots")
    assert response.status_code == 422
    assert response.json() == {
        "error": "ValidationError",
        "detail": "share: Input should be a valid number, unable to parse string as a number, got 'lots'",
        "where": "share",
    }


def test_without_tokens_everything_is_readable(fleet_path):
    with TestClient(create_app(Settings(store=fleet_path), tokens=())) as open_client:
        assert open_client.get("/api/v1/status").json()["location"] == fleet_path
        assert len(open_client.get("/api/v1/entities").json()) == 4
