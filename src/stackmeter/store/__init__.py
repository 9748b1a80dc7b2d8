"""Where samples live: the ``Store`` protocol and ``open_store``."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from stackmeter.models import (
    EntitySummary,
    Parsed,
    ResourceCoverage,
    Samples,
    StoreStatus,
    WindowCounts,
    WindowHistograms,
    WindowQuantile,
    WindowUtilization,
    WriteResult,
)


class RollupStore(Protocol):
    """Rollup levels kept with the samples: reads served from them, and retention."""

    def read_levels(self) -> tuple[str, ...]:
        """The levels kept, finest first."""

    def read_coverage(self) -> dict[str, ResourceCoverage]:
        """Per resource: entities, capacity coverage, time span, step (from series extents)."""

    def read_window_counts(
        self, serving: dict[str, str], thresholds: dict[str, float]
    ) -> dict[tuple[str, str], WindowCounts]:
        """Per (timescale, resource): window counts from the level ``serving[timescale]``."""

    def read_histograms(
        self, level: str, timescale: str, resource: str, entity: str | None = None
    ) -> WindowHistograms:
        """Per (entity, window): the histogram of utilization, merged from ``level``."""

    def read_window_utilization(
        self,
        level: str,
        timescale: str,
        resource: str,
        threshold: float,
        entities: list[str],
        first_window: np.datetime64 | None = None,
        last_window: np.datetime64 | None = None,
    ) -> WindowUtilization:
        """Per (entity, window) of the entities asked, from ``level``: samples, samples at or above
        ``threshold`` (on a bin edge), mean and max utilization."""

    def read_raw_quantiles(
        self, timescale: str, resource: str, q: float, entity: str | None = None
    ) -> tuple[WindowQuantile, ...]:
        """Per (entity, window): the exact quantile ``q`` of utilization, from raw samples."""

    def read_newest_sample(self) -> np.datetime64 | None:
        """The time of the newest sample received."""

    def read_sample_span(self) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """The times of the oldest and newest samples received."""

    def drop_older(
        self,
        raw_before: np.datetime64 | None,
        level_before: dict[str, np.datetime64],
        dry_run: bool = False,
    ) -> tuple[int, dict[str, int], dict[str, np.datetime64]]:
        """Drop raw samples and rollup windows older than their horizons (with ``dry_run``, only
        count what would be dropped)."""


class Store(Protocol):
    """What every backend offers (DuckDB now; ClickHouse later)."""

    rollups: RollupStore

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

    def read_coverage(self) -> dict[str, ResourceCoverage]:
        """Per resource: entities, capacity coverage, time span, step."""

    def read_window_counts(
        self, timescales: tuple[str, ...], thresholds: dict[str, float]
    ) -> dict[tuple[str, str], WindowCounts]:
        """Per (timescale, resource): samples, and samples at or above the threshold, per window."""

    def read_entities(self) -> list[EntitySummary]:
        """Every entity with samples."""

    def read_series(
        self, entity: str, resource: str, start: np.datetime64 | None = None, end: np.datetime64 | None = None
    ) -> Samples:
        """One entity's samples of one resource, in time order."""

    def read_window_utilization(
        self,
        timescale: str,
        resource: str,
        threshold: float,
        entities: list[str],
        first_window: np.datetime64 | None = None,
        last_window: np.datetime64 | None = None,
    ) -> WindowUtilization:
        """Per (entity, window) of the entities asked: sample counts, mean and max utilization."""

    def reader(self, project: str | None = None) -> Store:
        """A store for one thread or request, seeing only ``project``'s entities when given."""

    def has_entity(self, entity: str) -> bool:
        """Whether the store knows ``entity``."""

    def read_last_batch(self) -> int:
        """The id of the last batch written: changes whenever data lands."""

    def read_status(self) -> StoreStatus:
        """Size and freshness."""

    def close(self) -> None:
        """Release the store."""


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
