"""The notification bus: ingest a captured stream, listen, operation timings, dead letters."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from stackmeter.analysis.operation_stats import (
    DURATION_EDGES_S,
    check_duration_edges,
    check_grouping,
    duration_histogram,
    failure_kinds,
    operation_stats,
    with_fleet_utilization,
)
from stackmeter.analysis.pairing import ACTIONS, pair_operations, paired_event_types
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S as OPERATION_TIMEOUT_S
from stackmeter.analysis.windows import check_timescale
from stackmeter.errors import ConfigError
from stackmeter.models import (
    MAX_DURATION_S,
    DeadLetter,
    Event,
    NotificationsSummary,
    OperationTimings,
)
from stackmeter.operations.stores import store_per_write
from stackmeter.operations.traces import REJECTION_EXAMPLES
from stackmeter.sources.amqp import NotificationBus
from stackmeter.sources.notifications import parse_message, read_jsonl
from stackmeter.store import Store
from stackmeter.units import parse_duration_seconds

_SECONDS = re.compile(r"^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")  # a bare number of seconds


class _NotificationTally:
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.reasons: Counter = Counter()
        self.examples: list[DeadLetter] = []

    def write(self, store: Store | Callable[[], Store], events: list[Event], dead: list[DeadLetter]) -> None:
        with store_per_write(store) as opened:
            added, _ = opened.write_notifications(events, dead)
        self.counts.update(messages=len(events) + len(dead), added=added, duplicates=len(events) - added)
        self.counts.update(dead=len(dead), batches=1)
        self.reasons.update(letter.reason for letter in dead)
        self.examples.extend(dead[: REJECTION_EXAMPLES - len(self.examples)])

    def summary(self) -> NotificationsSummary:
        c = self.counts
        return NotificationsSummary(
            c["messages"], c["added"], c["duplicates"], c["dead"], dict(self.reasons.most_common()),
            tuple(self.examples), c["batches"],
        )  # fmt: skip


def ingest_notifications(store: Store, path: Path, batch_messages: int = 5_000) -> NotificationsSummary:
    """Read a captured stream (one message per line, JSON) into ``store``.

    Valid notifications land even when other lines are bad; each bad line is kept as a dead
    letter with its ``file:line``. Reading the same file again adds nothing.
    """
    received = _now()
    tally = _NotificationTally()
    events: list[Event] = []
    dead: list[DeadLetter] = []
    for _, item in read_jsonl(path, received):
        if isinstance(item, Event):
            events.append(item)
        else:
            dead.append(item)
        if len(events) + len(dead) >= batch_messages:
            tally.write(store, events, dead)
            events, dead = [], []
    if events or dead or not tally.counts["batches"]:
        tally.write(store, events, dead)
    return tally.summary()


ListenProgress = Callable[[NotificationsSummary], None]


def listen(
    store: Store | Callable[[], Store],
    consumer: NotificationBus,
    batch_messages: int = 1_000,
    max_wait_s: float = 1.0,
    stop: Callable[[], bool] = lambda: False,
    idle_exit_s: float | None = None,
    progress: ListenProgress | None = None,
) -> NotificationsSummary:
    """Consume notifications into ``store`` until ``stop()`` is true (or the bus stays idle).

    Each batch is written in one transaction and only then acknowledged, so a crash at any point
    loses nothing: the bus delivers unacknowledged messages again and the store skips what it
    already holds. Malformed messages are kept as dead letters with their queue and reason.

    :param store: a store, or a function that opens one: then it is opened for each batch's write
        only, so other stackmeter commands can read the store file between batches
    :param batch_messages: most messages per batch (one transaction, one acknowledgement)
    :param max_wait_s: longest wait before writing a batch that is not full
    :param idle_exit_s: return after this long without any message (``None``: never)
    :param progress: called with the running totals after each batch
    """
    if batch_messages < 1 or not 0 < max_wait_s <= MAX_DURATION_S:
        raise ConfigError(
            f"a batch needs at least 1 message and a wait above 0 s, not {batch_messages} and {max_wait_s}"
        )
    if idle_exit_s is not None and not 0 <= idle_exit_s <= MAX_DURATION_S:
        raise ConfigError(f"idle exit must be 0 s or more, got {idle_exit_s}", "idle_exit")
    tally = _NotificationTally()
    idle_since = time.monotonic()
    consumer.connect()
    try:
        while not stop():
            batch = consumer.fetch(batch_messages, max_wait_s)
            if not batch.deliveries:
                if idle_exit_s is not None and time.monotonic() - idle_since >= idle_exit_s:
                    break
                continue
            idle_since = time.monotonic()
            received = _now()
            events: list[Event] = []
            dead: list[DeadLetter] = []
            for delivery in batch.deliveries:
                item = parse_message(delivery.body, delivery.queue, received)
                if isinstance(item, Event):
                    events.append(item)
                else:
                    dead.append(item)
            tally.write(store, events, dead)
            consumer.ack(batch)
            if progress:
                progress(tally.summary())
    finally:
        consumer.close()
    return tally.summary()


def operation_timings(
    store: Store,
    timescale: str = "1h",
    operation: str | None = None,
    by: str | None = None,
    timeout_s: float = OPERATION_TIMEOUT_S,
    as_of: np.datetime64 | None = None,
    top_failures: int = 10,
    duration_edges_s: Sequence[float] = DURATION_EDGES_S,
) -> OperationTimings:
    """Return per-window counts, failures and duration quantiles of cloud operations, and the
    spread of each operation's durations over the whole span.

    :param operation: only this action (``create``, ``delete``, ``resize_prep``, …)
    :param by: also group by ``host``, ``flavor`` or ``project`` (the durations stay per operation)
    :param timeout_s: an operation with no end this long after its start has timed out
    :param as_of: when an operation still open is judged (UTC); defaults to the latest event stored
    :param duration_edges_s: upper edges of the duration bins, in seconds (see
        :func:`~stackmeter.analysis.operation_stats.duration_histogram`)
    """
    check_timescale(timescale)
    duration_edges_s = check_duration_edges(duration_edges_s)
    if not 0 < timeout_s <= MAX_DURATION_S:
        raise ConfigError(f"timeout must be above 0 seconds and finite, got {timeout_s}", "timeout")
    if operation is not None and operation not in ACTIONS:
        raise ConfigError(
            f"unknown operation {operation!r}; valid: {', '.join(sorted(ACTIONS))}", "operation"
        )
    if by is not None:
        check_grouping(by)  # before the events are read, not after
    # Only the events that pair (of the operation asked for): updates and audits, most of a bus,
    # are never read.
    events = store.read_events(paired_event_types(store.read_event_kinds(), operation))
    if as_of is None:
        as_of = store.read_last_event_time()
    operations = pair_operations(events, as_of if as_of is not None else _now(), timeout_s)
    if operation is not None:
        operations = operations[operations["operation"] == operation]
    stats = operation_stats(operations, timescale, by)
    stats = with_fleet_utilization(stats, store.read_fleet_cpu_utilization(timescale))
    return OperationTimings(
        timescale,
        by,
        operation,
        timeout_s,
        as_of,
        len(operations),
        stats,
        failure_kinds(operations, top_failures),
        duration_histogram(operations, duration_edges_s),
    )


def parse_duration_edges(text: str | None) -> tuple[float, ...]:
    """Return the bin edges of a comma-separated text, in seconds: each a number of seconds or a
    duration with its unit (``0.5,1,10s,1m,5m,1h``); ``None`` gives :data:`DURATION_EDGES_S`.

    :raises ConfigError: naming ``bins`` when an edge is not a duration or the edges make no bins
    """
    if text is None:
        return DURATION_EDGES_S
    edges = []
    for item in text.split(","):
        item = item.strip()
        try:
            edges.append(float(item) if _SECONDS.match(item) else parse_duration_seconds(item))
        except ConfigError as exc:
            raise ConfigError(
                f"bins: cannot read {item!r} as a bin edge, e.g. 1,10s,1m,5m,1h", "bins"
            ) from exc
    return check_duration_edges(edges)


def _now() -> np.datetime64:
    """The time now (UTC ``datetime64[ns]``) to the microsecond, as the store keeps times."""
    return np.datetime64(time.time_ns() // 1_000, "us").astype("datetime64[ns]")


def dead_letters(store: Store, limit: int | None = 50) -> tuple[int, list[DeadLetter]]:
    """Return how many dead letters the store keeps and the latest ``limit`` of them."""
    _, count = store.count_notifications()
    return count, store.read_dead_letters(limit)
