"""Rollups: which level serves a report, quantiles of utilization, and compaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.overload import check_resource
from stackmeter.analysis.rollups import BIN_WIDTH, quantile_bounds, serving_level, threshold_bin
from stackmeter.analysis.windows import check_timescale
from stackmeter.errors import ConfigError, StoreError, UnknownEntity
from stackmeter.models import (
    RAW,
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
    """Return the quantile ``q`` of utilization of ``entity`` (every entity when ``None``) per window,
    ordered by entity name and window.

    Served by the coarsest rollup level whose windows nest in the timescale's, within one
    histogram bin (each row gives bounds); by raw samples, exactly, with ``from_raw`` or when no
    level fits. Quantiles interpolate between order statistics as numpy and PromQL do. The whole
    answer is held at once: :func:`quantile_page` reads one page of it, :func:`quantile_pages`
    every page in turn.
    """
    level = _serving_quantiles(store, resource, q, timescale, entity, from_raw)
    return _quantiles(store, resource, q, timescale, level, None if entity is None else (entity,))


class QuantilePage(NamedTuple):
    """One page of a quantile report: ``report.windows`` are the rows ``(page − 1) · page_size``
    on of the whole answer of :func:`utilization_quantiles` (none past its end), with the same
    numbers; ``total`` is how many rows the whole answer has."""

    report: QuantileReport
    total: int


def quantile_page(
    store: Store,
    resource: str = "cpu",
    q: float = 0.95,
    timescale: str = "1d",
    entity: str | None = None,
    from_raw: bool = False,
    page: int = 1,
    page_size: int = 1_000,
) -> QuantilePage:
    """Return page ``page`` (1-based) of ``page_size`` rows of :func:`utilization_quantiles`.

    A page costs its own rows: the windows of each entity are counted first (kept at write time,
    or one scan without histograms), and histograms or samples are read only for the entities
    whose windows the page shows. Raises :class:`ConfigError` naming ``page`` or ``page_size``
    when either is not a whole number of at least 1.
    """
    for name, value in (("page", page), ("page_size", page_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise ConfigError(f"{name} must be a whole number of at least 1, got {value!r}", name)
    plan = _plan(store, resource, q, timescale, entity, from_raw)
    start = (int(page) - 1) * int(page_size)
    return QuantilePage(_rows_between(store, plan, start, start + int(page_size)), plan.total)


def quantile_pages(
    store: Store,
    resource: str = "cpu",
    q: float = 0.95,
    timescale: str = "1d",
    entity: str | None = None,
    from_raw: bool = False,
    page_size: int = 100_000,
) -> Iterator[QuantileReport]:
    """Yield the rows of :func:`utilization_quantiles` page by page, ``page_size`` rows at a time
    (one empty page when there are none): the answer of any store in the memory of one page."""
    plan = _plan(store, resource, q, timescale, entity, from_raw)
    for start in range(0, max(plan.total, 1), page_size):
        yield _rows_between(store, plan, start, start + page_size)


# The most (entity, window) quantiles one answer holds at once (about 150 bytes each in Python, as
# rows): 10,000 entities at 5 minutes over a month are 86 million, over 12 GiB. Pages are not bound.
MAX_QUANTILE_WINDOWS = 2_000_000


def check_quantile_size(
    store: Store, resource: str, timescale: str, entity: str | None, from_raw: bool = False
) -> int:
    """Return how many (entity, window) quantiles :func:`utilization_quantiles` would answer; raise
    :class:`ConfigError` naming ``entity`` when that is more than :data:`MAX_QUANTILE_WINDOWS`.
    Counting reads no histogram (see :func:`quantile_page`)."""
    plan = _plan(store, resource, 0.5, timescale, entity, from_raw)
    if plan.total > MAX_QUANTILE_WINDOWS:
        raise ConfigError(
            f"the quantiles of {len(plan.entities):,} entities at {timescale} are {plan.total:,} "
            f"(entity, window) rows, more than the {MAX_QUANTILE_WINDOWS:,} one answer holds: ask for "
            "one entity or a longer timescale, or read them page by page (`stackmeter quantile --csv` "
            "streams them, `GET /api/v1/quantile` pages them)",
            "entity",
        )
    return plan.total


class _QuantilePlan(NamedTuple):
    """Where the rows of a quantile question lie: entity i of ``entities`` (in name order) holds
    rows ``ends[i - 1]`` (0 for the first) to ``ends[i]`` of the whole answer."""

    resource: str
    q: float
    timescale: str
    level: str | None
    entities: list[str]
    ends: np.ndarray

    @property
    def total(self) -> int:
        return int(self.ends[-1]) if len(self.ends) else 0


def _serving_quantiles(
    store: Store, resource: str, q: float, timescale: str, entity: str | None, from_raw: bool
) -> str | None:
    """Check a quantile question and return the level that serves it (``None``: raw samples)."""
    check_resource(resource)
    check_timescale(timescale)
    if not 0 <= q <= 1:
        raise ConfigError(f"quantile q must be between 0 and 1, got {q}", "q")
    if entity is not None and not store.has_entity(entity):
        raise UnknownEntity(f"no entity {entity!r} in the store")
    return None if from_raw else serving_level(timescale, store.read_levels())


def _plan(
    store: Store, resource: str, q: float, timescale: str, entity: str | None, from_raw: bool
) -> _QuantilePlan:
    level = _serving_quantiles(store, resource, q, timescale, entity, from_raw)
    windows = store.read_quantile_windows(timescale, resource, level or RAW)
    if entity is not None:
        windows = {entity: windows[entity]} if entity in windows else {}
    names = sorted(windows)
    ends = np.cumsum(np.array([windows[name] for name in names], dtype=np.int64))
    return _QuantilePlan(resource, q, timescale, level, names, ends)


def _rows_between(store: Store, plan: _QuantilePlan, start: int, stop: int) -> QuantileReport:
    """Return rows ``start`` to ``stop`` of the plan's answer, reading only the entities they lie in."""
    stop = min(stop, plan.total)
    if start >= stop:
        served_by, bin_width = (RAW, 0.0) if plan.level is None else (served_text(plan.level), BIN_WIDTH)
        return QuantileReport(plan.resource, plan.timescale, plan.q, served_by, bin_width, ())
    first = int(np.searchsorted(plan.ends, start, side="right"))
    last = int(np.searchsorted(plan.ends, stop - 1, side="right"))
    before = int(plan.ends[first - 1]) if first else 0
    report = _quantiles(
        store, plan.resource, plan.q, plan.timescale, plan.level, plan.entities[first : last + 1]
    )
    if len(report.windows) != int(plan.ends[last]) - before:
        raise StoreError(
            f"the store counts {int(plan.ends[last]) - before:,} {plan.timescale} windows of "
            f"{plan.resource} for entities {plan.entities[first]!r} to {plan.entities[last]!r} but holds "
            f"{len(report.windows):,}: its report totals disagree with {served_text(plan.level or RAW)}"
        )
    return report._replace(windows=report.windows[start - before : stop - before])


def _quantiles(
    store: Store, resource: str, q: float, timescale: str, level: str | None, entities: Sequence[str] | None
) -> QuantileReport:
    """Return the quantiles of ``entities`` (every entity when ``None``) from ``level`` (raw when ``None``)."""
    if level is None:
        windows = store.read_raw_quantiles(timescale, resource, q, entities)
        return QuantileReport(resource, timescale, q, RAW, 0.0, _by_entity_and_window(windows))
    histograms = store.read_histograms(timescale, resource, entities, level)
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
