"""Canonical records shared by every layer: samples, entities, rejections (plain data, no I/O)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

RESOURCES = ("cpu", "memory", "disk", "network")
TIMESCALES = ("5m", "1h", "1d", "1w", "1mo")
KINDS = ("host", "vm")

# Reasons a sample, a line or a whole file is kept out of the store. Summaries count by these.
WRONG_FIELD_COUNT = "wrong field count"
NOT_A_NUMBER = "not a number"
NOT_FINITE = "not finite"
NEGATIVE_VALUE = "negative value"
BAD_CAPACITY = "zero, negative or missing capacity"
OUT_OF_ORDER = "timestamp out of order"
BAD_TIMESTAMP = "bad timestamp"
EMPTY_FILE = "empty file"
WRONG_FORMAT = "not this format"
UNREADABLE = "unreadable"


class Samples(NamedTuple):
    """Columnar samples, all arrays of the same length.

    - ``ts``: ``datetime64[ns]``, UTC, the end of the measured interval;
    - ``entity``: object array of ``str``;
    - ``resource``: object array of ``str`` from :data:`RESOURCES`;
    - ``used``: ``float64`` in base units (cores or MHz, bytes, bytes/s, or a busy fraction);
    - ``capacity``: ``float64`` in the same unit, ``NaN`` when unknown.
    """

    ts: np.ndarray
    entity: np.ndarray
    resource: np.ndarray
    used: np.ndarray
    capacity: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.ts.shape[0])

    @property
    def size(self) -> int:
        return int(self.ts.shape[0])


def make_samples(ts, entity, resource, used, capacity) -> Samples:
    """Return :class:`Samples` from array-likes; scalars for ``entity``, ``resource`` and
    ``capacity`` are broadcast to the length of ``ts``."""
    ts = np.asarray(ts, dtype="datetime64[ns]")
    n = ts.shape[0]

    def column(value, dtype):
        if np.ndim(value) == 0:
            return np.full(n, value, dtype=dtype)
        array = np.asarray(value, dtype=dtype)
        if array.shape != (n,):
            raise ValueError(f"column of length {array.shape} for {n} timestamps")
        return array

    return Samples(
        ts=ts,
        entity=column(entity, object),
        resource=column(resource, object),
        used=column(used, np.float64),
        capacity=column(np.nan if capacity is None else capacity, np.float64),
    )


def no_samples() -> Samples:
    """Return an empty :class:`Samples`."""
    return make_samples(np.empty(0, "datetime64[ns]"), "", "cpu", np.empty(0), np.nan)


def concat_samples(parts: list[Samples]) -> Samples:
    """Return the samples of ``parts`` one after the other."""
    parts = [part for part in parts if part.size]
    if not parts:
        return no_samples()
    if len(parts) == 1:
        return parts[0]
    return Samples(*(np.concatenate(columns) for columns in zip(*parts)))


def take_samples(samples: Samples, index) -> Samples:
    """Return the samples selected by a boolean mask or an index array."""
    return Samples(*(column[index] for column in samples))


class Entity(NamedTuple):
    """Something with capacity: a host or a VM."""

    entity: str
    kind: str = "vm"
    project: str | None = None
    host: str | None = None


class Rejection(NamedTuple):
    """A line, a field or a whole file kept out of the store, and why."""

    path: str
    line: int | None
    field: str | None
    reason: str
    detail: str = ""

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        what = f"{self.field}: {self.reason}" if self.field else self.reason
        return f"{where}: {what}" + (f" ({self.detail})" if self.detail else "")


class Parsed(NamedTuple):
    """What a source made of one unit of input (a file, a scrape): samples and what it refused."""

    origin: str
    samples: Samples
    entities: tuple[Entity, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    duplicates: int = 0


# --- Notification bus: events, dead letters, operations -------------------------------------

# Reasons a notification is dead-lettered instead of stored.
NOT_JSON = "not JSON"
NOT_AN_OBJECT = "not a JSON object"
WRONG_ENVELOPE = "wrong envelope"
NO_EVENT_TYPE = "no event type"
BAD_PAYLOAD = "payload is not an object"

# Outcomes of an operation.
SUCCESS = "success"
ERROR = "error"
TIMED_OUT = "timed_out"
RUNNING = "running"
OUTCOMES = (SUCCESS, ERROR, TIMED_OUT, RUNNING)


class Event(NamedTuple):
    """One notification from the bus, reduced to what operation timings need.

    ``ts`` is a timezone-aware UTC ``datetime`` (the notification's own timestamp); every other
    field is ``None`` when the message does not carry it. ``message_id`` identifies the message
    (its oslo ``message_id``, or a digest of its text when it has none): two events with the same
    ``message_id`` are one event.
    """

    ts: object
    event_type: str
    instance: str | None
    request_id: str | None
    host: str | None
    project: str | None
    flavor: str | None
    state: str | None
    fault: str | None
    message_id: str


class DeadLetter(NamedTuple):
    """A message that could not be read as a notification, kept with the reason.

    ``origin`` says where it came from (a queue name, or ``file:line``); ``digest`` identifies the
    text so a redelivered message is kept once.
    """

    received: object
    origin: str
    reason: str
    detail: str
    body: str
    digest: str
