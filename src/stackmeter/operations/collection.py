"""Live collection: exporters scraped in rounds, and Prometheus-compatible servers read back."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import NamedTuple

import httpx
import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models import (
    DEFAULT_BACK_WINDOW_S,
    TargetStatus,
)
from stackmeter.operations.stores import store_per_write
from stackmeter.operations.traces import REJECTION_EXAMPLES, IngestSummary
from stackmeter.sources.node_exporter import HostRules
from stackmeter.sources.prometheus import NODE_EXPORTER_QUERIES, ResourceQuery, fetch_utilization
from stackmeter.sources.scrape import DEFAULT_TIMEOUT_S as SCRAPE_TIMEOUT_S
from stackmeter.sources.scrape import Target, check_no_credentials, scrape_round
from stackmeter.store import Store
from stackmeter.units import checked_time, format_utc


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
    transport: httpx.AsyncBaseTransport | None = None,
    back_window_s: float | None = DEFAULT_BACK_WINDOW_S,
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
    :param back_window_s: a sample older than its series' latest in the store less this is
        refused and counted as rejected (``None``: no limit)
    """
    if every_s <= 0:
        raise ConfigError(f"every must be positive, got {every_s} s", "every")
    if for_s is not None and for_s <= 0:
        raise ConfigError(f"for must be positive, got {for_s} s", "for")
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
        with store_per_write(store) as opened:
            if parts:
                result = opened.write_parsed(
                    parts, source="collect", back_window_s=back_window_s, rejections_once=False
                )
                totals.update(
                    added=result.samples_added, duplicates=result.duplicates, rejected=result.rejected
                )
            opened.write_target_statuses(statuses.values())
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


def list_sources(store: Store) -> list[TargetStatus]:
    """Return the status of every exporter target collected into ``store``."""
    return store.read_target_statuses()


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
    transport: httpx.BaseTransport | None = None,
    back_window_s: float | None = DEFAULT_BACK_WINDOW_S,
) -> IngestSummary:
    """Read host utilization from a Prometheus-compatible server into ``store`` as one atomic batch.

    :param url: the API root, e.g. ``http://prometheus:9090`` or ``http://mimir/prometheus``
    :param queries: PromQL per resource; the node_exporter mapping by default
    :param headers: sent with every request (e.g. ``X-Scope-OrgID`` for Mimir, ``Authorization``)
    :param back_window_s: a sample older than its series' latest in the store less this is
        refused and counted as rejected; ``None`` lifts the limit (to backfill older history)
    """
    check_no_credentials(url, "--url: ")
    check_time_range(start, end)
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
    # The input is this range of this server: its refusals are recorded once per range, and those
    # of another range are new ones even when they read the same.
    origin = f"{url} {format_utc(start)}..{format_utc(end)}"
    parsed = parsed._replace(
        origin=origin, rejections=tuple(rejection._replace(path=origin) for rejection in parsed.rejections)
    )
    result = store.write_parsed([parsed], source="prometheus", back_window_s=back_window_s)
    samples = parsed.samples
    reasons = Counter(rejection.reason for rejection in parsed.rejections)
    reasons.update(result.refused_by_reason)
    refused = sum(result.refused_by_reason.values())
    return IngestSummary(
        trace_format="prometheus",
        files=1,
        files_with_samples=int(samples.size > 0),
        entities=len(np.unique(samples.entity)) if samples.size else 0,
        samples_read=samples.size,
        samples_added=result.samples_added,
        duplicates=result.duplicates,
        rejected=len(parsed.rejections) + refused,
        rejected_by_reason=dict(reasons.most_common()),
        rejection_examples=(parsed.rejections + result.refused_examples)[:REJECTION_EXAMPLES],
        first_ts=samples.ts.min() if samples.size else None,
        last_ts=samples.ts.max() if samples.size else None,
        batches=1,
    )


def check_time_range(start: np.datetime64, end: np.datetime64) -> None:
    """Raise :class:`ConfigError` when ``start`` or ``end`` lies outside the time domain, or ``end``
    is before ``start``, saying the times as UTC."""
    if checked_time(end, "end") < checked_time(start, "start"):
        raise ConfigError(f"end {format_utc(end)} is before start {format_utc(start)}", "end")


def _epoch_s(value: np.datetime64) -> float:
    return float(np.asarray(value, dtype="datetime64[ns]").astype(np.int64)) / 1e9
