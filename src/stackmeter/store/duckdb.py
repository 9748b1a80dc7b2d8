"""The embedded store: one DuckDB file (or ``:memory:``) holding samples, entities and rejections."""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from stackmeter.errors import ConfigError, SchemaOutdated, StoreError, StoreNotFound
from stackmeter.models import (
    RESOURCES,
    Entity,
    EntitySummary,
    Parsed,
    Rejection,
    ResourceCoverage,
    Samples,
    StoreStatus,
    WindowCounts,
    WindowUtilization,
    WriteResult,
    concat_samples,
    make_samples,
    resource_bounds,
    utf8_text,
)
from stackmeter.store import rollup_writes
from stackmeter.store.batches import entities_overlap, first_of_duplicates, refuse_invalid, with_utf8_text
from stackmeter.store.duckdb_rollups import DuckDBRollups
from stackmeter.store.rejections import insert_rejections
from stackmeter.store.schema import CODE_RESOURCES, MIGRATIONS, RESOURCE_CODES
from stackmeter.store.scope import open_reader
from stackmeter.store.utilization import read_window_utilization
from stackmeter.store.window_counts import read_window_counts
from stackmeter.store.window_sql import datetime_of


class DuckDBStore:
    """Samples in a DuckDB database.

    ``DuckDBStore(":memory:")`` for tests, ``DuckDBStore("stackmeter.duckdb")`` for a file.
    Each :meth:`write_parsed` call is one transaction: it lands whole or not at all.
    """

    def __init__(
        self,
        path: str = ":memory:",
        connection: duckdb.DuckDBPyConnection | None = None,
        rollup_levels: tuple[str, ...] | None = None,
        create: bool = True,
    ):
        self.path = str(path)
        if connection is not None:
            # A reader on a database that an open store has already migrated.
            self._con = connection
            self.rollups = DuckDBRollups(self)
            return
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
        self._migrate()
        self.rollups = DuckDBRollups(self)
        self._prepare_rollups(rollup_levels)

    def reader(self, project: str | None = None) -> DuckDBStore:
        """Return a store on a cursor of its own, for one thread or request; close it after use.

        With ``project``, every read sees only that project's entities and their samples.
        """
        return DuckDBStore(self.path, connection=open_reader(self._con, project))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for store modules of later features."""
        return self._con

    # -- schema ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        con = self._con
        con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = con.execute("SELECT max(version) FROM schema_version").fetchall()[0]
        version = row[0] or 0
        if version > len(MIGRATIONS):
            raise SchemaOutdated(
                f"store {self.path} is at schema version {version}, this stackmeter knows "
                f"{len(MIGRATIONS)}: upgrade stackmeter"
            )
        for number, ddl in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                con.execute("BEGIN")
                con.execute(ddl)
                con.execute("INSERT INTO schema_version VALUES (?)", [number])
                con.execute("COMMIT")
            except duckdb.Error as exc:
                con.execute("ROLLBACK")
                raise StoreError(f"migration {number} of {self.path} failed: {exc}") from exc

    def _prepare_rollups(self, levels: tuple[str, ...] | None) -> None:
        con = self._con
        try:
            con.execute("BEGIN")
            rollup_writes.prepare_levels(con, levels)
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"cannot build the rollups of {self.path}: {exc}") from exc
        except ConfigError:
            con.execute("ROLLBACK")
            raise

    def read_schema_version(self) -> int:
        return self._con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0]

    # -- writes ---------------------------------------------------------------------------

    def write_parsed(
        self,
        parts: list[Parsed],
        source: str,
        back_window_s: float | None = None,
        rejections_once: bool = True,
    ) -> WriteResult:
        """Write the samples, entities and rejections of ``parts`` as one atomic batch, and fold
        the new samples into the rollup levels.

        Samples already in the store (same entity, resource and ts) are kept as they are and
        counted as duplicates, so writing the same input twice adds nothing. Samples older than
        what compaction dropped are refused, and so are, with ``back_window_s``, samples older
        than their series' latest sample in the store less that many seconds; both are counted
        in the rejections with their reason. A rejection the store already records is not recorded
        again unless ``rejections_once`` is false (a live scrape's failures are new input each round).
        """
        parts = [with_utf8_text(part) for part in parts]
        samples = concat_samples([part.samples for part in parts])
        part_index = np.repeat(np.arange(len(parts), dtype=np.int32), [p.samples.size for p in parts])
        resource_codes, resource_names = pd.factorize(samples.resource)
        samples, part_index, resource_codes, store_refused = refuse_invalid(
            samples, part_index, resource_codes, resource_bounds(resource_names)[resource_codes], parts
        )
        rejections = [rejection for part in parts for rejection in part.rejections] + store_refused
        duplicates = sum(part.duplicates for part in parts)
        if entities_overlap(parts):
            samples, dropped, keep = first_of_duplicates(samples)
            part_index, resource_codes = part_index[keep], resource_codes[keep]
            duplicates += dropped
        back_window_us = None if back_window_s is None else int(round(back_window_s * 1e6))
        con = self._con
        refused: dict[str, int] = {}
        examples: tuple[Rejection, ...] = ()
        try:
            con.execute("BEGIN")
            batch_id = con.execute("SELECT nextval('batch_ids')").fetchall()[0][0]
            added = refused_count = 0
            if samples.size:
                added, refused_count = self._insert_samples(
                    samples, part_index, (resource_codes, resource_names), parts, back_window_us
                )
            self._insert_rejections(batch_id, rejections, rejections_once)
            if refused_count:
                refused, examples = rollup_writes.write_refusals(
                    con, batch_id, [part.origin for part in parts], once=rejections_once
                )
            if store_refused:
                for rejection in store_refused:
                    refused[rejection.reason] = refused.get(rejection.reason, 0) + 1
                examples = (tuple(store_refused) + examples)[:10]
            duplicates += samples.size - added - refused_count
            con.execute(
                "INSERT INTO batches VALUES (?, ?, now(), ?, ?, ?, ?)",
                [batch_id, source, len(parts), added, duplicates, len(rejections) + refused_count],
            )
            con.execute("COMMIT")
        except (duckdb.Error, KeyError, ValueError, pa.ArrowException) as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"batch from {source} not written, store unchanged: {exc}") from exc
        return WriteResult(batch_id, added, duplicates, len(rejections) + refused_count, refused, examples)

    def _insert_samples(
        self,
        samples: Samples,
        part_index: np.ndarray,
        resources: tuple[np.ndarray, object],
        parts: list[Parsed],
        back_window_us: int | None,
    ) -> tuple[int, int]:
        """Insert the samples new to the store and fold them into the rollups; return how many
        were added and how many refused (left in the temporary table ``_refused``)."""
        entity_codes, raw_names = pd.factorize(samples.entity)
        entity_names = [utf8_text(name) for name in raw_names]  # a file name may not be UTF-8
        declared = {entity.entity: entity for part in parts for entity in part.entities}
        known_before = self._con.execute("SELECT coalesce(max(entity_id), -1) FROM entities").fetchall()[0][0]
        ids = self._write_entities([declared.get(name, Entity(name)) for name in entity_names])
        entity_ids = np.array([ids[name] for name in entity_names], dtype=np.int32)[entity_codes]
        resource_codes, resource_names = resources
        # a name the store does not know has no sample left (refused), whatever code it gets
        codes = np.array([RESOURCE_CODES.get(name, 255) for name in resource_names], dtype=np.uint8)
        batch = pa.table(
            {
                "entity_id": entity_ids,
                "resource_code": codes[resource_codes],
                "ts": pa.array(samples.ts.astype("datetime64[us]"), pa.timestamp("us", tz="UTC")),
                "used": samples.used,
                "capacity": pa.array(samples.capacity, from_pandas=True),
                "part": part_index,
            }
        )
        con = self._con
        may_refuse = back_window_us is not None or rollup_writes.read_raw_horizon_us(con) is not None
        con.register("_batch", batch)
        try:
            if entity_ids.min() > known_before:
                # Every entity is new in this batch: nothing in the store can collide.
                new = "SELECT * FROM _batch"
            else:
                # Only rows of the batch's entities and time range can collide: the filter lets
                # DuckDB skip the rest of the table through its zone maps.
                new = f"""
                    SELECT b.* FROM _batch b ANTI JOIN (
                        SELECT entity_id, resource_code, ts FROM samples
                        WHERE entity_id BETWEEN {int(entity_ids.min())} AND {int(entity_ids.max())}
                          AND ts BETWEEN '{_utc_literal(samples.ts.min())}'::TIMESTAMPTZ
                                     AND '{_utc_literal(samples.ts.max())}'::TIMESTAMPTZ
                    ) s USING (entity_id, resource_code, ts)
                """
            if new == "SELECT * FROM _batch" and not may_refuse:
                fresh = "_batch"
            else:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _fresh AS {new}")
                fresh = "_fresh"
            refused = rollup_writes.split_refused(con, fresh, back_window_us) if may_refuse else 0
            (added,) = con.execute(
                f"INSERT INTO samples SELECT entity_id, resource_code, ts, used, capacity FROM {fresh}"
            ).fetchall()[0]
            rollup_writes.update_rollups(con, fresh)
            # On an error the transaction rolls back, and the temporary table with it.
            con.execute("DROP TABLE IF EXISTS _fresh")
        finally:
            con.unregister("_batch")
        return int(added), refused

    def _write_entities(self, entities: list[Entity]) -> dict[str, int]:
        frame = pd.DataFrame(entities, columns=list(Entity._fields))
        self._con.register("_entities", frame)
        try:
            self._con.execute(
                """
                INSERT INTO entities
                SELECT (SELECT coalesce(max(entity_id), -1) FROM entities) + row_number() OVER (),
                       n.entity, n.kind, n.project, n.host
                FROM _entities n ANTI JOIN entities e USING (entity)
                """
            )
            rows = self._con.execute(
                "SELECT entity, entity_id FROM entities SEMI JOIN _entities USING (entity)"
            ).fetchall()
        finally:
            self._con.unregister("_entities")
        return dict(rows)

    def _insert_rejections(self, batch_id: int, rejections: list, once: bool) -> None:
        if not rejections:
            return
        frame = pd.DataFrame(rejections, columns=["origin", "line", "field", "reason", "detail"])
        frame.insert(0, "batch_id", batch_id)
        frame["line"] = frame["line"].astype("Int64")
        self._con.register("_rejections", frame)
        try:
            insert_rejections(self._con, "_rejections", once)
        finally:
            self._con.unregister("_rejections")

    # -- reads ----------------------------------------------------------------------------

    def read_coverage(self) -> dict[str, ResourceCoverage]:
        """Return, per resource held, its entities, capacity coverage, time span and step."""
        rows = self._con.execute(
            """
            WITH per_entity AS (
                SELECT resource_code, entity_id, count(*) AS n, count(capacity) AS judged,
                       epoch_us(min(ts)) AS first_us, epoch_us(max(ts)) AS last_us,
                       epoch_us(min(ts) FILTER (WHERE capacity IS NOT NULL)) AS judged_first_us,
                       epoch_us(max(ts) FILTER (WHERE capacity IS NOT NULL)) AS judged_last_us
                FROM samples GROUP BY ALL
            )
            SELECT resource_code, count(*), count(*) FILTER (WHERE judged = 0), sum(n),
                   min(judged_first_us), max(judged_last_us),
                   median((last_us - first_us) / (n - 1)) FILTER (WHERE n > 1) / 1e6
            FROM per_entity GROUP BY resource_code ORDER BY resource_code
            """
        ).fetchall()
        return {
            CODE_RESOURCES[code]: ResourceCoverage(
                CODE_RESOURCES[code], entities, without, int(n), datetime_of(first), datetime_of(last), step
            )
            for code, entities, without, n, first, last, step in rows
        }

    def read_window_counts(
        self, timescales: tuple[str, ...], thresholds: dict[str, float]
    ) -> dict[tuple[str, str], WindowCounts]:
        """Return :class:`WindowCounts` per (timescale, resource) for utilization ≥ threshold."""
        return read_window_counts(self._con, self.read_entity_names(), timescales, thresholds)

    def read_entity_names(self) -> np.ndarray:
        """Return entity names indexed by entity id (the codes of :class:`WindowCounts`)."""
        rows = self._con.execute("SELECT entity_id, entity FROM entities ORDER BY entity_id").fetchall()
        names = np.empty(rows[-1][0] + 1 if rows else 0, dtype=object)
        for entity_id, entity in rows:
            names[entity_id] = entity
        return names

    def read_entities(self) -> list[EntitySummary]:
        """Return every entity with samples, with its resources and time span."""
        rows = self._con.execute(
            """
            SELECT e.entity, e.kind, e.project, list(DISTINCT s.resource_code ORDER BY s.resource_code),
                   count(*), epoch_us(min(s.ts)), epoch_us(max(s.ts))
            FROM samples s JOIN entities e USING (entity_id)
            GROUP BY e.entity, e.kind, e.project ORDER BY e.entity
            """
        ).fetchall()
        return [
            EntitySummary(
                entity,
                kind,
                project,
                tuple(CODE_RESOURCES[c] for c in codes),
                n,
                datetime_of(first),
                datetime_of(last),
            )
            for entity, kind, project, codes, n, first, last in rows
        ]

    def read_series(
        self,
        entity: str,
        resource: str,
        start: np.datetime64 | None = None,
        end: np.datetime64 | None = None,
    ) -> Samples:
        """Return the samples of one entity and resource with ``start <= ts < end``, in time order."""
        if resource not in RESOURCE_CODES:
            raise StoreError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}")
        bounds = [None if t is None else np.datetime64(t, "us").item() for t in (start, end)]
        rows = self._con.execute(
            """
            SELECT epoch_us(s.ts) AS ts_us, s.used, s.capacity
            FROM samples s JOIN entities e USING (entity_id)
            WHERE e.entity = ? AND s.resource_code = ?
              AND (?::TIMESTAMPTZ IS NULL OR s.ts >= ?::TIMESTAMPTZ)
              AND (?::TIMESTAMPTZ IS NULL OR s.ts < ?::TIMESTAMPTZ)
            ORDER BY s.ts
            """,
            [entity, RESOURCE_CODES[resource], bounds[0], bounds[0], bounds[1], bounds[1]],
        ).fetchnumpy()
        capacity = np.ma.filled(np.ma.asarray(rows["capacity"], dtype=np.float64), np.nan)
        return make_samples(
            np.asarray(rows["ts_us"], dtype="datetime64[us]"), entity, resource, rows["used"], capacity
        )

    def read_window_utilization(
        self,
        timescale: str,
        resource: str,
        threshold: float,
        entities: list[str],
        first_window: np.datetime64 | None = None,
        last_window: np.datetime64 | None = None,
    ) -> WindowUtilization:
        """Return per-(entity, window) utilization of ``entities`` (see :class:`WindowUtilization`)."""
        return read_window_utilization(
            self._con, timescale, resource, threshold, entities, first_window, last_window
        )

    def has_entity(self, entity: str) -> bool:
        return (
            self._con.execute("SELECT count(*) FROM entities WHERE entity = ?", [entity]).fetchall()[0][0] > 0
        )

    def read_last_batch(self) -> int:
        """Return the id of the last batch written (0 before any): it changes whenever data lands."""
        return self._con.execute("SELECT coalesce(max(batch_id), 0) FROM batches").fetchall()[0][0]

    def read_status(self) -> StoreStatus:
        """Return the size and freshness of the store."""
        entities, samples, batches, rejected, last = self._con.execute(
            """
            SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM samples),
                   (SELECT count(*) FROM batches), (SELECT count(*) FROM rejections),
                   (SELECT epoch_us(max(written_at)) FROM batches)
            """
        ).fetchall()[0]
        size = os.path.getsize(self.path) if self.path != ":memory:" and os.path.exists(self.path) else None
        return StoreStatus(self.path, size, entities, samples, batches, rejected, datetime_of(last))


def _utc_literal(ts: np.datetime64) -> str:
    return np.datetime_as_string(np.datetime64(ts, "us"), unit="us") + "Z"
