import collections
import json

import numpy as np
import pandas as pd
import pytest
from benchmarks.notification_stream import build_stream

from stackmeter import operations
from stackmeter.errors import ConfigError
from stackmeter.models import NOT_JSON, WRONG_ENVELOPE, Parsed, make_samples


@pytest.fixture(scope="module")
def stream():
    return build_stream(150, seed=21, malformed=20)


def write_capture(path, stream, extra=()):
    path.write_text("\n".join([body for _, body in stream.messages] + list(extra)) + "\n")
    return path


def test_ingest_a_captured_stream_then_again(store, stream, tmp_path):
    path = write_capture(tmp_path / "capture.jsonl", stream)
    summary = operations.ingest_notifications(store, path, batch_messages=500)
    assert summary.messages == len(stream.messages)
    assert summary.events_added == stream.valid
    assert summary.duplicates == stream.duplicates
    assert summary.dead_letters == stream.malformed
    assert summary.batches == -(-len(stream.messages) // 500)
    assert all(letter.origin.startswith(f"{path}:") for letter in summary.dead_examples)
    again = operations.ingest_notifications(store, path)
    assert (again.events_added, again.duplicates) == (0, stream.valid + stream.duplicates)
    count, _ = operations.dead_letters(store)
    assert count == stream.malformed


def test_bad_lines_are_reported_with_file_and_line_and_valid_ones_land(store, tmp_path):
    good = {
        "event_type": "instance.reboot.start",
        "payload": {},
        "timestamp": "2026-03-02 10:00:00",
        "message_id": "a",
    }
    path = tmp_path / "few.jsonl"
    path.write_text(json.dumps(good) + "\n{oops\n" + json.dumps({"oslo.version": "9"}) + "\n")
    summary = operations.ingest_notifications(store, path)
    assert summary.events_added == 1
    assert summary.dead_by_reason == {NOT_JSON: 1, WRONG_ENVELOPE: 1}
    assert [letter.origin for letter in summary.dead_examples] == [f"{path}:2", f"{path}:3"]


def test_operation_timings_from_the_store(store, stream, tmp_path):
    operations.ingest_notifications(store, write_capture(tmp_path / "c.jsonl", stream))
    report = operations.operation_timings(store, "1d")
    planted = collections.Counter((p.operation, p.outcome) for p in stream.planted)
    stats = report.stats.groupby("operation")[["count", "success", "error", "timed_out", "running"]].sum()
    for operation in {p.operation for p in stream.planted}:
        row = stats.loc[operation]
        assert row["count"] == sum(n for (op, _), n in planted.items() if op == operation)
        assert row["error"] == planted[(operation, "error")]
        assert row["timed_out"] + row["running"] == planted[(operation, "open")]
    durations = [p.duration_s for p in stream.planted if p.operation == "reboot" and p.outcome == "success"]
    reboot = report.stats[report.stats["operation"] == "reboot"]
    assert reboot["max_s"].max() == pytest.approx(max(durations), abs=1e-6)
    assert report.stats["fleet_cpu_utilization"].isna().all()  # no samples in this store


def test_operation_filter_and_grouping(store, stream, tmp_path):
    operations.ingest_notifications(store, write_capture(tmp_path / "c.jsonl", stream))
    report = operations.operation_timings(store, "1h", operation="create", by="host")
    assert set(report.stats["operation"]) == {"create"}
    assert report.operations == sum(1 for p in stream.planted if p.operation == "create")
    assert "host" in report.stats.columns


def test_timeout_decides_what_timed_out(store, tmp_path):
    start = {"event_type": "instance.snapshot.start", "timestamp": "2026-03-02 10:00:00", "message_id": "s",
             "payload": {"nova_object.data": {"uuid": "vm", "request_id": "r"}}}  # fmt: skip
    later = {
        "event_type": "instance.update",
        "timestamp": "2026-03-02 10:20:00",
        "message_id": "u",
        "payload": {},
    }
    path = tmp_path / "open.jsonl"
    path.write_text(json.dumps(start) + "\n" + json.dumps(later) + "\n")
    operations.ingest_notifications(store, path)
    assert operations.operation_timings(store).stats["running"].tolist() == [1]  # 20 min < 30 min
    assert operations.operation_timings(store, timeout_s=600).stats["timed_out"].tolist() == [1]
    as_of = np.datetime64("2026-03-02T11:00", "ns")
    assert operations.operation_timings(store, as_of=as_of).stats["timed_out"].tolist() == [1]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timescale": "2h"}, "unknown timescale"),
        ({"operation": "frobnicate"}, "unknown operation"),
        ({"by": "colour"}, "cannot group"),
        ({"timeout_s": 0}, "timeout"),
    ],
)
def test_bad_options_are_config_errors(store, options, message):
    with pytest.raises(ConfigError, match=message):
        operations.operation_timings(store, **options)


def test_fleet_cpu_utilization_stands_beside_the_operations_of_its_window(store, stream, tmp_path):
    operations.ingest_notifications(store, write_capture(tmp_path / "c.jsonl", stream))
    hours = np.arange("2026-03-02T00:00", "2026-03-02T06:00", np.timedelta64(5, "m"), dtype="datetime64[ns]")
    used = np.linspace(0.5, 7.5, hours.size)  # busy cores of an 8-core host, rising through the morning
    store.write_parsed([Parsed("cn", make_samples(hours, "cn-1", "cpu", used, 8.0))], source="test")
    stats = operations.operation_timings(store, "1h").stats
    for window, utilization in stats.groupby("window")["fleet_cpu_utilization"].first().items():
        in_hour = (hours >= window.tz_localize(None).to_datetime64()) & (
            hours < (window + pd.Timedelta(hours=1)).tz_localize(None).to_datetime64()
        )
        expected = (used[in_hour] / 8.0).mean() if in_hour.any() else np.nan
        assert utilization == pytest.approx(expected, nan_ok=True)
    assert stats["fleet_cpu_utilization"].notna().any()
