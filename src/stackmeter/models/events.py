"""The notification bus: events, dead letters and their reasons, operation outcomes and timings."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

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

    ``ts`` is the notification's own timestamp (UTC ``datetime64[ns]``, to the microsecond); every other
    field is ``None`` when the message does not carry it. ``message_id`` identifies the message
    (its oslo ``message_id``, or a digest of its text when it has none): two events with the same
    ``message_id`` are one event.
    """

    ts: np.datetime64
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

    ``received`` is when it came (UTC ``datetime64[ns]``, to the microsecond); ``origin`` says
    where from (a queue name, or ``file:line``); ``digest`` identifies the text so a redelivered
    message is kept once.
    """

    received: np.datetime64
    origin: str
    reason: str
    detail: str
    body: str
    digest: str


class NotificationsSummary(NamedTuple):
    """What an ingest of notifications (a file, or a listener's run) read, added and refused."""

    messages: int
    events_added: int
    duplicates: int
    dead_letters: int
    dead_by_reason: dict[str, int]
    dead_examples: tuple[DeadLetter, ...]
    batches: int


class DurationHistogram(NamedTuple):
    """How long each operation took, counted in duration bins (columns: one item per operation).

    Bin ``i`` holds durations from ``edges_s[i]`` (included) up to ``edges_s[i + 1]`` (excluded);
    the first bin starts at 0 s and the last one has no upper edge. ``success[k][i]`` counts the
    successful operations ``operations[k]`` that took bin ``i``'s time (``.start`` to ``.end``),
    ``error[k][i]`` the failed attempts (``.start`` to ``.error``); operations without a duration
    (timed out, running, without a start) are in neither. ``p50_s`` and ``p95_s`` are quantiles of
    the successful durations (``None`` without any), as the per-window statistics compute them.
    Operations are ordered by how many durations they have, most first, then by name.
    """

    edges_s: tuple[float, ...]
    operations: tuple[str, ...]
    success: tuple[tuple[int, ...], ...]
    error: tuple[tuple[int, ...], ...]
    p50_s: tuple[float | None, ...]
    p95_s: tuple[float | None, ...]


class OperationTimings(NamedTuple):
    """Per-window operation statistics, the spread of durations, and the parameters they were computed with."""

    timescale: str
    by: str | None
    operation: str | None
    timeout_s: float
    as_of: np.datetime64 | None  # UTC; None when the store holds no events
    operations: int
    stats: pd.DataFrame  # one row per window × operation (× group)
    failures: pd.DataFrame  # operation, fault, count
    durations: DurationHistogram  # over the whole span, per operation (not per group)
