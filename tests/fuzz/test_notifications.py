"""Notification messages with garbage among them: valid events all land, garbage becomes dead letters."""

from __future__ import annotations

import functools
import itertools
import json
import tempfile
from pathlib import Path

import numpy as np
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.models import DeadLetter, Event
from stackmeter.models.domain import TIME_MAX_S, TIME_MIN_S
from stackmeter.sources.notifications import parse_message
from stackmeter.store import open_store
from tests.fuzz import garbage
from tests.fuzz.garbage import brief
from tests.store.sql import connection_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nova_notifications"
SAMPLES = {
    path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(FIXTURES.glob("*.json"))
}
RECEIVED = np.datetime64("2026-03-02T12:00", "ns")
EXAMPLES = itertools.count()
JSON_GARBAGE = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
OSLO_TIMES = st.datetimes().map(lambda moment: moment.strftime("%Y-%m-%d %H:%M:%S.%f"))


def valid_messages(n: int) -> list[dict]:
    """Each fixture as the bus carries it: with a message id (of example ``n``) and a timestamp."""
    return [
        {**message, "message_id": f"{name}-{n}", "timestamp": f"2026-03-02 10:00:{i:02d}.250000"}
        for i, (name, message) in enumerate(SAMPLES.items())
    ]


def envelope(message: object) -> dict:
    return {"oslo.version": "2.0", "oslo.message": json.dumps(message, allow_nan=True)}


@st.composite
def garbage_messages(draw) -> bytes:
    """One line of garbage: bytes, a cut or re-encoded message, or a message with a field gone bad."""
    message = dict(draw(st.sampled_from(list(SAMPLES.values()))))
    message["timestamp"] = "2026-03-02 11:00:00"
    kind = draw(st.sampled_from(("bytes", "cut", "encoding", "field", "field", "field", "envelope", "deep")))
    if kind == "bytes":
        return draw(garbage.lines())
    text = json.dumps(message)
    if kind == "cut":
        return text[: draw(st.integers(0, len(text) - 1))].encode()
    if kind == "encoding":
        return text.encode(draw(st.sampled_from(("utf-16", "utf-32", "cp500"))))
    if kind == "deep":
        depth = draw(st.integers(1, 5000))
        return (
            ("[" * depth + "]" * depth).encode()
            if draw(st.booleans())
            else b'{"a":' * depth + b"1" + b"}" * depth
        )
    field = draw(
        st.sampled_from(("timestamp", "timestamp", "event_type", "payload", "message_id", "priority"))
    )
    value = draw(
        st.one_of(garbage.times(), OSLO_TIMES, JSON_GARBAGE)
        if field == "timestamp"
        else st.one_of(JSON_GARBAGE, garbage.values())
    )
    message[field] = value
    if field != "message_id":
        message["message_id"] = f"garbage-{draw(st.uuids())}"
    raw = json.dumps(message if kind == "field" else envelope(message), allow_nan=True)
    return raw.replace("\n", " ").encode("utf-8", "surrogatepass")


def assert_readable(item: Event | DeadLetter) -> None:
    """An event has a time in the domain; every text of either is valid UTF-8."""
    if isinstance(item, Event):
        assert TIME_MIN_S <= item.ts.astype("datetime64[ns]").astype(np.int64) / 1e9 < TIME_MAX_S, item.ts
        texts = [value for value in item if isinstance(value, str)]
    else:
        texts = [item.origin, item.reason, item.detail, item.body, item.digest]
    for text in texts:
        text.encode("utf-8")


@given(body=garbage_messages())
def test_parse_message_never_raises_and_events_are_in_the_domain(body):
    assert_readable(parse_message(body, "q", RECEIVED))
    assert_readable(parse_message(body.decode("utf-8", "replace"), "q", RECEIVED))


@given(
    body=st.dictionaries(st.sampled_from(("event_type", "payload", "timestamp", "message_id")), JSON_GARBAGE)
)
def test_parse_message_takes_any_decoded_message(body):
    """Some AMQP clients hand over the message already decoded."""
    assert_readable(parse_message(body, "q", RECEIVED))
    assert_readable(parse_message({**valid_messages(0)[0], **body}, "q", RECEIVED))
    assert_readable(parse_message(envelope(body), "q", RECEIVED))


@pytest.fixture(scope="module")
def store():
    with open_store(":memory:") as opened:
        yield opened


def events_of(store, message_ids: list[str]) -> dict[str, tuple]:
    rows = (
        connection_of(store)
        .execute(
            "SELECT message_id, epoch_us(ts), event_type, instance, request_id, host, project, flavor, state, fault "
            "FROM events WHERE list_contains(?, message_id)",
            [message_ids],
        )
        .fetchall()
    )
    return {row[0]: row[1:] for row in rows}


@functools.cache
def clean_events() -> list[tuple]:
    """The rows the valid messages alone give, in a store of their own, in fixture order."""
    with tempfile.TemporaryDirectory() as folder, open_store(":memory:") as alone:
        path = Path(folder) / "capture.jsonl"
        path.write_bytes(b"\n".join(orjson.dumps(message) for message in valid_messages(0)) + b"\n")
        operations.ingest_notifications(alone, path)
        ids = [message["message_id"] for message in valid_messages(0)]
        rows = events_of(alone, ids)
        return [rows[message_id] for message_id in ids]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("notifications")


@given(data=st.data())
def test_garbage_lines_become_dead_letters_and_valid_events_all_land(store, folder, data):
    n = next(EXAMPLES)
    valid = [orjson.dumps(message) for message in valid_messages(n)]
    lines = list(valid)
    junk = data.draw(st.lists(garbage_messages(), min_size=1, max_size=5), label="garbage")
    for line in junk:
        lines.insert(data.draw(st.integers(0, len(lines))), line.replace(b"\n", b" "))
    path = folder / f"capture-{n}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = operations.ingest_notifications(store, path)
    ids = [message["message_id"] for message in valid_messages(n)]
    landed = events_of(store, ids)
    assert set(landed) == set(ids), f"valid events lost: {sorted(set(ids) - set(landed))}"
    assert [landed[message_id] for message_id in ids] == clean_events()  # as without the garbage
    nonblank = [line for line in junk if line.strip()]
    assert summary.messages == len(valid) + len(nonblank)
    assert summary.events_added + summary.duplicates + summary.dead_letters == summary.messages
    (outside,) = (
        connection_of(store)
        .execute(
            f"SELECT count(*) FROM events WHERE epoch_us(ts) < {int(TIME_MIN_S) * 10**6} "
            f"OR epoch_us(ts) >= {int(TIME_MAX_S) * 10**6}"
        )
        .fetchall()[0]
    )
    assert outside == 0
    for letter in operations.dead_letters(store, limit=len(nonblank))[1]:
        assert_readable(letter)
    if n == 0 or summary.events_added > len(valid):  # garbage became events: the store still reports
        operations.operation_timings(store, "1d", by="host")
    data.draw(st.just([brief(line, 60) for line in junk]), label="garbage, briefly")
