"""Where samples live: the ``Store`` protocol (all that operations may call) and ``open_store``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

import numpy as np
import pandas as pd

from stackmeter.models import (
    DeadLetter,
    Dropped,
    EntitySummary,
    Event,
    Parsed,
    ResourceCoverage,
    Samples,
    SampleSpan,
    StoreStatus,
    TargetStatus,
    WindowCounts,
    WindowHistograms,
    WindowQuantile,
    WindowQuery,
    WindowUtilization,
    WriteResult,
)
from stackmeter.models.consolidation import ConsolidationRun


class Store(Protocol):
    """What every backend offers (DuckDB now; ClickHouse later).

    Reads of windows say what serves them, ``served_by``: ``RAW`` (the samples themselves) or the
    name of a rollup level whose windows nest in the timescale's (operations choose it with
    :func:`stackmeter.analysis.rollups.serving_level`). A level answers thresholds on a
    histogram bin edge only.
    """

    # -- samples

    def write_parsed(
        self,
        parts: list[Parsed],
        source: str,
        back_window_s: float | None = None,
        rejections_once: bool = True,
    ) -> WriteResult:
        """Write one atomic, idempotent batch; with ``back_window_s``, refuse samples older than
        their series' latest less that many seconds. Rejections are recorded once per input unless
        ``rejections_once`` is false. Samples outside the domain (times, plausible values) are refused."""

    def read_coverage(self, from_rollups: bool = False) -> dict[str, ResourceCoverage]:
        """Per resource: entities, capacity coverage, time span, step; ``from_rollups`` reads the
        series extents kept with the rollups (which outlive compaction) instead of the samples."""

    def read_entities(self) -> list[EntitySummary]:
        """Every entity with samples."""

    def read_series(
        self, entity: str, resource: str, start: np.datetime64 | None = None, end: np.datetime64 | None = None
    ) -> Samples:
        """One entity's samples of one resource with ``start <= ts < end``, in time order."""

    def has_entity(self, entity: str) -> bool:
        """Whether the store knows ``entity``."""

    def read_last_batch(self) -> int:
        """The id of the last batch written: changes whenever data lands."""

    def read_status(self) -> StoreStatus:
        """Size and freshness."""

    # -- windows, from raw samples or a rollup level

    def read_levels(self) -> tuple[str, ...]:
        """The rollup levels kept, finest first."""

    def read_window_counts(
        self, served_by: Mapping[str, str], thresholds: Mapping[str, float], fleet: bool = True
    ) -> dict[tuple[str, str], WindowCounts]:
        """Per (timescale, resource): samples, and samples at or above the resource's threshold, per
        window, each timescale of ``served_by`` read from what serves it there; the fleet's totals
        per window only with ``fleet`` (empty otherwise: a heat map ranks without them)."""

    def read_window_utilization(self, query: WindowQuery, served_by: str) -> WindowUtilization:
        """Per (entity, window) of the entities asked: samples, samples at or above the threshold,
        mean and max utilization."""

    def read_histograms(
        self, timescale: str, resource: str, entities: Sequence[str] | None, level: str
    ) -> WindowHistograms:
        """Per (entity, window) of ``entities`` (every entity when ``None``): the histogram of
        utilization, merged from ``level``."""

    def read_raw_quantiles(
        self, timescale: str, resource: str, q: float, entities: Sequence[str] | None = None
    ) -> tuple[WindowQuantile, ...]:
        """Per (entity, window) of ``entities`` (every entity when ``None``): the exact quantile
        ``q`` of utilization, from raw samples."""

    def read_quantile_windows(self, timescale: str, resource: str, served_by: str) -> dict[str, int]:
        """Per entity with judged samples of ``resource``: how many ``timescale`` windows
        :meth:`read_histograms` (``served_by`` a level) or :meth:`read_raw_quantiles` (``raw``)
        give it, without reading a histogram or a sample's value."""

    # -- retention

    def read_sample_span(self) -> SampleSpan:
        """The times of the oldest and newest samples received."""

    def drop_older(
        self,
        raw_before: np.datetime64 | None,
        level_before: Mapping[str, np.datetime64],
        dry_run: bool = False,
    ) -> Dropped:
        """Drop raw samples and rollup windows older than their horizons, in one transaction (with
        ``dry_run``, only count what would be dropped)."""

    # -- notifications

    def write_notifications(self, events: list[Event], dead_letters: list[DeadLetter]) -> tuple[int, int]:
        """Write events and dead letters in one transaction, skipping those already held; return
        (events added, dead letters added)."""

    def read_event_kinds(self) -> list[tuple[str, bool]]:
        """The distinct (event type, carries a fault) pairs of the events held."""

    def read_events(self, event_types: Iterable[str] | None = None) -> pd.DataFrame:
        """Every event (of ``event_types`` only, when given), by time, with the columns of
        :class:`~stackmeter.models.Event` (``ts`` UTC)."""

    def read_last_event_time(self) -> np.datetime64 | None:
        """The time of the latest event in the whole store, even through a project's reader."""

    def read_fleet_cpu_utilization(self, timescale: str) -> pd.DataFrame:
        """The mean CPU utilization of every sample with a capacity, per window of ``timescale``:
        columns ``window`` and ``fleet_cpu_utilization`` (from the coarsest rollup level whose
        windows nest in the timescale's, else from raw samples)."""

    def count_notifications(self) -> tuple[int, int]:
        """(events, dead letters) held."""

    def read_dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """Dead letters, most recently received first (at most ``limit``)."""

    # -- consolidation runs

    def write_consolidation_run(self, run: ConsolidationRun) -> None:
        """Replace the run of that name (its window, hosts, host states, overload flags and
        migrations) in one transaction."""

    def read_consolidation_runs(self) -> list[str]:
        """The names of the consolidation runs held, in name order (none through a project's reader)."""

    def read_consolidation_run(self, run: str) -> ConsolidationRun | None:
        """The run of that name with all its records in the order they were written, or ``None``."""

    # -- exporter targets

    def write_target_statuses(self, statuses: Iterable[TargetStatus]) -> None:
        """Replace the stored status of each target given (one transaction)."""

    def read_target_statuses(self) -> list[TargetStatus]:
        """The stored status of every target, by target URL."""

    # -- connections

    def reader(self, project: str | None = None) -> Store:
        """A store for one thread or request, seeing only ``project``'s entities when given."""

    def close(self) -> None:
        """Release the store."""

    def __enter__(self) -> Store:
        """The store itself, closed on leaving the ``with`` block."""

    def __exit__(self, *exc_info: object) -> None:
        """Close the store."""


def open_store(
    location: str = ":memory:", rollup_levels: tuple[str, ...] | None = None, create: bool = True
) -> Store:
    """Open (creating if needed) the store at ``location``: a DuckDB file path or ``:memory:``.

    :param create: create the store when there is none at ``location``; ``False`` raises
        :class:`~stackmeter.errors.StoreNotFound` instead (what commands that only read do, so that
        a mistyped path is not taken for an empty store)
    :param rollup_levels: make the store's rollup levels exactly these, building the new ones
        from the raw samples and dropping the others; ``None`` keeps the store's own (a new
        store starts with ``5m``, ``1h`` and ``1d``)
    """
    from stackmeter.store.duckdb import DuckDBStore

    return DuckDBStore(location, rollup_levels=rollup_levels, create=create)
