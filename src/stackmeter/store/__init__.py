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

    def has_entity(self, entity: str) -> bool:
        """Whether the store knows ``entity``."""

    def read_status(self) -> StoreStatus:
        """Size and freshness."""

    def close(self) -> None:
        """Release the store."""


def open_store(location: str = ":memory:") -> Store:
    """Open (creating if needed) the store at ``location``: a DuckDB file path or ``:memory:``."""
    from stackmeter.store.duckdb import DuckDBStore

    return DuckDBStore(location)
