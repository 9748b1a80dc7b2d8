"""Rollups: which level serves a report, quantiles of utilization, and compaction."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.overload import check_resource
from stackmeter.analysis.rollups import BIN_WIDTH, quantile_bounds, serving_level, threshold_bin
from stackmeter.analysis.windows import check_timescale
from stackmeter.errors import ConfigError, UnknownEntity
from stackmeter.models import (
    RAW,
    TIMESCALE_BY_NAME,
    CompactSummary,
    QuantileReport,
    ResourceCoverage,
    WindowCounts,
    WindowQuantile,
    WindowQuery,
    WindowUtilization,
)
from stackmeter.store import Store
from stackmeter.units import checked_time, format_utc


class ServedCounts(NamedTuple):
    """The window counts and coverage behind a report, and what served them.

    ``served_by`` maps each timescale to ``rollup <level>`` or ``raw``; ``note`` says why raw
    samples served, if they did (empty otherwise).
    """

    counts: dict[tuple[str, str], WindowCounts]
    coverage: dict[str, ResourceCoverage]
    served_by: dict[str, str]
    note: str


def served_text(served_by: str) -> str:
    """How a report names what served it: ``raw``, or ``rollup <level>``."""
    return RAW if served_by == RAW else f"rollup {served_by}"


def read_counts(
    store: Store,
    scales: Sequence[str],
    thresholds: Mapping[str, float],
    from_raw: bool = False,
    fleet: bool = True,
) -> ServedCounts:
    """Return the window counts and coverage behind an overload report, each timescale read from
    the coarsest rollup level whose windows nest in its own, or from raw samples.

    Rollups give the raw answer exactly when every threshold lies on a histogram bin edge (a whole
    percent up to 2). Raw samples serve a timescale when no level fits it, when a threshold is off
    an edge, or with ``from_raw``. ``fleet=False`` leaves out what only an overload report uses:
    the fleet's totals per window and the coverage.
    """
    off_edge = [f"{name}={value:g}" for name, value in thresholds.items() if threshold_bin(value) is None]
    levels = () if from_raw or off_edge else store.read_levels()
    served_by = {scale: serving_level(scale, levels) or RAW for scale in scales}
    counts = store.read_window_counts(served_by, thresholds, fleet)
    from_samples = [scale for scale in scales if served_by[scale] == RAW]
    # The series extents outlive compaction; raw coverage is read when only raw samples serve.
    # Without ``fleet`` (a heat map) neither the fleet's totals nor coverage are read.
    coverage = store.read_coverage(from_rollups=len(from_samples) < len(scales)) if fleet else {}
    if not from_samples:
        note = ""
    elif from_raw:
        note = "raw samples asked for"
    elif off_edge:
        note = f"threshold {', '.join(off_edge)} not on a {BIN_WIDTH:g} bin edge"
    else:
        note = f"no rollup level fits {', '.join(from_samples)}"
    return ServedCounts(counts, coverage, {scale: served_text(served_by[scale]) for scale in scales}, note)


class ServedUtilization(NamedTuple):
    """Per-(entity, window) utilization, and what served it (``rollup <level>`` or ``raw``)."""

    utilization: WindowUtilization
    served_by: str


def read_utilization(store: Store, query: WindowQuery, from_raw: bool = False) -> ServedUtilization:
    """Return per (entity, window) utilization of the query's entities (samples, samples ≥ θ,
    mean, max) and what served it: the coarsest level nesting in the timescale when θ is on a bin
    edge, else raw samples. Counts are exact either way; means may differ in their last bits."""
    levels = () if from_raw or threshold_bin(query.threshold) is None else store.read_levels()
    served_by = serving_level(query.timescale, levels) or RAW
    return ServedUtilization(store.read_window_utilization(query, served_by), served_text(served_by))


def utilization_quantiles(
    store: Store,
    resource: str = "cpu",
    q: float = 0.95,
    timescale: str = "1d",
    entity: str | None = None,
    from_raw: bool = False,
) -> QuantileReport:
    """Return the quantile ``q`` of utilization of ``entity`` (every entity when ``None``) per window.

    Served by the coarsest rollup level whose windows nest in the timescale's, within one
    histogram bin (each row gives bounds); by raw samples, exactly, with ``from_raw`` or when no
    level fits. Quantiles interpolate between order statistics as numpy and PromQL do.
    """
    check_resource(resource)
    check_timescale(timescale)
    if not 0 <= q <= 1:
        raise ConfigError(f"quantile q must be between 0 and 1, got {q}", "q")
    if entity is not None and not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    level = None if from_raw else serving_level(timescale, store.read_levels())
    if level is None:
        windows = store.read_raw_quantiles(timescale, resource, q, entity)
        return QuantileReport(resource, timescale, q, RAW, 0.0, _by_entity_and_window(windows))
    histograms = store.read_histograms(timescale, resource, entity, level)
    lower, upper = quantile_bounds(histograms, q)
    middle = (lower + upper) / 2
    windows = tuple(
        WindowQuantile(str(name), window, int(n), float(value), float(low), float(high))
        for name, window, n, value, low, high in zip(
            histograms.entity, histograms.window, histograms.samples, middle, lower, upper, strict=True
        )
    )
    return QuantileReport(
        resource, timescale, q, served_text(level), BIN_WIDTH, _by_entity_and_window(windows)
    )


# The most (entity, window) quantiles one answer of the API may compute: every entity's quantiles
# are computed before a page is cut, and 10,000 entities at 5 minutes are 86 million (over 12 GiB).
MAX_QUANTILE_WINDOWS = 2_000_000


def check_quantile_size(store: Store, resource: str, timescale: str, entity: str | None) -> int:
    """Return about how many (entity, window) quantiles the question asks for; raise
    :class:`ConfigError` naming ``entity`` when it is more than :data:`MAX_QUANTILE_WINDOWS`."""
    coverage = store.read_coverage(from_rollups=True).get(check_resource(resource))
    if coverage is None or coverage.first_ts is None or coverage.last_ts is None:
        return 0
    span_s = (coverage.last_ts - coverage.first_ts) / np.timedelta64(1, "s")
    windows = int(span_s // TIMESCALE_BY_NAME[check_timescale(timescale)].nominal_s) + 1
    entities = 1 if entity is not None else coverage.entities - coverage.without_capacity
    if entities * windows > MAX_QUANTILE_WINDOWS:
        raise ConfigError(
            f"quantiles of {entities:,} entities over about {windows:,} windows of {timescale} are "
            f"{entities * windows:,}, more than the {MAX_QUANTILE_WINDOWS:,} one answer computes: "
            "ask for one entity, or a longer timescale",
            "entity",
        )
    return entities * windows


def _by_entity_and_window(windows: tuple[WindowQuantile, ...]) -> tuple[WindowQuantile, ...]:
    return tuple(sorted(windows, key=lambda row: (row.entity, row.window)))


def compact(
    store: Store,
    retention: Mapping[str, float],
    as_of: np.datetime64 | None = None,
    dry_run: bool = False,
    force: bool = False,
) -> CompactSummary:
    """Drop raw samples and rollup windows older than their retention, counted back from ``as_of``.

    ``as_of`` defaults to the newest sample in the store, so that traces replayed from the past
    keep their recent history (for live data the newest sample is about now). Raw samples or a level
    without a retention are kept whole. A window is dropped only once it ends before its
    level's horizon. Raw samples older than what was dropped are refused by later ingests, so
    that the rollups never count a sample twice.

    :param retention: seconds to keep per ``raw`` and per rollup level (see :func:`stackmeter.settings.parse_retention`);
        each level must keep at least as long as raw samples and every finer level (one without a
        retention keeps everything)
    :param dry_run: count what would be dropped and leave the store unchanged
    :param force: accept an ``as_of`` outside the span of the store's samples; without it, such
        a time (a typo that would drop everything) raises :class:`ConfigError`, dry run or not
    """
    levels = store.read_levels()
    longest, longest_name = 0.0, RAW
    for name in (RAW, *levels):
        seconds = retention.get(name, float("inf"))
        if seconds < longest:
            raise ConfigError(
                f"rollup level {name} would be kept {seconds:g} s, less than {longest_name} "
                f"({longest:g} s): reports served by {name} would lose history that {longest_name} keeps",
                "retention",
            )
        longest, longest_name = seconds, name
    first, newest = store.read_sample_span()
    if first is None or newest is None:
        return CompactSummary(None, None, 0, {}, {}, dry_run)
    as_of = newest if as_of is None else checked_time(as_of, "as_of")
    if not force and not first <= as_of <= newest:
        raise ConfigError(
            f"as of {format_utc(as_of)} lies outside the store's samples ({format_utc(first)} .. "
            f"{format_utc(newest)}); give --force to compact as of it anyway (with --dry-run to "
            "see first what it would drop)",
            "as_of",
        )

    def horizon(seconds: float) -> np.datetime64:
        return as_of - np.timedelta64(int(round(seconds * 1e9)), "ns")

    raw_s = retention.get(RAW)
    raw_before = None if raw_s is None else horizon(raw_s)
    level_before = {level: horizon(retention[level]) for level in levels if level in retention}
    dropped = store.drop_older(raw_before, level_before, dry_run)
    return CompactSummary(as_of, raw_before, dropped.samples, dropped.rollup_rows, dropped.kept_from, dry_run)
