"""The rollup side of the DuckDB store: its levels, reads served from them, exact quantiles from
raw samples, and retention."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import numpy as np

from stackmeter.errors import StoreError
from stackmeter.models import (
    ResourceCoverage,
    WindowCounts,
    WindowHistograms,
    WindowQuantile,
    WindowUtilization,
)
from stackmeter.store import retention, rollup_reads, rollup_writes
from stackmeter.store.schema import CODE_RESOURCES, RESOURCE_CODES
from stackmeter.store.utilization import window_utilization_of
from stackmeter.store.window_counts import window_counts_of
from stackmeter.store.window_sql import datetime_of, us_of, windows_of

if TYPE_CHECKING:
    from stackmeter.store.duckdb import DuckDBStore


class DuckDBRollups:
    """Rollup levels of a :class:`DuckDBStore` (see ``rollup_writes.py`` and ``rollup_reads.py``).

    A project-scoped reader's rollups see that project's entities only, as its samples do.
    """

    def __init__(self, store: DuckDBStore):
        self._store = store
        self._con = store.connection

    def read_levels(self) -> tuple[str, ...]:
        """Return the levels the store keeps, finest first."""
        return rollup_writes.read_levels(self._con)

    def read_coverage(self) -> dict[str, ResourceCoverage]:
        """Like ``DuckDBStore.read_coverage``, from the series extents kept with the rollups
        (which outlive compaction)."""
        return {
            CODE_RESOURCES[code]: ResourceCoverage(
                CODE_RESOURCES[code], entities, without, int(n), datetime_of(first), datetime_of(last), step
            )
            for code, entities, without, n, first, last, step in rollup_reads.read_coverage_rows(self._con)
        }

    def read_window_counts(
        self, serving: dict[str, str], thresholds: dict[str, float]
    ) -> dict[tuple[str, str], WindowCounts]:
        """Like ``DuckDBStore.read_window_counts``, each timescale from the level ``serving``
        names; every threshold must be on a histogram bin edge."""
        codes = {RESOURCE_CODES[name]: threshold for name, threshold in thresholds.items()}
        names, result = self._store.read_entity_names(), {}
        for timescale, level in serving.items():
            table = f"_rollup_counts_{timescale}"
            try:
                rollup_reads.create_window_count_tables(self._con, timescale, level, codes, table)
                result.update(window_counts_of(self._con, table, timescale, thresholds, names))
            finally:
                self._con.execute(f"DROP TABLE IF EXISTS {table}")
                self._con.execute(f"DROP TABLE IF EXISTS {table}_entities")
        return result

    def read_histograms(
        self, level: str, timescale: str, resource: str, entity: str | None = None
    ) -> WindowHistograms:
        """Return per (entity, ``timescale`` window) the utilization histogram merged from ``level``."""
        rows = rollup_reads.read_histograms(
            self._con, level, timescale, RESOURCE_CODES[resource], self._entity_id(entity)
        )
        return WindowHistograms(
            entity=self._store.read_entity_names()[rows["entity_id"]],
            window=windows_of(rows["window_us"]),
            **{key: rows[key] for key in ("samples", "minimum", "maximum", "offsets", "bins", "counts")},
        )

    def read_raw_quantiles(
        self, timescale: str, resource: str, q: float, entity: str | None = None
    ) -> tuple[WindowQuantile, ...]:
        """Return the exact quantile ``q`` of utilization per (entity, window) from raw samples."""
        rows = rollup_reads.read_raw_quantiles(
            self._con, timescale, RESOURCE_CODES[resource], q, self._entity_id(entity)
        )
        names = self._store.read_entity_names()[rows["entity_id"]]
        return tuple(
            WindowQuantile(str(name), window, int(n), float(value), float(value), float(value))
            for name, window, n, value in zip(
                names, windows_of(rows["window_us"]), rows["samples"], rows["quantile"], strict=True
            )
        )

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
        """Like ``DuckDBStore.read_window_utilization``, from ``level``; ``threshold`` must be on a
        histogram bin edge."""
        bounds = [None if t is None else us_of(t) for t in (first_window, last_window)]
        rows = rollup_reads.read_window_utilization(
            self._con, level, timescale, RESOURCE_CODES[resource], threshold, entities, bounds
        )
        return window_utilization_of(rows, timescale, resource, threshold)

    def _entity_id(self, entity: str | None) -> int | None:
        if entity is None:
            return None
        rows = self._con.execute("SELECT entity_id FROM entities WHERE entity = ?", [entity]).fetchall()
        return rows[0][0] if rows else -1

    def read_newest_sample(self) -> np.datetime64 | None:
        """Return the time of the newest sample the store has received."""
        return datetime_of(retention.newest_sample_us(self._con))

    def read_sample_span(self) -> tuple[np.datetime64 | None, np.datetime64 | None]:
        """Return the times of the oldest and newest samples the store has received."""
        first, last = retention.sample_span_us(self._con)
        return datetime_of(first), datetime_of(last)

    def drop_older(
        self,
        raw_before: np.datetime64 | None,
        level_before: dict[str, np.datetime64],
        dry_run: bool = False,
    ) -> tuple[int, dict[str, int], dict[str, np.datetime64]]:
        """Drop raw samples before ``raw_before`` (none when ``None``) and the windows of each
        level that end before its horizon, in one transaction. Raw samples older than what was
        dropped are refused by later writes.

        Returns the samples dropped, the rows dropped per level and each level's first kept window;
        with ``dry_run``, what would be dropped, the store left unchanged.
        """
        raw_us = None if raw_before is None else us_of(raw_before)
        level_us = {level: us_of(t) for level, t in level_before.items()}
        try:
            self._con.execute("BEGIN")
            samples, rows, kept_from = retention.drop_older(self._con, raw_us, level_us)
            # A dry run drops for real inside the transaction, counts, and undoes it: exact counts.
            self._con.execute("ROLLBACK" if dry_run else "COMMIT")
        except duckdb.Error as exc:
            self._con.execute("ROLLBACK")
            raise StoreError(f"compaction of {self._store.path} failed, store unchanged: {exc}") from exc
        if not dry_run:
            self._con.execute("CHECKPOINT")
        return samples, rows, {level: datetime_of(us) for level, us in kept_from.items()}
