import collections
import random

import numpy as np
import pandas as pd
import pytest
from benchmarks.notification_stream import build_stream

from stackmeter.analysis.pairing import ACTIONS, classify, events_frame, pair_operations, paired_event_types
from stackmeter.models import Event
from stackmeter.sources.notifications import parse_messages

T0 = np.datetime64("2026-03-02T10:00", "ns")
AS_OF = np.datetime64("2026-03-02T12:00", "ns")


def event(seconds, event_type, instance="vm-1", request="req-1", message_id=None, fault=None, host="cn-1"):
    return Event(
        ts=T0 + np.timedelta64(round(seconds * 1e9), "ns"),
        event_type=event_type,
        instance=instance,
        request_id=request,
        host=host,
        project="p-1",
        flavor="m1.small",
        state="active",
        fault=fault,
        message_id=message_id or f"{event_type}@{seconds}/{instance}/{request}",
    )


def pair(events, as_of=AS_OF, **kwargs):
    return pair_operations(events_frame(events), as_of, **kwargs)


@pytest.mark.parametrize(
    ("event_type", "failed", "expected"),
    [
        ("compute.instance.create.start", False, ("create", "start")),
        ("instance.create.end", False, ("create", "end")),
        ("compute.instance.resize.prep.start", False, ("resize_prep", "start")),
        ("instance.resize_prep.end", False, ("resize_prep", "end")),
        ("compute.instance.finish_resize.end", False, ("resize_finish", "end")),
        ("instance.resize_finish.end", False, ("resize_finish", "end")),
        ("compute.instance.resize.confirm.start", False, ("resize_confirm", "start")),
        ("compute.instance.live_migration._post.start", False, ("live_migration_post", "start")),
        ("instance.live_migration_pre.error", False, ("live_migration_pre", "error")),
        ("compute.instance.shelve_offload.end", False, ("shelve_offload", "end")),
        ("compute_task.build_instances.error", False, ("create", "error")),
        ("terminate_instance", True, ("delete", "error")),
        ("terminate_instance", False, None),
        ("compute.instance.update", False, None),
        ("compute.instance.exists", False, None),
        ("compute.instance.instance.create.error", True, None),
        ("aggregate.create.start", False, None),
        ("instance.frobnicate.start", False, None),
        ("scheduler.run_instance.start", False, None),
    ],
)
def test_classify(event_type, failed, expected):
    assert classify(event_type, failed) == expected


def test_start_and_end_make_one_timed_operation():
    operations = pair([event(0, "compute.instance.reboot.start"), event(42.5, "compute.instance.reboot.end")])
    assert len(operations) == 1
    row = operations.iloc[0]
    assert (row.operation, row.outcome, row.duration_s, row.started) == ("reboot", "success", 42.5, True)
    assert (row.host, row.flavor, row.project) == ("cn-1", "m1.small", "p-1")


def test_error_closes_with_its_fault():
    operations = pair(
        [event(0, "instance.snapshot.start"), event(7, "instance.snapshot.error", fault="Boom: no")]
    )
    row = operations.iloc[0]
    assert (row.outcome, row.duration_s, row.fault) == ("error", 7.0, "Boom: no")


def test_out_of_order_arrival_is_ordered_by_timestamp():
    arrived = [event(30, "compute.instance.delete.end"), event(0, "compute.instance.delete.start")]
    row = pair(arrived).iloc[0]
    assert (row.outcome, row.duration_s) == ("success", 30.0)


def test_duplicates_count_once():
    start, end = event(0, "instance.power_off.start"), event(3, "instance.power_off.end")
    operations = pair([start, start, end, end, end])
    assert len(operations) == 1
    assert operations.iloc[0].duration_s == 3.0


def test_end_without_start_is_counted_without_a_duration():
    operations = pair([event(5, "compute.instance.delete.end")])
    row = operations.iloc[0]
    assert (row.started, row.outcome, pd.isna(row.duration_s), pd.isna(row.start)) == (
        False,
        "success",
        True,
        True,
    )


def test_no_end_is_timed_out_after_the_limit_and_running_before():
    start = event(0, "instance.shelve.start")
    assert pair([start], as_of=T0 + np.timedelta64(31, "m")).iloc[0].outcome == "timed_out"
    assert pair([start], as_of=T0 + np.timedelta64(29, "m")).iloc[0].outcome == "running"
    short = pair([start], as_of=T0 + np.timedelta64(6, "m"), timeout_s=300)
    assert short.iloc[0].outcome == "timed_out"


def test_unknown_event_types_are_not_paired():
    events = [
        event(0, "compute.instance.update"),
        event(1, "instance.frobnicate.start"),
        event(2, "aggregate.x.end"),
    ]
    assert pair(events).empty


def test_same_action_of_different_requests_or_instances_is_kept_apart():
    events = [
        event(0, "instance.reboot.start", instance="a"),
        event(1, "instance.reboot.start", instance="b"),
        event(10, "instance.reboot.end", instance="b"),
        event(20, "instance.reboot.end", instance="a"),
        event(30, "instance.reboot.start", instance="a", request="req-2"),
        event(31, "instance.reboot.end", instance="a", request="req-2"),
    ]
    got = sorted(
        zip(pair(events)["instance"], pair(events)["request_id"], pair(events)["duration_s"], strict=True)
    )
    assert got == [("a", "req-1", 20.0), ("a", "req-2", 1.0), ("b", "req-1", 9.0)]


def test_rescheduled_create_gives_one_attempt_per_start_and_a_scheduling_phase():
    events = [
        event(0, "scheduler.run_instance.start"),
        event(2, "compute.instance.create.start", host="cn-1"),
        event(60, "compute.instance.create.error", fault="re-scheduled", host="cn-1"),
        event(61, "scheduler.run_instance.start"),
        event(64, "compute.instance.create.start", host="cn-2"),
        event(100, "compute.instance.create.end", host="cn-2"),
        event(101, "compute.instance.create.end", message_id="late duplicate with its own id"),
    ]
    operations = pair(events)
    assert list(operations["outcome"]) == ["error", "success", "success"]
    assert list(operations["host"]) == ["cn-1", "cn-2", "cn-1"]
    assert list(operations["duration_s"].fillna(-1)) == [58.0, 36.0, -1]
    assert list(operations["started"]) == [True, True, False]
    assert list(operations["scheduling_s"].fillna(-1)) == [2.0, 3.0, -1]


def test_legacy_exception_notification_fails_the_open_action():
    events = [
        event(0, "compute.instance.delete.start"),
        event(4.5, "terminate_instance", fault="terminate_instance"),
    ]
    row = pair(events).iloc[0]
    assert (row.operation, row.outcome, row.duration_s) == ("delete", "error", 4.5)


def test_events_without_instance_are_not_paired():
    assert pair([event(0, "instance.create.start", instance=None)]).empty


def test_generated_stream_matches_planted_operations():
    stream = build_stream(120, seed=11)
    random.Random(3).shuffle(stream.messages)  # arrival order must not matter
    events, dead = parse_messages([body for _, body in stream.messages], "q", T0)
    assert len(dead) == stream.malformed
    last = np.datetime64(stream.last_ts.replace(tzinfo=None), "ns")
    operations = pair_operations(events_frame(events), last + np.timedelta64(1, "h"))

    def key(operation, instance, request, started, duration, outcome):
        duration = None if duration is None or pd.isna(duration) else round(duration, 6)
        return operation, instance, request, bool(started), duration, outcome

    got = collections.Counter(
        key(row.operation, row.instance, row.request_id, row.started, row.duration_s,
            "open" if row.outcome == "timed_out" else row.outcome)
        for row in operations.itertuples()
    )  # fmt: skip
    assert got == collections.Counter(key(*planted) for planted in stream.planted)
    assert {"success", "error", "open"} <= {planted.outcome for planted in stream.planted}


def test_pairing_the_paired_event_types_alone_gives_the_same_operations():
    """What the store is asked for (updates, audits and unknown names left out) pairs as every event does."""
    stream = build_stream(200, seed=17)
    events, _ = parse_messages([body for _, body in stream.messages], "q", T0)
    frame = events_frame(events)
    last = np.datetime64(stream.last_ts.replace(tzinfo=None), "ns")
    kinds = set(zip(frame["event_type"], frame["fault"].notna(), strict=True))
    whole = pair_operations(frame, last)
    wanted = paired_event_types(kinds)
    assert "compute.instance.update" not in wanted and "scheduler.run_instance.start" in wanted
    assert len(wanted) < len({kind for kind, _ in kinds})
    pd.testing.assert_frame_equal(pair_operations(frame[frame["event_type"].isin(wanted)], last), whole)
    for operation in ("create", "delete", "resize_prep"):
        wanted = paired_event_types(kinds, operation)
        assert all(
            classify(*kind) is None or classify(*kind)[0] == operation for kind in kinds if kind[0] in wanted
        )
        alone = pair_operations(frame[frame["event_type"].isin(wanted)], last)
        expected = whole[whole["operation"] == operation].reset_index(drop=True)
        pd.testing.assert_frame_equal(alone[alone["operation"] == operation].reset_index(drop=True), expected)
        assert ("scheduler.run_instance.start" in wanted) == (operation == "create")


def test_exception_notifications_are_asked_for_only_with_their_fault():
    assert paired_event_types([("terminate_instance", False)]) == frozenset()
    assert paired_event_types([("terminate_instance", True)]) == {"terminate_instance"}
    assert paired_event_types([("terminate_instance", True)], "reboot") == frozenset()
    assert {
        action for action in ACTIONS if paired_event_types([(f"instance.{action}.start", False)], action)
    } == ACTIONS
