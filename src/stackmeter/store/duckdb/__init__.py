"""The embedded store: one DuckDB file (or ``:memory:``) holding samples, rollups, events and target statuses."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd

from stackmeter.errors import StackmeterError, StoreError, StoreNotFound
from stackmeter.models import (
    RAW,
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
from stackmeter.store.duckdb import (
    consolidation,
    notifications,
    quantile_reads,
    reads,
    retention,
    rollup_reads,
    rollup_writes,
    schema,
    scope,
    targets,
    window_counts,
    writes,
)


class DuckDBStore:
    """Samples in a DuckDB database (see :class:`~stackmeter.store.Store` for what each method does).

    ``DuckDBStore(":memory:")`` for tests, ``DuckDBStore("stackmeter.duckdb")`` for a file.
    Each :meth:`write_parsed` call is one transaction: it lands whole or not at all.
    """

    def __init__(
        self, path: str = ":memory:", rollup_levels: tuple[str, ...] | None = None, create: bool = True
    ):
        self.path = str(path)
        if self.path != ":memory:" and not os.path.isfile(self.path):
            if os.path.isdir(self.path):
                raise StoreError(f"cannot open store {self.path}: it is a folder, not a store file")
            if not create:
                raise StoreNotFound(f"no store at {self.path} (create one with `stackmeter ingest …`)")
        try:
            self._con = duckdb.connect(self.path)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc
        self._con.execute("SET TimeZone = 'UTC'")
        self._con.execute("SET enable_progress_bar = false")
        schema.migrate(self._con, self.path)
        self._prepare_rollups(rollup_levels)

    @classmethod
    def _on_cursor(cls, path: str, cursor: duckdb.DuckDBPyConnection) -> DuckDBStore:
        """A store on a cursor of a database that an open store has already migrated."""
        store = cls.__new__(cls)
        store.path, store._con = path, cursor
        return store

    def _prepare_rollups(self, levels: tuple[str, ...] | None) -> None:
        con = self._con
        try:
            con.execute("BEGIN")
            rollup_writes.prepare_levels(con, levels)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"cannot build the rollups of {self.path}: {exc}") from exc
        except StackmeterError:
            con.execute("ROLLBACK")
            raise

    def reader(self, project: str | None = None) -> DuckDBStore:
        """Return a store on a cursor of its own, for one thread or request; close it after use.

        With ``project``, every read sees only that project's entities and their samples.
        """
        return DuckDBStore._on_cursor(self.path, scope.open_reader(self._con, project))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- samples --------------------------------------------------------------------------

    def write_parsed(
        self,
        parts: list[Parsed],
        source: str,
        back_window_s: float | None = None,
        rejections_once: bool = True,
    ) -> WriteResult:
        return writes.write_parsed(self._con, parts, source, back_window_s, rejections_once)

    def read_coverage(self, from_rollups: bool = False) -> dict[str, ResourceCoverage]:
        if from_rollups:
            return rollup_reads.read_extents_coverage(self._con)
        # The step is read over the same windows as the rollup path reads it, so both agree.
        return reads.read_coverage(self._con, rollup_writes.read_levels(self._con) or reads.STEP_LEVELS)

    def read_entities(self) -> list[EntitySummary]:
        return reads.read_entities(self._con)

    def read_series(
        self,
        entity: str,
        resource: str,
        start: np.datetime64 | None = None,
        end: np.datetime64 | None = None,
    ) -> Samples:
        return reads.read_series(self._con, entity, resource, start, end)

    def has_entity(self, entity: str) -> bool:
        return reads.has_entity(self._con, entity)

    def read_last_batch(self) -> int:
        return reads.read_last_batch(self._con)

    def read_status(self) -> StoreStatus:
        return reads.read_status(self._con, self.path)

    # -- windows, from raw samples or a rollup level --------------------------------------

    def read_levels(self) -> tuple[str, ...]:
        return rollup_writes.read_levels(self._con)

    def read_window_counts(
        self, served_by: Mapping[str, str], thresholds: Mapping[str, float], fleet: bool = True
    ) -> dict[tuple[str, str], WindowCounts]:
        levels = {timescale: level for timescale, level in served_by.items() if level != RAW}
        raw = tuple(timescale for timescale, level in served_by.items() if level == RAW)
        counts = rollup_reads.read_level_window_counts(self._con, levels, thresholds, fleet) if levels else {}
        if raw:
            names = reads.read_entity_names(self._con)
            counts.update(window_counts.read_window_counts(self._con, names, raw, thresholds, fleet))
        return counts

    def read_window_utilization(self, query: WindowQuery, served_by: str) -> WindowUtilization:
        if served_by == RAW:
            return reads.read_window_utilization(self._con, query)
        return rollup_reads.read_level_window_utilization(self._con, query, served_by)

    def read_histograms(
        self, timescale: str, resource: str, entities: Sequence[str] | None, level: str
    ) -> WindowHistograms:
        return quantile_reads.read_histograms(self._con, timescale, resource, entities, level)

    def read_raw_quantiles(
        self, timescale: str, resource: str, q: float, entities: Sequence[str] | None = None
    ) -> tuple[WindowQuantile, ...]:
        return quantile_reads.read_raw_quantiles(self._con, timescale, resource, q, entities)

    def read_quantile_windows(self, timescale: str, resource: str, served_by: str) -> dict[str, int]:
        return quantile_reads.read_quantile_windows(self._con, timescale, resource, served_by)

    # -- retention ------------------------------------------------------------------------

    def read_sample_span(self) -> SampleSpan:
        return retention.read_sample_span(self._con)

    def drop_older(
        self,
        raw_before: np.datetime64 | None,
        level_before: Mapping[str, np.datetime64],
        dry_run: bool = False,
    ) -> Dropped:
        return retention.drop_older(self._con, self.path, raw_before, level_before, dry_run)

    # -- notifications --------------------------------------------------------------------

    def write_notifications(self, events: list[Event], dead_letters: list[DeadLetter]) -> tuple[int, int]:
        return notifications.write_notifications(self._con, events, dead_letters)

    def read_event_kinds(self) -> list[tuple[str, bool]]:
        return notifications.read_event_kinds(self._con)

    def read_events(self, event_types: Iterable[str] | None = None) -> pd.DataFrame:
        return notifications.read_events(self._con, event_types)

    def read_last_event_time(self) -> np.datetime64 | None:
        return notifications.read_last_event_time(self._con)

    def read_fleet_cpu_utilization(self, timescale: str) -> pd.DataFrame:
        return notifications.read_fleet_cpu_utilization(self._con, timescale)

    def count_notifications(self) -> tuple[int, int]:
        return notifications.count_notifications(self._con)

    def read_dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        return notifications.read_dead_letters(self._con, limit)

    # -- consolidation runs ---------------------------------------------------------------

    def write_consolidation_run(self, run: ConsolidationRun) -> None:
        consolidation.write_consolidation_run(self._con, self.path, run)

    def read_consolidation_runs(self) -> list[str]:
        return consolidation.read_consolidation_runs(self._con)

    def read_consolidation_run(self, run: str) -> ConsolidationRun | None:
        return consolidation.read_consolidation_run(self._con, run)

    # -- exporter targets -----------------------------------------------------------------

    def write_target_statuses(self, statuses: Iterable[TargetStatus]) -> None:
        targets.write_target_statuses(self._con, self.path, statuses)

    def read_target_statuses(self) -> list[TargetStatus]:
        return targets.read_target_statuses(self._con)
