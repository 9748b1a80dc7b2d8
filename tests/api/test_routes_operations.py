"""``/api/v1/operations``: the numbers of ``stackmeter operations``, scoped to a token's project."""

from __future__ import annotations

import csv
import io
import re

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.models import Parsed, make_samples
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.bus_store import write_bus_store
from tests.conftest import ADMIN, cli_json

PROJECT_TOKEN = "project3-0123456789abcdef"


@pytest.fixture(scope="module")
def bus_path(tmp_path_factory) -> str:
    return write_bus_store(tmp_path_factory.mktemp("bus"), 200, seed=4, malformed=10)


@pytest.fixture(scope="module")
def client(bus_path):
    tokens = (Token.of(ADMIN, "admin"), Token.of(PROJECT_TOKEN, "read", "project-3"))
    with TestClient(create_app(Settings(store=bus_path), tokens=tokens)) as test_client:
        yield test_client


def get(client, url, token=ADMIN):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_same_numbers_as_the_cli(client, bus_path):
    response = get(client, "/api/v1/operations?timescale=1d&by=host")
    assert response.status_code == 200
    cli = cli_json("operations", "--store", bus_path, "--timescale", "1d", "--by", "host")
    assert response.json() == cli
    assert response.json()["operations"] > 200


def test_csv(client):
    response = get(client, "/api/v1/operations?timescale=1h&operation=create&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.headers["content-type"].startswith("text/csv")
    assert rows and {row["operation"] for row in rows} == {"create"}


def test_a_project_token_sees_its_project_operations_only(client):
    everyone = get(client, "/api/v1/operations?timescale=1d&by=project").json()["stats"]
    mine = [row for row in everyone if row["project"] == "project-3"]
    scoped = get(client, "/api/v1/operations?timescale=1d", PROJECT_TOKEN).json()["stats"]
    assert mine and len(mine) < len(everyone)
    for column in ("count", "success", "error", "timed_out", "without_start", "max_s"):
        assert [row[column] for row in scoped] == [row[column] for row in mine], column


def test_bad_options_are_refused_with_the_reason(client):
    for query, reason in (("by=colour", "cannot group"), ("timescale=2h", "unknown timescale")):
        response = get(client, f"/api/v1/operations?{query}")
        assert response.status_code == 422 and reason in response.text


@pytest.mark.parametrize("bins", [None, "10s,1m,5m,30m,2h"])
def test_the_duration_histogram_is_the_clis(client, bus_path, bins):
    query, args = ("", []) if bins is None else (f"&bins={bins}", ["--bins", bins])
    response = get(client, f"/api/v1/operations?timescale=1d{query}")
    assert response.status_code == 200
    durations = response.json()["durations"]
    assert durations == cli_json("operations", "--store", bus_path, "--timescale", "1d", *args)["durations"]
    assert len(durations["bins"]) == (19 if bins is None else len(bins.split(",")) + 1)
    # Every successful operation with a start has its duration counted once.
    stats = response.json()["stats"]
    assert sum(row["success"] for row in durations["operations"]) == sum(row["success"] for row in stats)


def test_the_histogram_as_csv_rows_paged(client):
    durations = get(client, "/api/v1/operations").json()["durations"]
    expected = [
        (row["operation"], b["lower_s"], b["upper_s"], ok, failed)
        for row in durations["operations"]
        for b, ok, failed in zip(durations["bins"], row["success_counts"], row["error_counts"], strict=True)
    ]
    whole = get(client, "/api/v1/operations?histogram=true&format=csv")
    assert whole.headers["x-total-count"] == str(len(expected))
    rows = list(csv.DictReader(io.StringIO(whole.text)))
    assert [
        (r["operation"], float(r["lower_s"]), float(r["upper_s"]) if r["upper_s"] else None, int(r["success"]),
         int(r["error"]))
        for r in rows
    ] == expected  # fmt: skip
    second = get(client, "/api/v1/operations?histogram=true&format=csv&page=2&page_size=25")
    assert second.text.splitlines()[1:] == whole.text.splitlines()[26:51]
    # In JSON the histogram is whole on every page of stats.
    paged = get(client, "/api/v1/operations?histogram=true&page=2&page_size=1").json()
    assert paged["durations"] == durations and len(paged["stats"]) == 1


def test_a_project_token_sees_its_project_durations_only(client):
    everyone = get(client, "/api/v1/operations?timescale=1d").json()
    scoped = get(client, "/api/v1/operations?timescale=1d", PROJECT_TOKEN).json()
    mine = sum(row["success"] for row in scoped["durations"]["operations"])
    assert 0 < mine < sum(row["success"] for row in everyone["durations"]["operations"])
    assert mine == sum(row["success"] for row in scoped["stats"])


@pytest.mark.parametrize(
    "query, where",
    [("bins=5,2", "bins"), ("bins=lots", "bins"), ("bins=0,1", "bins"), ("bins=", "bins"), ("bins=1e999", "bins"),
     ("histogram=maybe", "histogram")],
)  # fmt: skip
def test_bad_histogram_parameters_are_refused_naming_them(client, query, where):
    response = get(client, f"/api/v1/operations?{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["where"] == where and where in body["detail"]


def test_the_openapi_describes_the_histogram(client):
    spec = get(client, "/openapi.json").json()["paths"]["/api/v1/operations"]["get"]
    schema = spec["responses"]["200"]["content"]["application/json"]["schema"]
    durations = schema["properties"]["durations"]
    assert set(durations["properties"]) == {"bins", "operations"}
    item = durations["properties"]["operations"]["items"]["properties"]
    assert {"operation", "success", "error", "p50_s", "p95_s", "success_counts", "error_counts"} == set(item)
    parameters = {p["name"]: p for p in spec["parameters"]}
    assert "1,10s,1m,5m,1h" in parameters["bins"]["description"]
    assert parameters["histogram"]["schema"]["type"] == "boolean"
    assert "X-Total-Count" in spec["responses"]["200"]["headers"]


def test_the_stats_are_paged_with_their_total_and_links(client, bus_path):
    whole = cli_json("operations", "--store", bus_path, "--timescale", "1h", "--by", "host")["stats"]
    size = 17
    pages = -(-len(whole) // size)
    assert pages >= 3
    seen = []
    for number in range(1, pages + 2):  # and one past the last
        response = get(client, f"/api/v1/operations?timescale=1h&by=host&page={number}&page_size={size}")
        assert response.status_code == 200
        assert response.headers["x-total-count"] == str(len(whole))
        stats = response.json()["stats"]
        expected = size if number < pages else len(whole) - (pages - 1) * size if number == pages else 0
        assert len(stats) == expected
        links = dict(
            (rel, int(page)) for page, rel in re.findall(r'[?&]page=(\d+)[^>]*>; rel="(\w+)"', response.headers["link"])
        )  # fmt: skip
        assert links["first"] == 1 and links["last"] == pages
        assert links.get("next") == (number + 1 if number < pages else None)
        assert links.get("prev") == (min(number - 1, pages) if number > 1 else None)
        seen += stats
    assert seen == whole


@pytest.mark.parametrize(
    "query, where",
    [("page=0", "page"), ("page=-1", "page"), ("page=1.5", "page"), ("page=lots", "page"), ("page=1000001", "page"),
     ("page=", "page"), ("page_size=0", "page_size"), ("page_size=10001", "page_size"),
     ("page_size=lots", "page_size")],
)  # fmt: skip
def test_bad_page_numbers_are_refused_naming_them(client, query, where):
    response = get(client, f"/api/v1/operations?timescale=1h&{query}")
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["where"] == where and where in body["detail"]


@pytest.fixture(scope="module")
def loaded_path(tmp_path_factory) -> tuple[str, pd.DataFrame]:
    """A bus store with the CPU of three hosts every 5 minutes over the span of its operations, and
    those samples as a frame."""
    path = write_bus_store(tmp_path_factory.mktemp("loaded"), 120, seed=6, malformed=0)
    rng = np.random.default_rng(2)
    with open_store(path) as store:
        events = store.read_events()
        start = events["ts"].min().floor("1h").tz_localize(None).to_datetime64()
        end = events["ts"].max().ceil("1h").tz_localize(None).to_datetime64()
        ts = np.arange(start, end, np.timedelta64(5, "m")).astype("datetime64[ns]")
        frames = [
            pd.DataFrame({"ts": ts, "used": rng.uniform(0, cores, ts.size), "capacity": cores})
            for cores in (4.0, 16.0, 64.0)
        ]
        parts = [
            Parsed(f"h{i}", make_samples(f["ts"], f"h{i}", "cpu", f["used"], f["capacity"]))
            for i, f in enumerate(frames)
        ]
        store.write_parsed(parts, source="test")
    return path, pd.concat(frames, ignore_index=True)


def test_the_fleet_load_beside_each_window_is_the_clis_and_the_samples_mean(loaded_path):
    path, samples = loaded_path
    with TestClient(create_app(Settings(store=path), tokens=(Token.of(ADMIN, "admin"),))) as loaded:
        for timescale, floor in (("1h", "1h"), ("1d", "1D")):
            api = get(loaded, f"/api/v1/operations?timescale={timescale}").json()
            assert api == cli_json("operations", "--store", path, "--timescale", timescale)
            mean = (samples["used"] / samples["capacity"]).groupby(samples["ts"].dt.floor(floor)).mean()
            for row in api["stats"]:
                window = pd.Timestamp(row["window"]).tz_localize(None)
                assert row["fleet_cpu_utilization"] == pytest.approx(mean[window], rel=1e-12), row["window"]
