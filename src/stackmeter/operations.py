"""The product's verbs: ingest traces and notifications, report overload and operation timings. CLI and API wrap these."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from importlib import resources as package_resources
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
import pandas as pd

from stackmeter.analysis.heatmap import (
    apply_overload_rule,
    build_heat_map_rows,
    choose_columns,
    rank_entities,
)
from stackmeter.analysis.operation_stats import failure_kinds, operation_stats, with_fleet_utilization
from stackmeter.analysis.overload import (
    check_share,
    check_threshold,
    detect_overloaded,
    summarize_multi_resource,
    summarize_overload,
)
from stackmeter.analysis.pairing import ACTIONS, pair_operations
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S as OPERATION_TIMEOUT_S
from stackmeter.analysis.windows import check_timescale, parse_timescales
from stackmeter.errors import ConfigError, SourceUnavailable, UnknownEntity
from stackmeter.models import (
    DEFAULT_SHARE,
    DEFAULT_THRESHOLDS,
    RESOURCES,
    UNREADABLE,
    DeadLetter,
    EntityOverload,
    EntitySummary,
    Event,
    HeatMap,
    NotificationsSummary,
    OperationTimings,
    OverloadReport,
    Parsed,
    Rejection,
    Samples,
    StoreStatus,
    TargetStatus,
    no_samples,
)
from stackmeter.sources import TRACE_FORMATS
from stackmeter.sources.amqp import NotificationBus
from stackmeter.sources.node_exporter import HostRules
from stackmeter.sources.notifications import parse_message, read_jsonl
from stackmeter.sources.prometheus import NODE_EXPORTER_QUERIES, ResourceQuery, fetch_utilization
from stackmeter.sources.scrape import DEFAULT_TIMEOUT_S as SCRAPE_TIMEOUT_S
from stackmeter.sources.scrape import Target, check_no_credentials, scrape_round
from stackmeter.store import Store
from stackmeter.store import events as event_store
from stackmeter.store.targets import read_target_statuses, write_target_statuses

# Files are written in batches of about this many samples: each batch is one transaction.
BATCH_SAMPLES = 1_000_000
REJECTION_EXAMPLES = 10
# A heat map page shows at most this many entities and this many windows.
HEAT_MAP_MAX_ROWS = 200
HEAT_MAP_MAX_COLUMNS = 400


class IngestSummary(NamedTuple):
    """What an ingest read, added and refused."""

    trace_format: str
    files: int
    files_with_samples: int
    entities: int
    samples_read: int
    samples_added: int
    duplicates: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejection_examples: tuple[Rejection, ...]
    first_ts: np.datetime64 | None
    last_ts: np.datetime64 | None
    batches: int

    @property
    def usable(self) -> bool:
        """Whether anything usable was found (a re-ingest of known samples counts as usable)."""
        return self.samples_read > 0


Progress = Callable[[int, int], None]


def find_trace_files(trace_format: str, paths: Iterable[Path]) -> list[Path]:
    """Return the files of ``trace_format`` under ``paths`` (files or folders), in a stable order."""
    trace = _trace_format(trace_format)
    return [file for path in paths for file in trace.find_files(Path(path))]


def ingest(
    store: Store,
    trace_format: str,
    paths: Iterable[Path],
    *,
    disk_capacity_bytes_s: float | None = None,
    network_capacity_bytes_s: float | None = None,
    azure_start: np.datetime64 | None = None,
    batch_samples: int = BATCH_SAMPLES,
    progress: Progress | None = None,
) -> IngestSummary:
    """Read trace files into ``store`` and return what was read, added and refused.

    Valid samples land even when other lines, fields or files of the input are bad; each bad one
    is recorded in the store's rejections with its file, line and field. Files are written in
    batches of about ``batch_samples`` samples, each batch atomically.

    :param disk_capacity_bytes_s: capacity of a Bitbrains VM's disk; without it disk is not judged
    :param network_capacity_bytes_s: the same for the network
    :param azure_start: time of ``t_index = 0`` of Azure tables (the Unix epoch when omitted)
    :param progress: called with (files done, files in all) after each file
    """
    trace = _trace_format(trace_format)
    files = find_trace_files(trace_format, paths)
    options = {
        "bitbrains": {
            "disk_capacity_bytes_s": disk_capacity_bytes_s,
            "network_capacity_bytes_s": network_capacity_bytes_s,
        },
        "azure": {} if azure_start is None else {"start": azure_start},
    }.get(trace_format, {})
    totals: Counter = Counter()
    reasons: Counter = Counter()
    examples: list[Rejection] = []
    entities: set[str] = set()
    first_ts = last_ts = None
    pending: list[Parsed] = []
    pending_samples = 0

    # One writer thread: a batch is written while the next is parsed (DuckDB releases the GIL),
    # batches still land one at a time and in order, and a failed write stops the ingest.
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stackmeter-writer")
    writing: Future | None = None

    def wait_for_write() -> None:
        nonlocal writing
        if writing is not None:
            result = writing.result()
            writing = None
            totals["added"] += result.samples_added
            totals["duplicates"] += result.duplicates
            totals["batches"] += 1

    def flush() -> None:
        nonlocal pending, pending_samples, writing
        wait_for_write()
        if pending:
            writing = writer.submit(store.write_parsed, pending, trace_format)
        pending, pending_samples = [], 0

    try:
        for done, file in enumerate(files, start=1):
            try:
                parsed = trace.load_file(file, **options)
            except SourceUnavailable as exc:
                parsed = Parsed(
                    str(file),
                    no_samples(),
                    rejections=(Rejection(str(file), None, None, UNREADABLE, str(exc)),),
                )
            samples = parsed.samples
            totals["read"] += samples.size
            totals["rejected"] += len(parsed.rejections)
            reasons.update(rejection.reason for rejection in parsed.rejections)
            examples.extend(parsed.rejections[: REJECTION_EXAMPLES - len(examples)])
            if samples.size:
                totals["files_with_samples"] += 1
                entities.update(entity.entity for entity in parsed.entities)
                if not parsed.entities:
                    entities.update(pd.unique(samples.entity).tolist())
                lo, hi = samples.ts.min(), samples.ts.max()
                first_ts = lo if first_ts is None else min(first_ts, lo)
                last_ts = hi if last_ts is None else max(last_ts, hi)
            pending.append(parsed)
            pending_samples += samples.size
            if pending_samples >= batch_samples:
                flush()
            if progress:
                progress(done, len(files))
        flush()
        wait_for_write()
    finally:
        writer.shutdown(wait=True)
    return IngestSummary(
        trace_format=trace_format,
        files=len(files),
        files_with_samples=totals["files_with_samples"],
        entities=len(entities),
        samples_read=totals["read"],
        samples_added=totals["added"],
        duplicates=totals["duplicates"],
        rejected=totals["rejected"],
        rejected_by_reason=dict(reasons.most_common()),
        rejection_examples=tuple(examples),
        first_ts=first_ts,
        last_ts=last_ts,
        batches=totals["batches"],
    )


def _trace_format(name: str):
    if name not in TRACE_FORMATS:
        raise ConfigError(f"unknown trace format {name!r}; valid: {', '.join(TRACE_FORMATS)}")
    return TRACE_FORMATS[name]


def overload_report(
    store: Store,
    timescales: str | Iterable[str] = "5m,1h,1d,1w,1mo",
    resources: Iterable[str] = RESOURCES,
    thresholds: Mapping[str, float] | None = None,
    share: float = DEFAULT_SHARE,
    top: int = 10,
) -> OverloadReport:
    """Return the overload report of ``store`` for every timescale × resource asked.

    :param thresholds: utilization θ per resource; missing resources take the defaults
    :param share: a window is overloaded when at least this share of its samples is ≥ θ, in (0, 1]
    :param top: how many worst entities to list per cell
    """
    scales = parse_timescales(timescales if isinstance(timescales, str) else ",".join(timescales))
    resources = tuple(resources)
    for resource in resources:
        if resource not in RESOURCES:
            raise ConfigError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}")
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    for resource in resources:
        check_threshold(resource, thresholds[resource])
    check_share(share)
    if top < 0:
        raise ConfigError(f"top must be 0 or more, got {top}")
    coverage = store.read_coverage()
    asked = {resource: thresholds[resource] for resource in resources}
    counts = store.read_window_counts(scales, asked)
    cells, multi = [], []
    for timescale in scales:
        overloaded = []
        for resource in resources:
            cells.append(summarize_overload(counts[timescale, resource], coverage.get(resource), share, top))
            overloaded.append(detect_overloaded(counts[timescale, resource], share))
        names = counts[timescale, resources[0]].entity_names if resources else np.empty(0, object)
        multi.append(summarize_multi_resource(timescale, overloaded, names, top))
    return OverloadReport(asked, share, scales, resources, tuple(cells), tuple(multi))


def list_entities(store: Store) -> list[EntitySummary]:
    """Return every entity of ``store`` with its resources and time span."""
    return store.read_entities()


def read_series(
    store: Store,
    entity: str,
    resource: str = "cpu",
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
) -> Samples:
    """Return one entity's samples of ``resource`` with ``start <= ts < end``.

    Raises :class:`UnknownEntity` when the store does not know ``entity``.
    """
    if resource not in RESOURCES:
        raise ConfigError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}")
    if not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    return store.read_series(entity, resource, start, end)


def bundled_sample() -> dict[str, Path]:
    """Return the folders of the sample shipped with stackmeter: one PlanetLab day, a Bitbrains month."""
    root = Path(str(package_resources.files("stackmeter") / "samples"))
    return {"planetlab": root / "planetlab" / "20110303", "bitbrains": root / "bitbrains" / "2013-8"}


# --- Notification bus: ingest, listen, operation timings ---------------------------------------


class _NotificationTally:
    def __init__(self) -> None:
        self.counts: Counter = Counter()
        self.reasons: Counter = Counter()
        self.examples: list[DeadLetter] = []

    def write(self, store: Store | Callable[[], Store], events: list[Event], dead: list[DeadLetter]) -> None:
        with _round_store(store) as opened:
            added, _ = event_store.write_notifications(opened.connection, events, dead)
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
    received = pd.Timestamp.now(tz="UTC").to_pydatetime()
    tally = _NotificationTally()
    events: list[Event] = []
    dead: list[DeadLetter] = []
    for _, item in read_jsonl(path, received):
        (events if isinstance(item, Event) else dead).append(item)
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
    if batch_messages < 1 or max_wait_s <= 0:
        raise ConfigError(
            f"a batch needs at least 1 message and a wait above 0 s, not {batch_messages} and {max_wait_s}"
        )
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
            received = pd.Timestamp.now(tz="UTC").to_pydatetime()
            events: list[Event] = []
            dead: list[DeadLetter] = []
            for delivery in batch.deliveries:
                item = parse_message(delivery.body, delivery.queue, received)
                (events if isinstance(item, Event) else dead).append(item)
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
    as_of: pd.Timestamp | None = None,
    top_failures: int = 10,
) -> OperationTimings:
    """Return per-window counts, failures and duration quantiles of cloud operations.

    :param operation: only this action (``create``, ``delete``, ``resize_prep``, …)
    :param by: also group by ``host``, ``flavor`` or ``project``
    :param timeout_s: an operation with no end this long after its start has timed out
    :param as_of: when an operation still open is judged; defaults to the latest event stored
    """
    check_timescale(timescale)
    if timeout_s <= 0:
        raise ConfigError(f"timeout must be above 0 seconds, got {timeout_s}")
    events = event_store.read_events(store.connection)
    if as_of is None:
        as_of = event_store.read_last_event_time(store.connection)
    operations = pair_operations(
        events, as_of if as_of is not None else pd.Timestamp.now(tz="UTC"), timeout_s
    )
    if operation is not None:
        if operation not in ACTIONS:
            raise ConfigError(f"unknown operation {operation!r}; valid: {', '.join(sorted(ACTIONS))}")
        operations = operations[operations["operation"] == operation]
    stats = operation_stats(operations, timescale, by)
    stats = with_fleet_utilization(stats, event_store.read_fleet_cpu_utilization(store.connection, timescale))
    return OperationTimings(
        timescale,
        by,
        operation,
        timeout_s,
        as_of,
        len(operations),
        stats,
        failure_kinds(operations, top_failures),
    )


def dead_letters(store: Store, limit: int | None = 50) -> tuple[int, list[DeadLetter]]:
    """Return how many dead letters the store keeps and the latest ``limit`` of them."""
    _, count = event_store.count_notifications(store.connection)
    return count, event_store.read_dead_letters(store.connection, limit)


# -- live collection: exporters and Prometheus-compatible servers ----------------------------


class CollectSummary(NamedTuple):
    """What a collection run did so far: rounds, samples added, failures, and each target's status."""

    rounds: int
    samples_added: int
    duplicates: int
    rejected: int
    statuses: tuple[TargetStatus, ...]
    stopped: bool = False


def collect(
    store: Store | Callable[[], Store],
    targets: list[Target],
    every_s: float = 15.0,
    for_s: float | None = None,
    timeout_s: float | None = None,
    rules: HostRules = HostRules(),
    stop: threading.Event | None = None,
    on_round: Callable[[CollectSummary], None] | None = None,
    transport=None,
) -> CollectSummary:
    """Scrape ``targets`` every ``every_s`` seconds into ``store`` until ``for_s`` elapses or ``stop`` is set.

    Each round is written as one batch, with the status of every target; a target that is down
    becomes a gap and a status, and is retried with backoff without holding up the others. When
    ``stop`` is set (the CLI sets it on Ctrl-C or SIGTERM) the round under way finishes and is
    written before returning.

    :param store: a store, or a function that opens one: then it is opened for each round's write
        and closed after, so that other processes (``stackmeter sources``) can read it between rounds
    :param timeout_s: per scrape; at most ``every_s`` by default (and at most 10 s)
    :param on_round: called after each round with the summary so far (a live status line)
    """
    if every_s <= 0:
        raise ConfigError(f"--every must be positive, got {every_s} s")
    if for_s is not None and for_s <= 0:
        raise ConfigError(f"--for must be positive, got {for_s} s")
    timeout_s = min(every_s, SCRAPE_TIMEOUT_S) if timeout_s is None else timeout_s
    stop = stop or threading.Event()
    statuses: dict[str, TargetStatus] = {}
    states: dict = {}
    totals: Counter = Counter()
    started = time.monotonic()
    rounds = 0
    while True:
        parts, statuses, states = scrape_round(
            targets, statuses, states, every_s, timeout_s, rules, transport
        )
        with _round_store(store) as opened:
            if parts:
                result = opened.write_parsed(parts, source="collect")
                totals.update(
                    added=result.samples_added, duplicates=result.duplicates, rejected=result.rejected
                )
            write_target_statuses(opened, statuses.values())
        rounds += 1
        summary = CollectSummary(
            rounds, totals["added"], totals["duplicates"], totals["rejected"], tuple(statuses.values())
        )
        if on_round:
            on_round(summary)
        next_round = rounds * every_s
        if for_s is not None and next_round >= for_s:
            return summary
        if stop.is_set() or stop.wait(max(0.0, next_round - (time.monotonic() - started))):
            return summary._replace(stopped=True)


@contextlib.contextmanager
def _round_store(store: Store | Callable[[], Store]) -> Iterator[Store]:
    if not callable(store):
        yield store
        return
    opened = store()
    try:
        yield opened
    finally:
        opened.close()


def list_sources(store: Store) -> list[TargetStatus]:
    """Return the status of every exporter target collected into ``store``."""
    return read_target_statuses(store)


def ingest_prometheus(
    store: Store,
    url: str,
    start: np.datetime64,
    end: np.datetime64,
    step_s: float = 300.0,
    queries: Mapping[str, ResourceQuery] | None = None,
    headers: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    rate_window_s: float | None = None,
    retries: int = 2,
    transport=None,
) -> IngestSummary:
    """Read host utilization from a Prometheus-compatible server into ``store`` as one atomic batch.

    :param url: the API root, e.g. ``http://prometheus:9090`` or ``http://mimir/prometheus``
    :param queries: PromQL per resource; the node_exporter mapping by default
    :param headers: sent with every request (e.g. ``X-Scope-OrgID`` for Mimir, ``Authorization``)
    """
    check_no_credentials(url, "--url: ")
    start_s = _epoch_s(start)
    end_s = _epoch_s(end)
    with httpx.Client(timeout=timeout_s, headers=dict(headers or {}), transport=transport) as client:
        parsed = fetch_utilization(
            client,
            url,
            start_s,
            end_s,
            step_s,
            NODE_EXPORTER_QUERIES if queries is None else queries,
            rate_window_s=rate_window_s,
            retries=retries,
        )
    result = store.write_parsed([parsed], source="prometheus")
    samples = parsed.samples
    reasons = Counter(rejection.reason for rejection in parsed.rejections)
    return IngestSummary(
        trace_format="prometheus",
        files=1,
        files_with_samples=int(samples.size > 0),
        entities=len(np.unique(samples.entity)) if samples.size else 0,
        samples_read=samples.size,
        samples_added=result.samples_added,
        duplicates=result.duplicates,
        rejected=len(parsed.rejections),
        rejected_by_reason=dict(reasons.most_common()),
        rejection_examples=parsed.rejections[:REJECTION_EXAMPLES],
        first_ts=samples.ts.min() if samples.size else None,
        last_ts=samples.ts.max() if samples.size else None,
        batches=1,
    )


def _epoch_s(value: np.datetime64) -> float:
    return float(np.datetime64(value, "ns").astype(np.int64)) / 1e9


def store_status(store: Store) -> StoreStatus:
    """Return the size and freshness of ``store``: entities, samples, batches, last write."""
    return store.read_status()


def _check_resource(resource: str) -> str:
    if resource not in RESOURCES:
        raise ConfigError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}")
    return resource


def heat_map(
    store: Store,
    timescale: str = "1h",
    resource: str = "cpu",
    threshold: float | None = None,
    share: float = DEFAULT_SHARE,
    page: int = 1,
    page_size: int = 50,
    columns: int = 168,
    end: np.datetime64 | None = None,
) -> HeatMap:
    """Return one page of the heat map of ``resource`` at ``timescale``: entities worst first.

    Entities are ranked as the overload report ranks its worst (share of their windows
    overloaded); each row shows the mean utilization of up to ``columns`` windows ending at the
    window holding ``end`` (the latest window when omitted).

    :param page: 1-based page of ``page_size`` entities (at most ``HEAT_MAP_MAX_ROWS``)
    :param columns: windows per page, 1 to ``HEAT_MAP_MAX_COLUMNS``
    """
    check_timescale(timescale)
    _check_resource(resource)
    threshold = DEFAULT_THRESHOLDS[resource] if threshold is None else threshold
    check_threshold(resource, threshold)
    check_share(share)
    if page < 1:
        raise ConfigError(f"page must be 1 or more, got {page}")
    if not 1 <= page_size <= HEAT_MAP_MAX_ROWS:
        raise ConfigError(f"page_size must be from 1 to {HEAT_MAP_MAX_ROWS}, got {page_size}")
    if not 1 <= columns <= HEAT_MAP_MAX_COLUMNS:
        raise ConfigError(f"columns must be from 1 to {HEAT_MAP_MAX_COLUMNS}, got {columns}")
    counts = store.read_window_counts((timescale,), {resource: threshold})[timescale, resource]
    codes, overloaded, windows = rank_entities(counts, share)
    chosen = slice((page - 1) * page_size, page * page_size)
    names = [str(name) for name in counts.entity_names[codes[chosen]]]
    starts = np.empty(0, dtype="datetime64[ns]")
    rows = ()
    if counts.first_window is not None:
        starts = choose_columns(counts.first_window, counts.last_window, timescale, columns, end)
        utilization = store.read_window_utilization(
            timescale, resource, threshold, names, starts[0], starts[-1]
        )
        rows = build_heat_map_rows(names, overloaded[chosen], windows[chosen], starts, utilization, share)
    return HeatMap(
        timescale=timescale,
        resource=resource,
        threshold=threshold,
        share=share,
        entities=int(codes.size),
        page=page,
        page_size=page_size,
        first_window=counts.first_window,
        last_window=counts.last_window,
        columns=tuple(starts),
        rows=rows,
    )


def entity_overload(
    store: Store,
    entity: str,
    timescale: str = "1h",
    thresholds: Mapping[str, float] | None = None,
    share: float = DEFAULT_SHARE,
    resources: Iterable[str] = RESOURCES,
) -> EntityOverload:
    """Return ``entity``'s mean and max utilization per window of each resource it has, and
    which windows were overloaded.

    Raises :class:`UnknownEntity` when the store does not know ``entity``.
    """
    check_timescale(timescale)
    resources = tuple(_check_resource(resource) for resource in resources)
    thresholds = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    for resource in resources:
        check_threshold(resource, thresholds[resource])
    check_share(share)
    if not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    per_resource = []
    for resource in resources:
        utilization = store.read_window_utilization(timescale, resource, thresholds[resource], [entity])
        if utilization.window.size:
            per_resource.append(apply_overload_rule(utilization, share))
    return EntityOverload(entity, timescale, share, tuple(per_resource))
