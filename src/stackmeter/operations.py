"""The product's verbs: ingest traces, report overload, list entities and series. CLI and API wrap these."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from importlib import resources as package_resources
from pathlib import Path
from typing import NamedTuple

import httpx
import numpy as np
import pandas as pd

from stackmeter.analysis.overload import (
    check_share,
    check_threshold,
    detect_overloaded,
    summarize_multi_resource,
    summarize_overload,
)
from stackmeter.analysis.windows import parse_timescales
from stackmeter.errors import ConfigError, SourceUnavailable, UnknownEntity
from stackmeter.models import (
    DEFAULT_SHARE,
    DEFAULT_THRESHOLDS,
    RESOURCES,
    UNREADABLE,
    EntitySummary,
    OverloadReport,
    Parsed,
    Rejection,
    Samples,
    TargetStatus,
    no_samples,
)
from stackmeter.sources import TRACE_FORMATS
from stackmeter.sources.node_exporter import HostRules
from stackmeter.sources.prometheus import NODE_EXPORTER_QUERIES, ResourceQuery, fetch_utilization
from stackmeter.sources.scrape import DEFAULT_TIMEOUT_S as SCRAPE_TIMEOUT_S
from stackmeter.sources.scrape import Target, check_no_credentials, scrape_round
from stackmeter.store import Store
from stackmeter.store.targets import read_target_statuses, write_target_statuses

# Files are written in batches of about this many samples: each batch is one transaction.
BATCH_SAMPLES = 1_000_000
REJECTION_EXAMPLES = 10


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

    def flush() -> None:
        nonlocal pending, pending_samples
        if pending:
            result = store.write_parsed(pending, source=trace_format)
            totals["added"] += result.samples_added
            totals["duplicates"] += result.duplicates
            totals["batches"] += 1
        pending, pending_samples = [], 0

    for done, file in enumerate(files, start=1):
        try:
            parsed = trace.load_file(file, **options)
        except SourceUnavailable as exc:
            parsed = Parsed(
                str(file), no_samples(), rejections=(Rejection(str(file), None, None, UNREADABLE, str(exc)),)
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
