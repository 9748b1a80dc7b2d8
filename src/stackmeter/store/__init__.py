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
    WindowUtilization,
    WriteResult,
)


class Store(Protocol):
    """What every backend offers (DuckDB now; ClickHouse later)."""

    def write_parsed(self, parts: list[Parsed], source: str) -> WriteResult:
        """Write one atomic, idempotent batch."""

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


def open_store(location: str = ":memory:") -> Store:
    """Open (creating if needed) the store at ``location``: a DuckDB file path or ``:memory:``."""
    from stackmeter.store.duckdb import DuckDBStore

    return DuckDBStore(location)
