"""`stackmeter overload --json` on real trace excerpts equals an independent pandas computation."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from tests.reference import (
    FIXTURES,
    multi_resource_reference,
    overload_reference,
    read_bitbrains,
    read_planetlab,
)

runner = CliRunner()
RESOURCES = ("cpu", "memory", "disk", "network")
DISK_CAPACITY, NETWORK_CAPACITY = "2MiB/s", "800kbit/s"


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def bitbrains_store(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("bb") / "store.duckdb")
    run("ingest", "bitbrains", str(FIXTURES / "bitbrains"), "--store", store,
        "--disk-capacity", DISK_CAPACITY, "--network-capacity", NETWORK_CAPACITY)  # fmt: skip
    raw = read_bitbrains(sorted((FIXTURES / "bitbrains").rglob("*.csv.gz")), 2 * 2**20, 800e3 / 8)
    return store, raw


@pytest.fixture(scope="module")
def planetlab_store(tmp_path_factory):
    """Two PlanetLab days three days apart: the days between are gaps with no samples."""
    store = str(tmp_path_factory.mktemp("pl") / "store.duckdb")
    days = [FIXTURES / "planetlab" / "20110303", FIXTURES / "planetlab" / "20110306"]
    run("ingest", "planetlab", *map(str, days), "--store", store)
    raw = pd.concat([read_planetlab(day) for day in days], ignore_index=True)
    return store, raw


def as_time(text):
    return None if text is None else pd.Timestamp(text.removesuffix("Z"))


def check_report(store: str, raw: pd.DataFrame, timescales: str, thresholds: dict, share: float, resources):
    top = 5
    threshold_flag = ",".join(f"{name}={value}" for name, value in thresholds.items())
    report = json.loads(
        run(
            "overload",
            "--store",
            store,
            "--timescale",
            timescales,
            "--resource",
            ",".join(resources),
            "--threshold",
            threshold_flag,
            "--share",
            str(share),
            "--top",
            str(top),
            "--json",
        )  # fmt: skip
    )
    assert report["share"] == share
    assert report["thresholds"] == thresholds
    cells = {(cell["timescale"], cell["resource"]): cell for cell in report["cells"]}
    multi = {row["timescale"]: row for row in report["multi_resource"]}
    for timescale in timescales.split(","):
        pairs = []
        for resource in resources:
            expected = overload_reference(raw, timescale, resource, thresholds[resource], share, top)
            cell = cells[timescale, resource]
            where = f"{timescale} {resource}"
            assert cell["entities"] == expected["entities"], where
            assert cell["without_capacity"] == expected["without_capacity"], where
            assert cell["windows"] == expected["windows"], where
            assert cell["overloaded_ever"] == expected["overloaded_ever"], where
            if not expected["windows"]:
                continue
            pairs.append(expected["overloaded_pairs"])
            assert cell["overloaded_mean"] == pytest.approx(expected["overloaded_mean"], rel=1e-12), where
            assert cell["overloaded_max"] == expected["overloaded_max"], where
            assert as_time(cell["worst_window"]) == expected["worst_window"], where
            assert as_time(cell["latest_window"]) == expected["latest_window"], where
            assert cell["overloaded_latest"] == expected["overloaded_latest"], where
            assert cell["windows_partial"] == expected["windows_partial"], where
            if expected["trend_per_window"] is None:
                assert cell["trend_per_window"] is None, where
            else:
                assert cell["trend_per_window"] == pytest.approx(expected["trend_per_window"], abs=1e-9), (
                    where
                )
            assert [(w["entity"], pytest.approx(w["share"])) for w in cell["worst"]] == expected["worst"], (
                where
            )
        if pairs:
            entities, entity_windows = multi_resource_reference(pairs)
            assert (multi[timescale]["entities"], multi[timescale]["entity_windows"]) == (
                entities,
                entity_windows,
            )


DEFAULTS = {"cpu": 0.8, "memory": 0.9, "disk": 0.8, "network": 0.8}


@pytest.mark.parametrize(
    "timescales, thresholds, share",
    [
        ("5m,1h,1d,1w,1mo", DEFAULTS, 0.05),
        ("1h,1d", {"cpu": 0.5, "memory": 0.3, "disk": 0.2, "network": 0.5}, 0.5),
        # utilization above 1 (CPU over its provisioned MHz) judged against θ = 1.0 and 1.05
        ("1d,1w,1mo", {"cpu": 1.0, "memory": 0.5, "disk": 0.05, "network": 0.05}, 0.01),
        ("5m,1h,1w", {"cpu": 1.05, "memory": 0.5, "disk": 0.5, "network": 0.5}, 1.0),
    ],
)
def test_bitbrains_overload_matches_pandas(bitbrains_store, timescales, thresholds, share):
    store, raw = bitbrains_store
    check_report(store, raw, timescales, thresholds, share, RESOURCES)


@pytest.mark.parametrize(
    "timescales, threshold, share",
    [("5m,1h,1d,1w,1mo", 0.8, 0.05), ("1h,1d", 0.5, 0.25), ("1h", 0.3, 1.0), ("1d", 0.9, 0.001)],
)
def test_planetlab_overload_matches_pandas(planetlab_store, timescales, threshold, share):
    """PlanetLab samples fall exactly on 5m, 1h and day boundaries; the two days leave gap days."""
    store, raw = planetlab_store
    check_report(store, raw, timescales, {"cpu": threshold}, share, ("cpu",))


def test_gap_days_count_as_windows_with_no_overload(planetlab_store):
    store, _ = planetlab_store
    report = json.loads(run("overload", "--store", store, "--timescale", "1d", "--resource", "cpu", "--json"))
    (cell,) = report["cells"]
    assert cell["windows"] == 4  # 3, 4, 5 and 6 March 2011
    assert cell["first_window"] == "2011-03-03T00:00:00Z"
    assert cell["last_window"] == "2011-03-06T00:00:00Z"


def test_disk_and_network_without_capacity_are_reported_not_judged(tmp_path):
    store = str(tmp_path / "store.duckdb")
    shutil.copytree(FIXTURES / "bitbrains" / "2013-8", tmp_path / "2013-8")
    run("ingest", "bitbrains", str(tmp_path / "2013-8"), "--store", store)
    report = json.loads(run("overload", "--store", store, "--timescale", "1d", "--json"))
    cells = {cell["resource"]: cell for cell in report["cells"]}
    for resource in ("disk", "network"):
        assert cells[resource]["entities"] == 4
        assert cells[resource]["without_capacity"] == 4
        assert cells[resource]["windows"] == 0
        assert cells[resource]["overloaded_ever"] == 0
    assert cells["cpu"]["without_capacity"] == 0


def test_csv_has_the_same_numbers_as_json(bitbrains_store):
    store, _ = bitbrains_store
    report = json.loads(run("overload", "--store", store, "--timescale", "1h,1d", "--json"))
    table = pd.read_csv(
        pd.io.common.StringIO(run("overload", "--store", store, "--timescale", "1h,1d", "--csv"))
    )
    cells = table[table["resource"].isin(RESOURCES)]
    assert list(cells["overloaded_ever"]) == [cell["overloaded_ever"] for cell in report["cells"]]
    assert list(cells["overloaded_mean"]) == pytest.approx(
        [cell["overloaded_mean"] for cell in report["cells"]]
    )
    multi = table[table["resource"] == "2+ resources"]
    assert list(multi["overloaded_ever"]) == [row["entities"] for row in report["multi_resource"]]


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w", "1mo"])
@pytest.mark.parametrize("which", ["bitbrains", "planetlab"])
def test_fleet_windows_match_pandas(request, which, timescale):
    """`stackmeter fleet --json`: entities and samples per window, and which windows are
    complete, as the independent reading counts them; the overload report's partial windows
    and its latest window agree with it."""
    store, raw = request.getfixturevalue(f"{which}_store")
    resources = RESOURCES if which == "bitbrains" else ("cpu",)
    fleet = json.loads(run("fleet", "--store", store, "--timescale", timescale,
                           "--resource", ",".join(resources), "--json"))  # fmt: skip
    assert fleet["complete_min_coverage"] == 0.5
    rows = pd.DataFrame(fleet["windows"])
    partial_seen = 0
    for resource in resources:
        expected = overload_reference(raw, timescale, resource, DEFAULTS[resource], 0.05, 5)
        mine = rows[rows["resource"] == resource]
        if not expected["windows"]:
            assert mine.empty
            continue
        reported = expected["reported"]
        assert [as_time(w) for w in mine["window"]] == list(reported.index), resource
        assert list(mine["entities"]) == list(reported["entities"]), resource
        assert list(mine["samples"]) == list(reported["samples"]), resource
        complete = set(expected["complete"])
        assert [as_time(w) in complete for w in mine["window"]] == list(mine["complete"]), resource
        partial_seen += len(reported) - len(complete)
        assert fleet["step_s"][resource] == pytest.approx(expected["step_s"]), resource
    if which == "planetlab":
        assert fleet["step_s"]["cpu"] == 300  # the gap days between the two days do not stretch it
        if timescale == "1d":
            assert partial_seen == 2  # the two gap days between the two days of samples
        if timescale in ("1w", "1mo"):
            assert partial_seen == 1  # two days of samples do not make a week or a month
