"""`stackmeter ingest neat` then `stackmeter replay --measured`: a real consolidated cloud's own
figures, from the raw records, alone and beside replayed policies."""

from __future__ import annotations

import csv
import io
import json
import shutil

import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from tests.analysis.test_measured import PUBLISHED, RUN, reference_metrics

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def cli_json(*args):
    result = invoke(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("neat") / "neat.duckdb")
    assert invoke("ingest", "neat", RUN, "--store", path).exit_code == 0
    return path


def test_ingest_says_what_the_run_holds(tmp_path):
    path = str(tmp_path / "neat.duckdb")
    summary = cli_json("ingest", "neat", RUN, "--store", path)
    assert (summary["run"], summary["hosts"], summary["utc_offset_s"]) == ("thr-0.8-1", 4, 39600)
    assert (summary["window_start"], summary["window_end"]) == (
        "2013-03-13T00:08:26Z",
        "2013-03-14T00:08:26Z",
    )
    with open(RUN / "db" / "vm_migrations.csv") as handle:
        assert summary["migrations"] == sum(1 for _ in handle) - 1
    samples = summary["samples"]
    assert (samples["entities"], samples["samples_added"], samples["rejected"]) == (28, 2999, 1)
    assert samples["rejected_by_reason"] == {"no CPU-time counters": 1}
    again = cli_json("ingest", "neat", RUN, "--store", path)
    assert again["samples"]["samples_added"] == 0 and again["samples"]["duplicates"] == 2999
    table = invoke("ingest", "neat", RUN, "--store", path).stdout
    assert "Run thr-0.8-1: window 2013-03-13T00:08:26Z" in table and "vm_cpu_samples.csv.gz:2831" in table


def test_measured_gives_the_runs_own_figures(store):
    measured = cli_json("replay", "--store", store, "--measured")
    start, aitf, aotf, migrations = PUBLISHED["thr-0.8-1"]
    reference = reference_metrics(RUN, start)
    assert measured["aitf"] == pytest.approx(reference.aitf, abs=1e-12)
    assert measured["aotf"] == pytest.approx(reference.aotf, abs=1e-12)
    assert measured["migrations"] == reference.migrations == migrations
    assert abs(measured["aitf"] - aitf) < 1e-9 and abs(measured["aotf"] - aotf) < 1e-9
    hours = 4 * 24
    energy_wh = hours * (
        450 * reference.aotf + 414 * (1 - reference.aitf - reference.aotf) + 10.4 * reference.aitf
    )
    assert measured["energy_kwh"] == pytest.approx(energy_wh / 1000, rel=1e-12)
    assert (measured["run"], measured["hosts"], measured["window_start"]) == (
        "thr-0.8-1",
        4,
        "2013-03-13T00:08:26Z",
    )
    rows = list(csv.DictReader(io.StringIO(invoke("replay", "--store", store, "--measured", "--csv").stdout)))
    assert len(rows) == 1 and float(rows[0]["aitf"]) == measured["aitf"]
    table = invoke("replay", "--store", store, "--measured").stdout
    assert f"{100 * measured['aitf']:.3f}%" in table and f"{measured['energy_kwh']:,.2f}" in table


def test_a_policy_is_replayed_beside_the_run_over_its_window(store):
    both = cli_json(
        "replay", "--store", store, "--fleet", "neat-testbed-4", "--policy", "thr-mmt-0.8", "--measured"
    )
    assert both["measured"] == cli_json("replay", "--store", store, "--measured")
    assert both["fleet"] == "neat-testbed-4" and both["vms"] == 28
    (policy,) = both["policies"]
    assert (policy["policy"], policy["hosts"]) == ("thr-mmt-0.8", 4)
    assert both["first_window"] >= both["measured"]["window_start"]
    alone = cli_json("replay", "--store", store, "--fleet", "neat-testbed-4", "--policy", "thr-mmt-0.8",
                     "--from", both["measured"]["window_start"], "--to", both["measured"]["window_end"])  # fmt: skip
    assert alone["policies"] == both["policies"]
    rows = list(csv.DictReader(io.StringIO(invoke(
        "replay", "--store", store, "--fleet", "neat-testbed-4", "--policy", "thr-mmt-0.8", "--measured", "--csv"
    ).stdout)))  # fmt: skip
    assert [row["policy"] for row in rows] == ["measured", "thr-mmt-0.8"]
    assert int(rows[0]["migrations"]) == both["measured"]["migrations"]
    table = invoke(
        "replay", "--store", store, "--fleet", "neat-testbed-4", "--policy", "thr-mmt-0.8", "--measured"
    )
    assert table.exit_code == 0 and "measured" in table.stdout and "run thr-0.8-1" in table.stdout


def test_two_runs_in_a_store_are_measured_by_name(tmp_path):
    path = str(tmp_path / "two.duckdb")
    other = tmp_path / "thr-0.8-1-again"
    shutil.copytree(RUN, other)
    assert invoke("ingest", "neat", RUN, "--store", path).exit_code == 0
    assert invoke("ingest", "neat", other, "--store", path).exit_code == 0
    result = invoke("replay", "--store", path, "--measured")
    assert result.exit_code == 2 and "thr-0.8-1, thr-0.8-1-again" in result.output
    assert cli_json("replay", "--store", path, "--measured", "--run", "thr-0.8-1-again")["migrations"] == 162


@pytest.mark.parametrize(
    "args, code, message",
    [
        ([], 2, "--measured"),
        (["--run", "thr-0.8-1"], 2, "give --measured"),
        (["--measured", "--run", "nope"], 1, "no run 'nope'"),
    ],
)
def test_bad_measured_requests_exit_naming_it(store, args, code, message):
    result = invoke("replay", "--store", store, *args)
    assert result.exit_code == code and message in result.output, result.output


def test_a_store_without_a_run_has_nothing_measured(tmp_path):
    path = str(tmp_path / "empty.duckdb")
    assert (
        invoke("ingest", "planetlab", RUN.parents[1] / "planetlab" / "20110303", "--store", path).exit_code
        == 0
    )
    result = invoke("replay", "--store", path, "--measured")
    assert result.exit_code == 1 and "no consolidation run" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--window", "0s"], "--window"),
        (["--window", "soon"], "duration"),
        (["--utc-offset", "+25:00"], "--utc-offset"),
        (["--start", "yesterday"], "--start"),
        (["--vm-vcpus", "0"], "--vm-vcpus"),
    ],
)
def test_bad_ingest_options_exit_2_naming_them(tmp_path, args, message):
    result = invoke("ingest", "neat", RUN, "--store", str(tmp_path / "x.duckdb"), *args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_a_folder_that_is_not_a_run_exits_1_naming_what_is_missing(tmp_path):
    result = invoke("ingest", "neat", tmp_path, "--store", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 1 and "hosts.csv" in result.output
    result = invoke("ingest", "neat", tmp_path / "nowhere", "--store", str(tmp_path / "x.duckdb"))
    assert result.exit_code == 1 and "nowhere" in result.output
