"""`stackmeter overload --from-raw`, `quantile` and `compact` on real trace excerpts, against pandas."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from tests.reference import FIXTURES, read_bitbrains, window_of

runner = CliRunner()


def run(*args: str, env: dict | None = None) -> str:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def bitbrains(tmp_path_factory):
    store = str(tmp_path_factory.mktemp("bb") / "store.duckdb")
    run("ingest", "bitbrains", str(FIXTURES / "bitbrains"), "--store", store)
    raw = read_bitbrains(sorted((FIXTURES / "bitbrains").rglob("*.csv.gz")), None, None)
    raw = raw[raw["capacity"].notna()].assign(u=lambda frame: frame["used"] / frame["capacity"])
    return store, raw


def test_overload_says_what_served_it(bitbrains):
    store, _ = bitbrains
    rolled = json.loads(run("overload", "--store", store, "--timescale", "1h,1d,1mo", "--json"))
    raw = json.loads(run("overload", "--store", store, "--timescale", "1h,1d,1mo", "--json", "--from-raw"))
    assert rolled["served_by"] == {"1h": "rollup 1h", "1d": "rollup 1d", "1mo": "rollup 1d"}
    assert (raw["served_by"], raw["served_note"]) == (
        dict.fromkeys(("1h", "1d", "1mo"), "raw"),
        "raw samples asked for",
    )
    assert rolled["cells"] == raw["cells"] and rolled["multi_resource"] == raw["multi_resource"]
    off_edge = json.loads(
        run("overload", "--store", store, "--timescale", "1d", "--threshold", "cpu=0.855", "--json")
    )
    assert off_edge["served_note"] == "threshold cpu=0.855 not on a 0.01 bin edge"
    assert "Served by: 1h from rollup 1h; 1d, 1mo from rollup 1d" in run(
        "overload", "--store", store, "--timescale", "1h,1d,1mo"
    )
    table = pd.read_csv(io.StringIO(run("overload", "--store", store, "--timescale", "1h,1w", "--csv")))
    assert dict(zip(table["timescale"], table["served_by"], strict=False)) == {
        "1h": "rollup 1h",
        "1w": "rollup 1d",
    }


def test_levels_come_from_the_settings(tmp_path):
    store = str(tmp_path / "store.duckdb")
    env = {"STACKMETER_ROLLUP_LEVELS": "1h"}
    run("ingest", "bitbrains", str(FIXTURES / "bitbrains" / "2013-8"), "--store", store, env=env)
    report = json.loads(run("overload", "--store", store, "--timescale", "5m,1d", "--json"))
    assert report["served_by"] == {"5m": "raw", "1d": "rollup 1h"}


@pytest.mark.parametrize("timescale, q", [("1w", 0.95), ("1d", 0.5), ("1mo", 0.99)])
def test_quantile_of_one_entity_brackets_the_exact_one(bitbrains, timescale, q):
    store, raw = bitbrains
    vm = raw[(raw["entity"] == "196") & (raw["resource"] == "cpu")]
    expected = vm.groupby(window_of(vm["ts"], timescale))["u"].agg(["size", lambda u: u.quantile(q)])
    args = ("quantile", "196", "--store", store, "--resource", "cpu", "--q", str(q), "--timescale", timescale)
    report = json.loads(run(*args, "--json"))
    assert (report["resource"], report["timescale"], report["q"], report["bin_width"]) == (
        "cpu",
        timescale,
        q,
        0.01,
    )
    assert report["served_by"] == "rollup 1d"
    rows = report["windows"]
    assert [pd.Timestamp(row["window"].removesuffix("Z")) for row in rows] == list(expected.index)
    assert [row["samples"] for row in rows] == list(expected["size"])
    for row, exact in zip(rows, expected.iloc[:, 1], strict=True):
        assert row["lower"] - 1e-12 <= exact <= row["upper"] + 1e-12
        assert row["upper"] - row["lower"] <= 0.01 + 1e-12
        assert abs(row["quantile"] - exact) <= 0.005 + 1e-12
    exact = json.loads(run(*args, "--json", "--from-raw"))
    assert exact["served_by"] == "raw"
    assert [row["quantile"] for row in exact["windows"]] == pytest.approx(
        list(expected.iloc[:, 1]), rel=1e-12
    )


def test_quantile_of_every_entity_as_csv_and_table(bitbrains):
    store, raw = bitbrains
    memory = raw[raw["resource"] == "memory"]
    expected = memory.groupby(["entity", window_of(memory["ts"], "1mo")]).size()
    table = pd.read_csv(io.StringIO(run("quantile", "--all", "--store", store, "--resource", "memory",
                                        "--timescale", "1mo", "--csv")), dtype={"entity": str})  # fmt: skip
    assert list(table.columns) == ["resource", "timescale", "q", "entity", "window", "samples", "quantile",
                                   "lower", "upper", "served_by"]  # fmt: skip
    got = table.set_index(["entity", "window"])["samples"]
    assert sorted(zip(got.index.get_level_values(0), got, strict=True)) == sorted(
        zip(expected.index.get_level_values(0), expected, strict=True)
    )
    text = run("quantile", "41", "--store", store, "--timescale", "1mo")
    assert "0.95 quantile of cpu utilization per 1mo window" in text and "Served by: rollup 1d" in text


@pytest.mark.parametrize(
    "args, code, message",
    [
        ((), 2, "give one ENTITY or --all"),
        (("41", "--all"), 2, "give one ENTITY or --all"),
        (("nope",), 1, "no entity 'nope'"),
        (("41", "--q", "1.5"), 2, "between 0 and 1"),
        (("41", "--timescale", "2d"), 2, "unknown timescale"),
    ],
)
def test_quantile_refuses(bitbrains, args, code, message):
    store, _ = bitbrains
    result = runner.invoke(app, ["quantile", *args, "--store", store])
    assert result.exit_code == code
    assert message in result.output


def test_compact_then_report(tmp_path):
    store = str(tmp_path / "store.duckdb")
    run("ingest", "bitbrains", str(FIXTURES / "bitbrains" / "2013-8"), "--store", store)
    before = json.loads(run("overload", "--store", store, "--timescale", "1d,1w", "--json"))
    summary = json.loads(run("compact", "--store", store, "--retention", "raw=1d,5m=1d,1h=2d,1d=3650d",
                             "--as-of", "2013-08-20", "--json"))  # fmt: skip
    assert summary["as_of"] == "2013-08-20T00:00:00Z"
    assert summary["raw_before"] == "2013-08-19T00:00:00Z"
    assert summary["rollup_before"] == {"5m": "2013-08-19T00:00:00Z", "1h": "2013-08-18T00:00:00Z",
                                        "1d": "2003-08-23T00:00:00Z"}  # fmt: skip
    assert summary["samples_dropped"] > 0 and summary["rollup_rows_dropped"]["1h"] > 0
    after = json.loads(run("overload", "--store", store, "--timescale", "1d,1w", "--json"))
    assert after == before
    assert "raw samples dropped" in run("compact", "--store", store, "--retention", "raw=1d,5m=1d,1h=2d")
    result = runner.invoke(app, ["compact", "--store", store, "--retention", "raw=5d,1h=1d"])
    assert result.exit_code == 2 and "rollup level 1h" in result.output


def test_trace_ingest_takes_an_opt_in_back_window(tmp_path):
    store = str(tmp_path / "store.duckdb")
    run("ingest", "bitbrains", str(FIXTURES / "bitbrains" / "2013-9"), "--store", store)
    refused = json.loads(run("ingest", "bitbrains", str(FIXTURES / "bitbrains" / "2013-7"), "--store", store,
                             "--back-window", "7d", "--json"))  # fmt: skip
    assert refused["rejected_by_reason"]["older than the back window"] > 0
    landed = json.loads(
        run("ingest", "bitbrains", str(FIXTURES / "bitbrains" / "2013-7"), "--store", store, "--json")
    )
    assert landed["samples_added"] == refused["rejected_by_reason"]["older than the back window"]
