import json
import random
from datetime import UTC, datetime

import numpy as np
import pytest
from benchmarks.notification_stream import SEQUENCES, VERSIONED, materialise
from hypothesis import given, settings
from hypothesis import strategies as st

from stackmeter.errors import SourceUnavailable
from stackmeter.models import (
    BAD_PAYLOAD,
    BAD_TIMESTAMP,
    NO_EVENT_TYPE,
    NOT_AN_OBJECT,
    NOT_JSON,
    WRONG_ENVELOPE,
    DeadLetter,
    Event,
)
from stackmeter.sources.notifications import digest, parse_message, parse_messages, read_jsonl

RECEIVED = np.datetime64("2026-03-02T12:00", "ns")


def versioned(name, **extra):
    message = json.loads((VERSIONED / f"{name}.json").read_text())
    message.update({"message_id": "9f3c", "timestamp": "2026-03-02 10:00:01.250000"}, **extra)
    return message


def legacy(sequence, index):
    messages = json.loads((SEQUENCES / f"{sequence}.json").read_text())
    start = datetime(2026, 3, 2, 9, 0)
    return materialise(messages, start, 1.0, random.Random(1))[index]


def envelope(message):
    return json.dumps({"oslo.version": "2.0", "oslo.message": json.dumps(message)})


def test_versioned_create_error_in_an_envelope():
    event = parse_message(envelope(versioned("instance-create-error")), "q", RECEIVED)
    assert event == Event(
        ts=np.datetime64("2026-03-02T10:00:01.250000", "ns"),
        event_type="instance.create.error",
        instance="178b0921-8f85-4257-88b6-2e743b5a975c",
        request_id="req-5b6c791d-5709-4f36-8fbe-c3e02869e35d",
        host="compute",  # the payload has none: taken from publisher_id nova-compute:compute
        project="6f70656e737461636b20342065766572",
        flavor="test_flavor",
        state="building",
        fault="FlavorDiskTooSmall: The created instance's disk would be too small.",
        message_id="9f3c",
    )


def test_bare_versioned_message_and_context_request_id_wins():
    message = versioned("instance-delete-end", _context_request_id="req-from-context")
    event = parse_message(json.dumps(message).encode(), "q", RECEIVED)
    assert (event.event_type, event.request_id, event.host, event.fault) == (
        "instance.delete.end",
        "req-from-context",
        "compute",
        None,
    )


def test_legacy_create_end_from_a_production_sequence():
    message = legacy("compute.instance.create.start_24", -1)
    event = parse_message(envelope(message), "q", RECEIVED)
    assert event.event_type == "compute.instance.create.end"
    assert event.instance == message["payload"]["instance_id"]
    assert event.request_id == message["_context_request_id"]
    assert event.host == message["payload"]["host"]
    assert event.project == message["payload"]["tenant_id"]
    assert event.flavor == "512MB Standard Instance"
    assert event.state == "active"
    assert event.ts == np.datetime64(datetime.strptime(message["timestamp"], "%Y-%m-%d %H:%M:%S.%f"), "ns")
    assert event.message_id == message["message_id"]


def test_legacy_exception_notification_takes_the_instance_from_the_call_arguments():
    message = legacy("compute.instance.delete.start_7", -1)
    event = parse_message(message, "q", RECEIVED)
    assert event.event_type == "terminate_instance"
    assert event.instance == message["payload"]["args"]["instance"]["uuid"]
    assert event.fault == "terminate_instance"  # ERROR priority, exception without a text


@pytest.mark.parametrize(
    ("sequence", "fault"),
    [
        ("compute.instance.rebuild.start_14", "rebuild_instance: code 404"),
        (
            "compute.instance.create.start_65",
            "scheduler.run_instance: Exceeded max scheduling attempts 3 for instance {}, code 500",
        ),
    ],
)
def test_legacy_exception_notification_keeps_what_the_exception_kept(sequence, fault):
    message = legacy(sequence, -1)
    event = parse_message(message, "q", RECEIVED)
    assert event.fault == fault.format(event.instance)


def test_legacy_scheduler_start_takes_the_only_instance_of_the_request_spec():
    message = legacy("compute.instance.create.start_24", 1)
    event = parse_message(message, "q", RECEIVED)
    assert event.event_type == "scheduler.run_instance.start"
    assert event.instance == message["payload"]["request_spec"]["instance_uuids"][0]
    assert event.host == message["publisher_id"].split(".", 1)[1]


def test_message_without_id_is_identified_by_its_text():
    message = versioned("instance-update")
    del message["message_id"]
    text = json.dumps(message)
    assert parse_message(text, "q", RECEIVED).message_id == digest(text)


def test_unknown_event_types_are_events_too():
    message = versioned("aggregate-create-start")
    event = parse_message(message, "q", RECEIVED)
    assert (event.event_type, event.instance) == ("aggregate.create.start", None)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"event_type": "compute.instance.create.start", "payload": {', NOT_JSON),
        (b"\xff\xfe not utf-8", NOT_JSON),
        ("[1, 2]", NOT_AN_OBJECT),
        ('"just a string"', NOT_AN_OBJECT),
        ('{"oslo.version": "1.0", "oslo.message": "{}"}', WRONG_ENVELOPE),
        ('{"oslo.version": "2.0", "oslo.message": "{not json"}', WRONG_ENVELOPE),
        ('{"oslo.version": "2.0", "oslo.message": {"event_type": "x"}}', WRONG_ENVELOPE),
        ('{"oslo.version": "2.0", "oslo.message": "[1]"}', WRONG_ENVELOPE),
        ('{"oslo.message": "{}"}', WRONG_ENVELOPE),
        ('{"payload": {}, "timestamp": "2026-03-02 00:00:00"}', NO_EVENT_TYPE),
        ('{"event_type": 7, "payload": {}, "timestamp": "2026-03-02 00:00:00"}', NO_EVENT_TYPE),
        ('{"event_type": "compute.instance.update", "payload": {}}', BAD_TIMESTAMP),
        ('{"event_type": "compute.instance.update", "payload": {}, "timestamp": "yesterday"}', BAD_TIMESTAMP),
        ('{"event_type": "compute.instance.update", "payload": [], "timestamp": "2026-03-02"}', BAD_PAYLOAD),
    ],
)
def test_malformed_messages_become_dead_letters(body, reason):
    dead = parse_message(body, "notifications.info", RECEIVED)
    assert isinstance(dead, DeadLetter)
    assert (dead.reason, dead.origin, dead.received) == (reason, "notifications.info", RECEIVED)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    assert (dead.body, dead.digest) == (text, digest(text))


def test_timestamps_with_offsets_are_converted_to_utc():
    message = versioned("instance-update", timestamp="2026-03-02T12:00:00+02:00")
    assert parse_message(message, "q", RECEIVED).ts == np.datetime64("2026-03-02T10:00", "ns")


@pytest.mark.parametrize(
    "timestamp",
    [
        "0001-01-01 00:00:00",
        "9999-12-31 23:59:59.999999",
        "0001-01-01T00:30:00+02:00",  # converting to UTC leaves the years datetime holds
        "9999-12-31T23:00:00-05:00",
        "1969-12-31T23:59:59Z",
        "2200-01-01T00:00:00",
    ],
)
def test_timestamps_outside_the_domain_become_dead_letters(timestamp):
    message = versioned("instance-create-end", timestamp=timestamp)
    dead = parse_message(envelope(message), "notifications.info", RECEIVED)
    assert isinstance(dead, DeadLetter) and dead.reason == BAD_TIMESTAMP
    assert timestamp in dead.detail


def test_the_ends_of_the_domain():
    first = parse_message(versioned("instance-update", timestamp="1970-01-01T00:00:00Z"), "q", RECEIVED)
    last = parse_message(versioned("instance-update", timestamp="2199-12-31T23:59:59.999999"), "q", RECEIVED)
    assert first.ts == np.datetime64("1970-01-01T00:00:00", "ns")
    assert last.ts == np.datetime64("2199-12-31T23:59:59.999999", "ns")


def test_a_capture_with_a_time_outside_the_domain_keeps_its_other_lines(tmp_path):
    path = tmp_path / "capture.jsonl"
    lines = [
        envelope(versioned("instance-create-start")),
        envelope(versioned("instance-create-end", timestamp="9999-12-31 23:59:59")),
        envelope(versioned("instance-delete-end")),
    ]
    path.write_text("\n".join(lines) + "\n")
    found = dict(read_jsonl(path, RECEIVED))
    assert isinstance(found[2], DeadLetter) and found[2].origin == f"{path}:2"
    assert [found[1].event_type, found[3].event_type] == ["instance.create.start", "instance.delete.end"]


def test_parse_messages_splits_events_from_dead_letters():
    good = envelope(versioned("instance-reboot-start"))
    events, dead = parse_messages([good, "nope", good], "q", RECEIVED)
    assert [event.event_type for event in events] == ["instance.reboot.start"] * 2
    assert [letter.reason for letter in dead] == [NOT_JSON]


def test_read_jsonl_reports_file_and_line(tmp_path):
    path = tmp_path / "capture.jsonl"
    lines = [
        envelope(versioned("instance-reboot-start")),
        "",
        "{oops",
        json.dumps(versioned("instance-reboot-end")),
    ]
    path.write_text("\n".join(lines) + "\n")
    found = list(read_jsonl(path, RECEIVED))
    assert [number for number, _ in found] == [1, 3, 4]
    assert isinstance(found[1][1], DeadLetter) and found[1][1].origin == f"{path}:3"
    assert [item.event_type for _, item in found if isinstance(item, Event)] == [
        "instance.reboot.start",
        "instance.reboot.end",
    ]


def test_read_jsonl_of_a_missing_file_raises(tmp_path):
    with pytest.raises(SourceUnavailable, match="missing.jsonl"):
        list(read_jsonl(tmp_path / "missing.jsonl", RECEIVED))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
message_like = st.fixed_dictionaries(
    {},
    optional={
        "event_type": st.sampled_from(["instance.create.start", "compute.instance.delete.end", ""])
        | json_values,
        "timestamp": st.sampled_from(
            ["2026-03-02 10:00:00.5", "2026-03-02T10:00:00Z", "nope", "0001-01-01T00:00:00+01:00"]
        )
        | st.datetimes(timezones=st.just(UTC) | st.none()).map(datetime.isoformat)
        | json_values,
        "payload": st.fixed_dictionaries(
            {}, optional={"nova_object.data": json_values, "instance_id": json_values, "args": json_values}
        )
        | json_values,
        "message_id": json_values,
        "_context_request_id": json_values,
        "publisher_id": json_values,
        "priority": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | message_like.map(json.dumps) | message_like.map(envelope))
def test_parsing_never_raises(body):
    item = parse_message(body, "q", RECEIVED)
    assert isinstance(item, Event | DeadLetter)
    if isinstance(item, Event):
        assert np.datetime64("1970-01-01", "ns") <= item.ts < np.datetime64("2200-01-01", "ns")
