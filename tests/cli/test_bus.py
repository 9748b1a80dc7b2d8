import csv
import io
import json
import re

import numpy as np
import pytest
from benchmarks.notification_stream import build_stream
from typer.testing import CliRunner

from stackmeter.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def stream():
    return build_stream(100, seed=8, malformed=12)


@pytest.fixture
def loaded(tmp_path, stream):
    store = str(tmp_path / "cloud.duckdb")
    capture = tmp_path / "capture.jsonl"
    capture.write_text("\n".join(body for _, body in stream.messages) + "\n")
    result = runner.invoke(app, ["ingest", "notifications", str(capture), "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    return store, json.loads(result.stdout)


def test_ingest_notifications_json(loaded, stream):
    _, summary = loaded
    assert summary["events_added"] == stream.valid
    assert summary["dead_letters"] == stream.malformed


def test_operations_json_counts_planted_operations(loaded, stream):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store, "--timescale", "1d", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["operations"] == len(stream.planted)
    assert sum(row["count"] for row in report["stats"]) == len(stream.planted)
    assert sum(row["error"] for row in report["stats"]) == sum(p.outcome == "error" for p in stream.planted)
    assert report["stats"][0]["window"] == "2026-03-02T00:00:00Z"


def test_operations_csv_by_host(loaded):
    store, _ = loaded
    result = runner.invoke(
        app, ["operations", "--store", store, "--operation", "create", "--by", "host", "--csv"]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert rows and {row["operation"] for row in rows} == {"create"} and "host" in rows[0]


def test_operations_table(loaded):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "p95" in result.stdout and "Most frequent failures" in result.stdout


def test_deadletters_json(loaded, stream):
    store, _ = loaded
    result = runner.invoke(app, ["deadletters", "--store", store, "--limit", "3", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["dead_letters"] == stream.malformed and len(listed["latest"]) == 3


def test_unknown_grouping_is_a_usage_error(loaded):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store, "--by", "colour"])
    assert result.exit_code == 2
    assert "cannot group" in result.stderr


def test_a_file_without_any_notification_fails(tmp_path):
    capture = tmp_path / "junk.jsonl"
    capture.write_text("not json\n[1]\n")
    result = runner.invoke(
        app, ["ingest", "notifications", str(capture), "--store", str(tmp_path / "s.duckdb")]
    )
    assert result.exit_code == 1
    assert "no line of the file is a notification" in result.stderr


def test_missing_file_is_reported(tmp_path):
    result = runner.invoke(
        app, ["ingest", "notifications", str(tmp_path / "nope.jsonl"), "--store", ":memory:"]
    )
    assert result.exit_code == 1
    assert "nope.jsonl" in result.stderr


def test_operations_json_has_the_duration_histogram_of_the_planted_durations(loaded, stream):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store, "--json"])
    assert result.exit_code == 0, result.output
    durations = json.loads(result.stdout)["durations"]
    bins = durations["bins"]
    assert bins[0] == {"lower_s": 0.0, "upper_s": 0.1} and bins[-1] == {"lower_s": 86400.0, "upper_s": None}
    assert all(a["upper_s"] == b["lower_s"] for a, b in zip(bins, bins[1:], strict=False))
    edges = [b["lower_s"] for b in bins] + [float("inf")]

    def planted(operation: str, outcome: str) -> list[float]:
        return [p.duration_s for p in stream.planted
                if (p.operation, p.outcome) == (operation, outcome) and p.duration_s is not None]  # fmt: skip

    for row in durations["operations"]:
        for outcome, counts in (("success", row["success_counts"]), ("error", row["error_counts"])):
            assert counts == np.histogram(planted(row["operation"], outcome), bins=edges)[0].tolist()
            assert row[outcome] == sum(counts)
    assert {row["operation"] for row in durations["operations"]} == {
        p.operation for p in stream.planted if p.duration_s is not None
    }


@pytest.mark.parametrize("bins", [None, "10s,1m,5m,30m", "0.5,2,1h"])
def test_histogram_csv_rows_are_the_json_bins(loaded, bins):
    store, _ = loaded
    extra = ["--bins", bins] if bins else []
    as_json = json.loads(runner.invoke(app, ["operations", "--store", store, "--json", *extra]).stdout)
    result = runner.invoke(app, ["operations", "--store", store, "--histogram", "--csv", *extra])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == ["operation", "lower_s", "upper_s", "success", "error"]
    durations = as_json["durations"]
    expected = [
        (
            row["operation"],
            str(b["lower_s"]),
            "" if b["upper_s"] is None else str(b["upper_s"]),
            str(ok),
            str(failed),
        )
        for row in durations["operations"]
        for b, ok, failed in zip(durations["bins"], row["success_counts"], row["error_counts"], strict=True)
    ]
    assert [tuple(row.values()) for row in rows] == expected
    if bins:
        assert len(durations["bins"]) == len(bins.split(",")) + 1


def test_operations_tables_write_times_in_utc_and_durations_with_units(loaded):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store, "--timescale", "1d"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2026-03-02 00:00Z" in result.stdout and "+00:00" not in result.stdout
    assert "Durations per operation" in result.stdout and "timeout 30 min" in result.stdout
    assert re.search(r"\d+ min \d+ s", result.stdout) and re.search(r" \d\.\d s ", result.stdout)
    histogram = runner.invoke(app, ["operations", "--store", store, "--histogram"], env={"COLUMNS": "200"})
    assert histogram.exit_code == 0, histogram.output
    assert (
        re.search(r"│ +1 min │ +2 min │", histogram.stdout)
        and "Most frequent failures" not in histogram.stdout
    )


@pytest.mark.parametrize("bins", ["5,2", "lots", "0,1", "1,,2", "", "1e999", "-1"])
def test_bad_bins_are_a_usage_error_naming_them(loaded, bins):
    store, _ = loaded
    result = runner.invoke(app, ["operations", "--store", store, "--bins", bins])
    assert result.exit_code == 2, result.output
    assert "bins:" in result.stderr


def test_bins_written_as_in_python_or_with_a_leading_point_are_the_same(loaded):
    store, _ = loaded
    bins = [json.loads(runner.invoke(app, ["operations", "--store", store, "--json", "--bins", text]).stdout)
            ["durations"]["bins"] for text in (".5,2,1h", "0.5,2,1h")]  # fmt: skip
    assert bins[0] == bins[1] and bins[0][0] == {"lower_s": 0.0, "upper_s": 0.5}


def test_the_table_says_how_bins_grow_only_when_they_do(loaded):
    store, _ = loaded
    default = runner.invoke(app, ["operations", "--store", store], env={"COLUMNS": "200"}).stdout
    assert "Each bin ends 2 to 3 times later than the one before" in default
    mine = runner.invoke(
        app, ["operations", "--store", store, "--bins", "10s,1m,5m,30m"], env={"COLUMNS": "200"}
    )
    assert "2 to 3 times" not in mine.stdout and "--histogram lists the bins." in mine.stdout
