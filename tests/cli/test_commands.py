"""The command line: ingest summaries and exit codes on bad input, listing, series, help and demo."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from tests.cli import command_paths
from tests.reference import FIXTURES

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "s.duckdb")


def test_ingest_summary_counts_what_was_read_and_refused(store):
    result = invoke("ingest", "bitbrains", FIXTURES / "bitbrains" / "2013-7", "--store", store, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["files"] == 4
    assert summary["entities"] == 4
    assert summary["samples_read"] == summary["samples_added"] > 0
    assert summary["rejected"] == sum(summary["rejected_by_reason"].values()) > 0
    assert summary["first_ts"].startswith("2013-06-30") or summary["first_ts"].startswith("2013-07")
    again = json.loads(
        invoke("ingest", "bitbrains", FIXTURES / "bitbrains" / "2013-7", "--store", store, "--json").stdout
    )
    assert again["samples_added"] == 0
    assert again["duplicates"] >= summary["samples_read"]


def test_ingest_table_names_reasons_and_examples(store, tmp_path):
    day = tmp_path / "20110303"
    day.mkdir()
    (day / "good").write_text("10\n20\n")
    (day / "bad").write_text("10\nabc\n")
    result = invoke("ingest", "planetlab", day, "--store", store)
    assert result.exit_code == 0
    assert "not a number" in result.stdout
    assert f"{day / 'bad'}:2" in result.stdout.replace("\n", "")


def test_nothing_usable_exits_1_with_the_reasons(store, tmp_path):
    empty = tmp_path / "20110303"
    empty.mkdir()
    (empty / "vm").write_text("")
    result = invoke("ingest", "planetlab", empty, "--store", store)
    assert result.exit_code == 1
    assert "empty file" in result.stdout
    assert "nothing usable" in result.stderr


def test_unreadable_and_missing_paths_are_reported_and_others_still_land(store, tmp_path):
    folder = tmp_path / "bb"
    shutil.copytree(FIXTURES / "bitbrains" / "2013-8", folder)
    locked = folder / "locked.csv"
    locked.write_text("x")
    os.chmod(locked, 0)
    missing = tmp_path / "nope.csv"
    result = invoke("ingest", "bitbrains", folder, missing, "--store", store, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    reasons = summary["rejected_by_reason"]
    assert reasons.get("unreadable", 0) >= 1  # the missing path (and the locked file unless we are root)
    assert summary["files_with_samples"] == 4
    assert any(str(missing) in r["path"] for r in summary["rejection_examples"])


def test_foreign_file_is_named(store, tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("hello\nworld\n")
    result = invoke("ingest", "bitbrains", path, "--store", store, "--json")
    assert result.exit_code == 1
    (example,) = json.loads(result.stdout)["rejection_examples"]
    assert example["path"] == str(path) and example["reason"] == "not this format"


@pytest.mark.parametrize(
    "args, message",
    [
        (["overload", "--timescale", "2h"], "unknown timescale"),
        (["overload", "--share", "0"], "share must be above 0"),
        (["overload", "--threshold", "cpu=high"], "not a number"),
        (["overload", "--threshold", "gpu=0.5"], "RESOURCE=VALUE"),
        (["overload", "--resource", "gpu"], "unknown resource"),
        (["fleet", "--timescale", "1h,1d"], "give one timescale, got '1h,1d'"),
        (["fleet", "--timescale", "2h"], "unknown timescale"),
        (["fleet", "--last", "-1"], "--last"),
        (["fleet", "--resource", "gpu"], "unknown resource"),
        (["fleet", "--share", "1.5"], "share must be above 0"),
        (["fleet", "--resource", ""], "no resource given"),
        (["overload", "--resource", ","], "no resource given"),
        (["ingest", "bitbrains", "x", "--disk-capacity", "fast"], "data rate"),
        (["series", "vm", "--from", "yesterday"], "--from"),
    ],
)
def test_usage_errors_exit_2_and_say_what(store, args, message):
    result = invoke(*args, "--store", store)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


def test_unknown_entity_exits_1(store):
    invoke("ingest", "planetlab", FIXTURES / "planetlab" / "20110303", "--store", store)
    result = invoke("series", "ghost", "--store", store)
    assert result.exit_code == 1
    assert "no entity 'ghost'" in result.stderr


def test_entities_and_series_show_what_was_ingested(store):
    invoke("ingest", "planetlab", FIXTURES / "planetlab" / "20110303", "--store", store)
    listed = json.loads(invoke("entities", "--store", store, "--json").stdout)
    names = sorted(path.name for path in (FIXTURES / "planetlab" / "20110303").iterdir())
    assert [row["entity"] for row in listed] == names
    assert {row["samples"] for row in listed} == {288}
    series = invoke(
        "series", names[0], "--store", store, "--from", "2011-03-03T01:00", "--to", "2011-03-03T02:00"
    )
    lines = series.stdout.strip().splitlines()
    assert lines[0] == "ts,used,capacity,utilization"
    percent = np.loadtxt(FIXTURES / "planetlab" / "20110303" / names[0])[12:24]
    assert [float(line.split(",")[1]) for line in lines[1:]] == list(percent / 100)
    assert lines[1].startswith("2011-03-03T01:00:00Z")


@pytest.mark.parametrize("command", sorted(command_paths()))
def test_every_command_has_help(command):
    result = invoke(*command.split(), "--help")
    assert result.exit_code == 0
    assert "Example:" in result.stdout, command


def test_the_tree_holds_every_command():
    assert {"ingest planetlab", "ingest prometheus", "overload", "listen", "compact"} <= set(command_paths())


def test_demo_prints_both_reports(tmp_path):
    result = invoke("demo", "--no-serve", "--keep-in", tmp_path)
    assert result.exit_code == 0, result.output
    assert "PlanetLab, 2011-03-03" in result.stdout and "Bitbrains Rnd, August 2013" in result.stdout
    assert "302,976" in result.stdout  # 1052 VMs x 288 samples
    report = json.loads(
        invoke(
            "overload", "--store", tmp_path / "demo-planetlab.duckdb", "--resource", "cpu", "--json"
        ).stdout
    )
    assert report["cells"][0]["entities"] == 1052


def test_fleet_last_keeps_the_latest_windows_of_each_resource(store):
    assert invoke("ingest", "bitbrains", FIXTURES / "bitbrains" / "2013-7", "--store", store).exit_code == 0
    whole = json.loads(invoke("fleet", "--timescale", "1h", "--json", "--store", store).stdout)["windows"]
    latest = json.loads(
        invoke("fleet", "--timescale", "1h", "--last", "5", "--json", "--store", store).stdout
    )
    for resource in {row["resource"] for row in whole}:
        mine = [row for row in whole if row["resource"] == resource]
        assert [row for row in latest["windows"] if row["resource"] == resource] == mine[-5:]
