import csv
import io
import json

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
