"""Notification streams with planted timings, built from real nova notification sequences.

The StackTach sequences were captured in production with their identifiers and times replaced
by placeholders: ``[[[[DT_n]]]]`` maps (in the sequence's ``time_map``) to (days, seconds,
microseconds) after the operation start, ``[[[[UUID_n]]]]``, ``[[[[V4_n]]]]``, ``[[[[host]]]]`` and
the like stand for ids. :func:`materialise` fills them: times after a chosen start, stretched by a
factor so that every operation gets its own planted duration, and fresh ids per operation.

:func:`build_stream` interleaves many such operations (plus versioned notifications from nova's
samples), drops the close of some so they never end, re-sends some messages, shuffles arrival
order locally and mixes in malformed messages. It returns the wire messages and, computed here
by walking each operation's own messages in order, what a correct consumer must find.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SEQUENCES = FIXTURES / "stacktach_sequences"
VERSIONED = FIXTURES / "nova_notifications"

_PLACEHOLDER = re.compile(r"\[\[\[\[([A-Za-z_]+?)(?:_(\d+))?\]\]\]\]")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
_LEGACY_PAIRED = re.compile(r"^compute\.instance\.(create|delete|shutdown|power_off|power_on|reboot|rebuild"
                            r"|rescue|unrescue|resize\.confirm|resize\.prep|resize|finish_resize|snapshot)"
                            r"\.(start|end|error)$")  # fmt: skip
_LEGACY_NAMES = {
    "resize.confirm": "resize_confirm",
    "resize.prep": "resize_prep",
    "finish_resize": "resize_finish",
}
_LEGACY_EXCEPTIONS = {
    "terminate_instance": "delete",
    "rebuild_instance": "rebuild",
    "snapshot_instance": "snapshot",
    "rescue_instance": "rescue",
    "scheduler.run_instance": "create",
}
_VERSIONED_PAIRS = ("create", "delete", "reboot", "snapshot", "power_off", "resize_prep",
                    "live_migration_pre", "shelve")  # fmt: skip
_SAMPLE_INSTANCE = "178b0921-8f85-4257-88b6-2e743b5a975c"
_SAMPLE_REQUEST = "req-5b6c791d-5709-4f36-8fbe-c3e02869e35d"


class Planted(NamedTuple):
    """An operation the stream holds, as a correct consumer must report it."""

    operation: str
    instance: str
    request_id: str
    started: bool
    duration_s: float | None  # None when it never ends or has no start
    outcome: str  # success | error | open (no close: running or timed out)


class Stream(NamedTuple):
    messages: list[tuple[str, str]]  # (routing key, body), in arrival order
    planted: list[Planted]
    malformed: int  # distinct malformed bodies in ``messages``
    duplicates: int  # messages sent twice
    valid: int  # distinct valid messages
    last_ts: datetime
    malformed_bodies: tuple[str, ...]  # what a dead-letter store must end up holding


def load_sequences(folder: Path = SEQUENCES) -> dict[str, list]:
    """Return the sequences of a folder by file stem (element 0 the placeholder map)."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))}


def materialise(sequence: list, start: datetime, stretch: float, rng: random.Random) -> list[dict]:
    """Return the messages of one sequence with every placeholder filled.

    Offsets at or after the operation start are multiplied by ``stretch``; ids are fresh.
    """
    time_map = sequence[0]["time_map"]
    host = f"compute-{rng.randrange(40):02d}"
    values: dict[str, str] = {
        "host": host,
        "node": host,
        "publisher_id": f"compute.{host}",
        "tenant_id": f"project-{rng.randrange(12)}",
        "user_id": f"user-{rng.randrange(100)}",
        "hostname": f"vm-{rng.randrange(10**6)}",
        "display_name": f"vm-{rng.randrange(10**6)}",
        "image_name": "image",
        "device_name": "/dev/xvdb",
        "reservation_id": f"r-{rng.randrange(16**8):08x}",
    }
    for name, (days, seconds, micros) in time_map.items():
        offset_us = (days * 86_400 + seconds) * 1_000_000 + micros
        if offset_us > 0:
            offset_us = round(offset_us * stretch)
        values[name[4:-4]] = (start + timedelta(microseconds=offset_us)).strftime(_TIME_FORMAT)

    def fill(match: re.Match) -> str:
        kind, number = match.group(1), match.group(2)
        key = match.group(0)[4:-4]
        if key not in values:
            values[key] = _fresh(kind, int(number or 0), rng)
        return values[key]

    text = _PLACEHOLDER.sub(fill, json.dumps(sequence[1:]))
    return json.loads(text)


def planted_operations(messages: list[dict]) -> list[Planted]:
    """Walk one operation's messages in order and return the paired actions they hold."""
    found: list[Planted] = []
    open_starts: dict[str, datetime] = {}
    instance = request = ""
    for message in messages:
        event_type = message["event_type"]
        request = message.get("_context_request_id") or request
        payload = message.get("payload") or {}
        instance = payload.get("instance_id") or instance
        ts = datetime.strptime(message["timestamp"], _TIME_FORMAT)
        match = _LEGACY_PAIRED.match(event_type)
        if match:
            action, phase = _LEGACY_NAMES.get(match.group(1), match.group(1)), match.group(2)
        elif message.get("priority") == "ERROR" and event_type in _LEGACY_EXCEPTIONS:
            action, phase = _LEGACY_EXCEPTIONS[event_type], "error"
        else:
            continue
        if phase == "start":
            if action in open_starts:
                found.append(Planted(action, instance, request, True, None, "open"))
            open_starts[action] = ts
            continue
        outcome = "success" if phase == "end" else "error"
        begun = open_starts.pop(action, None)
        duration = (ts - begun).total_seconds() if begun else None
        found.append(Planted(action, instance, request, begun is not None, duration, outcome))
    found += [Planted(action, instance, request, True, None, "open") for action in open_starts]
    return found


def versioned_operation(action: str, start: datetime, duration_s: float, rng: random.Random) -> list[dict]:
    """Return a ``.start`` and ``.end`` versioned notification pair from nova's samples."""
    instance, request = str(uuid.UUID(int=rng.getrandbits(128))), f"req-{uuid.UUID(int=rng.getrandbits(128))}"
    stem = f"instance-{action}"
    pair = []
    for phase, ts in (("start", start), ("end", start + timedelta(seconds=duration_s))):
        text = (VERSIONED / f"{stem}-{phase}.json").read_text()
        message = json.loads(text.replace(_SAMPLE_INSTANCE, instance).replace(_SAMPLE_REQUEST, request))
        message["message_id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        message["timestamp"] = ts.strftime(_TIME_FORMAT)
        pair.append(message)
    return pair


def build_stream(
    operations: int,
    seed: int = 5,
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC),
    span_s: float = 6 * 3600,
    never_end_share: float = 0.05,
    duplicate_share: float = 0.02,
    malformed: int = 100,
    versioned_share: float = 0.2,
    sequences: dict[str, list] | None = None,
) -> Stream:
    """Return an interleaved stream of ``operations`` operations with planted timings."""
    rng = random.Random(seed)
    sequences = sequences if sequences is not None else load_sequences()
    names = sorted(sequences)
    timed: list[tuple[datetime, dict]] = []
    planted: list[Planted] = []
    naive_start = start.replace(tzinfo=None)
    for _ in range(operations):
        begin = naive_start + timedelta(seconds=rng.uniform(0, span_s))
        if rng.random() < versioned_share:
            action = rng.choice(_VERSIONED_PAIRS)
            duration = round(rng.uniform(0.5, 900.0), 6)
            messages = versioned_operation(action, begin, duration, rng)
            instance = messages[0]["payload"]["nova_object.data"]["uuid"]
            request = messages[0]["payload"]["nova_object.data"]["request_id"]
            if rng.random() < never_end_share:
                messages = messages[:1]
                planted.append(Planted(action, instance, request, True, None, "open"))
            else:
                planted.append(Planted(action, instance, request, True, duration, "success"))
        else:
            messages = materialise(sequences[rng.choice(names)], begin, rng.uniform(0.5, 3.0), rng)
            if rng.random() < never_end_share:
                messages = _drop_last_close(messages)
            planted += planted_operations(messages)
        timed += [(_message_time(message), message) for message in messages]
    timed.sort(key=lambda pair: pair[0])
    wire = [_on_the_wire(message, rng) for _, message in timed]
    valid = len(wire)
    duplicates = [wire[i] for i in rng.sample(range(len(wire)), int(len(wire) * duplicate_share))]
    wire += duplicates
    _shuffle_locally(wire, rng, block=40)
    bad = [("notifications.info", body) for body in malformed_bodies(malformed, rng)]
    for body in bad:
        wire.insert(rng.randrange(len(wire) + 1), body)
    last_ts = max(ts for ts, _ in timed).replace(tzinfo=UTC)
    return Stream(wire, planted, malformed, len(duplicates), valid, last_ts, tuple(body for _, body in bad))


def malformed_bodies(count: int, rng: random.Random) -> list[str]:
    """Return ``count`` distinct malformed messages of the kinds a bus can carry."""
    makers = [
        lambda n: f'{{"event_type": "compute.instance.create.start", "payload": {{"broken": {n}',
        lambda n: json.dumps([n, "not an object"]),
        lambda n: json.dumps({"oslo.version": "1.0", "oslo.message": json.dumps({"n": n})}),
        lambda n: json.dumps({"oslo.version": "2.0", "oslo.message": f"{{not json {n}"}),
        lambda n: json.dumps({"payload": {}, "timestamp": "2026-03-02 00:00:00", "message_id": f"m{n}"}),
        lambda n: json.dumps({"event_type": "compute.instance.update", "timestamp": f"yesterday {n}",
                              "payload": {}, "message_id": f"bad-ts-{n}"}),
        lambda n: json.dumps({"event_type": "compute.instance.update", "timestamp": "2026-03-02 00:00:00",
                              "payload": f"text {n}", "message_id": f"bad-payload-{n}"}),
    ]  # fmt: skip
    return [makers[n % len(makers)](f"{n}-{rng.randrange(10**9)}") for n in range(count)]


def _fresh(kind: str, number: int, rng: random.Random) -> str:
    if kind == "UUID":
        return str(uuid.UUID(int=rng.getrandbits(128)))
    if kind == "XUUID":
        return f"{rng.getrandbits(128):032x}"
    if kind == "V4":
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    if kind == "V6":
        return f"fd00::{rng.randrange(65536):x}:{rng.randrange(65536):x}"
    return f"{kind}-{number}-{rng.randrange(10**6)}"


def _drop_last_close(messages: list[dict]) -> list[dict]:
    for index in range(len(messages) - 1, -1, -1):
        event_type = messages[index]["event_type"]
        if event_type.endswith((".end", ".error")) or event_type in _LEGACY_EXCEPTIONS:
            return messages[:index]
    return messages


def _message_time(message: dict) -> datetime:
    return datetime.strptime(message["timestamp"], _TIME_FORMAT)


def _on_the_wire(message: dict, rng: random.Random) -> tuple[str, str]:
    """Return (routing key, body): mostly in the oslo 2.0 envelope, some bare."""
    versioned = "nova_object.data" in (message.get("payload") or {})
    topic = "versioned_notifications" if versioned else "notifications"
    key = f"{topic}.{str(message.get('priority', 'INFO')).lower()}"
    text = json.dumps(message)
    if rng.random() < 0.8:
        text = json.dumps({"oslo.version": "2.0", "oslo.message": text})
    return key, text


def _shuffle_locally(items: list, rng: random.Random, block: int) -> None:
    for first in range(0, len(items), block):
        chunk = items[first : first + block]
        rng.shuffle(chunk)
        items[first : first + block] = chunk
