"""OpenStack notifications (oslo.messaging) as :class:`~stackmeter.models.Event` records.

Reads both what nova puts on the bus:

- the oslo.messaging 2.0 envelope ``{"oslo.version": "2.0", "oslo.message": "<JSON text>"}``
  and bare messages (older drivers, captured streams);
- versioned notifications (``payload["nova_object.data"]``) and legacy ones (``payload`` with
  flat keys, ``_context_*`` keys beside it).

A message that cannot be read becomes a :class:`~stackmeter.models.DeadLetter` with its reason;
nothing here raises on bad input.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import orjson

from stackmeter.errors import SourceUnavailable
from stackmeter.models import (
    BAD_PAYLOAD,
    BAD_TIMESTAMP,
    NO_EVENT_TYPE,
    NOT_AN_OBJECT,
    NOT_JSON,
    TIME_DOMAIN,
    TIME_MAX_S,
    TIME_MIN_S,
    WRONG_ENVELOPE,
    DeadLetter,
    Event,
)
from stackmeter.sources.tables import path_text

ENVELOPE_VERSION = "2.0"
_MAX_FIELD = 500  # longest fault text kept
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_MIN = _EPOCH + timedelta(seconds=TIME_MIN_S)
_TIME_MAX = _EPOCH + timedelta(seconds=TIME_MAX_S)


def digest(text: str | bytes) -> str:
    """Return a short, stable id for a message text (used when it carries no ``message_id``)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    return hashlib.sha1(data).hexdigest()


def parse_message(body: str | bytes | dict, origin: str, received: np.datetime64) -> Event | DeadLetter:
    """Return the event a message carries, or a dead letter saying why it carries none.

    :param body: the message as received: JSON text (``str`` or UTF-8 ``bytes``) or already
        decoded (a ``dict``, as some AMQP clients deliver it)
    :param origin: where the message came from, kept in a dead letter (queue name, ``file:line``)
    :param received: when it was received (UTC ``datetime64``), kept in a dead letter
    """
    message: object = body
    if isinstance(body, dict):
        try:
            raw: str | bytes = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        except TypeError:  # integers past 64 bits, keys that are not text, lone surrogates
            try:
                raw = json.dumps(body, sort_keys=True, default=repr)  # ASCII: surrogates escaped
            except (TypeError, ValueError, RecursionError) as exc:
                return _dead(received, origin, NOT_JSON, str(exc), _text_of(repr(body)[:_MAX_FIELD]))
            message = None  # read back as any JSON text is, so that it is held to the same rules
    else:
        raw, message = body, None
    if message is None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return _dead(received, origin, NOT_JSON, str(exc), _text_of(raw))
    if not isinstance(message, dict):
        return _dead(received, origin, NOT_AN_OBJECT, type(message).__name__, _text_of(raw))
    message, problem = _open_envelope(message)
    if problem:
        return _dead(received, origin, WRONG_ENVELOPE, problem, _text_of(raw))
    try:
        return _event(message, raw)
    except _Unreadable as exc:
        return _dead(received, origin, exc.reason, exc.detail, _text_of(raw))


def read_jsonl(path: str | Path, received: np.datetime64) -> Iterator[tuple[int, Event | DeadLetter]]:
    """Yield ``(line number, event or dead letter)`` for each non-blank line of a captured stream.

    :raises SourceUnavailable: when the file cannot be opened
    """
    path = Path(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise SourceUnavailable(f"{path_text(path)}: {exc.strerror}") from exc
    origin = path_text(path)
    with handle:
        for number, raw in enumerate(handle, start=1):
            if raw.strip():
                yield number, parse_message(raw.rstrip(b"\r\n"), f"{origin}:{number}", received)


def parse_messages(
    bodies: Iterable[str | bytes | dict], origin: str, received: np.datetime64
) -> tuple[list[Event], list[DeadLetter]]:
    """Return the events and the dead letters of many messages from one origin."""
    events: list[Event] = []
    dead: list[DeadLetter] = []
    for body in bodies:
        item = parse_message(body, origin, received)
        if isinstance(item, Event):
            events.append(item)
        else:
            dead.append(item)
    return events, dead


class _Unreadable(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def _text_of(raw: str | bytes) -> str:
    """The text of a message as valid UTF-8: bytes that are not UTF-8 replaced, lone surrogates escaped."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    return raw.encode("utf-8", "backslashreplace").decode("utf-8")


def _dead(received: np.datetime64, origin: str, reason: str, detail: str, text: str) -> DeadLetter:
    return DeadLetter(
        received.astype("datetime64[ns]"), origin, reason, detail[:_MAX_FIELD], text, digest(text)
    )


def _open_envelope(message: dict) -> tuple[dict, str]:
    """Return the inner message of an oslo envelope (or the bare message) and a problem, if any."""
    if "oslo.message" not in message and "oslo.version" not in message:
        return message, ""
    version = message.get("oslo.version")
    if version != ENVELOPE_VERSION:
        return message, f"oslo.version {version!r}, expected {ENVELOPE_VERSION!r}"
    inner = message.get("oslo.message")
    if not isinstance(inner, str):
        return message, "oslo.message is not JSON text"
    try:
        decoded = orjson.loads(inner)
    except orjson.JSONDecodeError as exc:
        return message, f"oslo.message is not JSON: {exc}"
    if not isinstance(decoded, dict):
        return message, "oslo.message is not a JSON object"
    return decoded, ""


def _event(message: dict, raw: str | bytes) -> Event:
    event_type = message.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise _Unreadable(NO_EVENT_TYPE, "event_type missing or not a string")
    payload = message.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise _Unreadable(BAD_PAYLOAD, type(payload).__name__)
    ts = _parse_timestamp(message.get("timestamp"))
    message_id = message.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        message_id = digest(raw)
    data = payload.get("nova_object.data")
    fields = _versioned_fields(event_type, data) if isinstance(data, dict) else _legacy_fields(payload)
    host = fields["host"] or _publisher_host(message.get("publisher_id"))
    request_id = _text(message.get("_context_request_id")) or fields["request_id"]
    project = fields["project"] or _text(message.get("_context_project_id"))
    failed = event_type.endswith(".error") or str(message.get("priority", "")).upper() == "ERROR"
    return Event(
        ts=ts,
        event_type=event_type,
        instance=fields["instance"],
        request_id=request_id,
        host=host,
        project=project,
        flavor=fields["flavor"],
        state=fields["state"],
        fault=_fault(event_type, fields["fault"]) if failed else None,
        message_id=message_id,
    )


def _fault(event_type: str, fault: str | None) -> str:
    """An ``.error`` event's fault as given; an exception notification's prefixed with its name
    (the method that raised), which is all some of them carry."""
    if event_type.endswith(".error"):
        return fault or event_type
    return f"{event_type}: {fault}" if fault else event_type


def _parse_timestamp(value: object) -> np.datetime64:
    """Return the UTC ``datetime64[ns]`` of an oslo timestamp (``2013-04-02 18:23:47.123456``, ISO 8601).

    A time outside the domain (``0001-01-01``, ``9999-12-31``) is unreadable too: nothing later
    could hold it as nanoseconds.
    """
    if not isinstance(value, str) or not value:
        raise _Unreadable(BAD_TIMESTAMP, f"timestamp {str(value)[:60]!r}")
    try:
        ts = datetime.fromisoformat(value.strip())
        ts = ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except (ValueError, OverflowError) as exc:  # astimezone overflows next to year 1 or 9999
        raise _Unreadable(BAD_TIMESTAMP, f"timestamp {value[:60]!r}") from exc
    if not _TIME_MIN <= ts < _TIME_MAX:
        raise _Unreadable(BAD_TIMESTAMP, f"timestamp {value[:60]!r} is outside {TIME_DOMAIN}")
    return np.datetime64(ts.replace(tzinfo=None), "ns")


def _versioned_fields(event_type: str, data: dict) -> dict:
    flavor = _object_data(data.get("flavor"))
    instance = _text(data.get("instance_uuid"))
    if instance is None and event_type.startswith("instance."):
        instance = _text(data.get("uuid"))
    return {
        "instance": instance,
        "request_id": _text(data.get("request_id")),
        "host": _text(data.get("host")),
        "project": _text(data.get("tenant_id")) or _text(data.get("project_id")),
        "flavor": _text(flavor.get("name")) if flavor else None,
        "state": _text(data.get("state")),
        "fault": _versioned_fault(data.get("fault")),
    }


def _versioned_fault(value: object) -> str | None:
    fault = _object_data(value)
    if not fault:
        return None
    name = _text(fault.get("exception"))
    message = _text(fault.get("exception_message"))
    return _clip(": ".join(part for part in (name, message) if part)) or None


def _legacy_fields(payload: dict) -> dict:
    instance = _text(payload.get("instance_id")) or _text(payload.get("instance_uuid"))
    args = payload.get("args")
    if instance is None and isinstance(args, dict):
        # exception notifications (priority ERROR) carry the instance among the call's arguments
        arg_instance = args.get("instance")
        if isinstance(arg_instance, dict):
            instance = _text(arg_instance.get("uuid"))
    spec = payload.get("request_spec")
    if instance is None and isinstance(spec, dict):
        uuids = spec.get("instance_uuids")
        if isinstance(uuids, list) and len(uuids) == 1:
            instance = _text(uuids[0])
    return {
        "instance": instance,
        "request_id": None,
        "host": _text(payload.get("host")),
        "project": _text(payload.get("tenant_id")) or _text(payload.get("project_id")),
        "flavor": _text(payload.get("instance_type")),
        "state": _text(payload.get("state")),
        "fault": _legacy_fault(payload),
    }


def _legacy_fault(payload: dict) -> str | None:
    """The fault of a legacy error: its message, else what the serialised exception kept (an
    exception notification keeps only the exception's ``kwargs``, such as ``reason`` and ``code``)."""
    message = _text(payload.get("message"))
    exception = payload.get("exception")
    if isinstance(exception, str) and exception:
        return _clip(f"{exception}: {message}" if message else exception)
    if message:
        return _clip(message)
    for key in ("exception", "reason"):
        value = payload.get(key)
        kwargs = value.get("kwargs") if isinstance(value, dict) else None
        if isinstance(kwargs, dict):
            code = kwargs.get("code")
            parts = (
                _text(kwargs.get("reason")) or _text(kwargs.get("message")),
                None if code is None else f"code {code}",
            )
            if any(parts):
                return _clip(", ".join(part for part in parts if part))
    return None


def _object_data(value: object) -> dict:
    if isinstance(value, dict):
        data = value.get("nova_object.data", value)
        if isinstance(data, dict):
            return data
    return {}


def _publisher_host(publisher: object) -> str | None:
    """Return the host of a publisher id: ``nova-compute:host1`` (versioned), ``compute.host1`` (legacy)."""
    if not isinstance(publisher, str):
        return None
    for separator in (":", "."):
        if separator in publisher:
            return publisher.split(separator, 1)[1] or None
    return None


def _text(value: object) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_FIELD else text[: _MAX_FIELD - 1] + "…"
