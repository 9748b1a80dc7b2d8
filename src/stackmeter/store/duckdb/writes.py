"""The write path: one batch of parsed input as one transaction, folded into the rollups."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from stackmeter.errors import StoreError
from stackmeter.models import (
    Entity,
    Parsed,
    Rejection,
    Samples,
    WriteResult,
    concat_samples,
    resource_bounds,
    utf8_text,
)
from stackmeter.store.batches import entities_overlap, first_of_duplicates, refuse_invalid, with_utf8_text
from stackmeter.store.duckdb import rollup_writes
from stackmeter.store.duckdb.rejections import insert_rejections
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import timestamp_array, utc_literal


def write_parsed(
    con: duckdb.DuckDBPyConnection,
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
    refused: dict[str, int] = {}
    examples: tuple[Rejection, ...] = ()
    try:
        con.execute("BEGIN")
        batch_id = con.execute("SELECT nextval('batch_ids')").fetchall()[0][0]
        added = refused_count = 0
        if samples.size:
            added, refused_count = _insert_samples(
                con, samples, part_index, (resource_codes, resource_names), parts, back_window_us
            )
        _insert_rejections(con, batch_id, rejections, rejections_once)
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
    con: duckdb.DuckDBPyConnection,
    samples: Samples,
    part_index: np.ndarray,
    resources: tuple[np.ndarray, pd.Index],
    parts: list[Parsed],
    back_window_us: int | None,
) -> tuple[int, int]:
    """Insert the samples new to the store and fold them into the rollups; return how many
    were added and how many refused (left in the temporary table ``_refused``)."""
    entity_codes, raw_names = pd.factorize(samples.entity)
    entity_names = [utf8_text(name) for name in raw_names]  # a file name may not be UTF-8
    declared = {entity.entity: entity for part in parts for entity in part.entities}
    known_before = con.execute("SELECT coalesce(max(entity_id), -1) FROM entities").fetchall()[0][0]
    ids = _write_entities(con, [declared.get(name, Entity(name)) for name in entity_names])
    entity_ids = np.array([ids[name] for name in entity_names], dtype=np.int32)[entity_codes]
    resource_codes, resource_names = resources
    # a name the store does not know has no sample left (refused), whatever code it gets
    codes = np.array([RESOURCE_CODES.get(name, 255) for name in resource_names], dtype=np.uint8)
    batch = pa.table(
        {
            "entity_id": entity_ids,
            "resource_code": codes[resource_codes],
            "ts": timestamp_array(samples.ts),
            "used": samples.used,
            "capacity": pa.array(samples.capacity, from_pandas=True),
            "part": part_index,
        }
    )
    may_refuse = back_window_us is not None or rollup_writes.read_raw_horizon_us(con) is not None
    every_entity_new = entity_ids.min() > known_before
    con.register("_batch", batch)
    try:
        if every_entity_new and not may_refuse:
            # Nothing in the store can collide and nothing is refused: insert the batch as it is.
            fresh = "_batch"
        else:
            if every_entity_new:
                new = "SELECT * FROM _batch"
            else:
                # Only rows of the batch's entities and time range can collide: the filter lets
                # DuckDB skip the rest of the table through its zone maps.
                new = f"""
                    SELECT b.* FROM _batch b ANTI JOIN (
                        SELECT entity_id, resource_code, ts FROM samples
                        WHERE entity_id BETWEEN {int(entity_ids.min())} AND {int(entity_ids.max())}
                          AND ts BETWEEN '{utc_literal(samples.ts.min())}'::TIMESTAMPTZ
                                     AND '{utc_literal(samples.ts.max())}'::TIMESTAMPTZ
                    ) s USING (entity_id, resource_code, ts)
                """
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


def _write_entities(con: duckdb.DuckDBPyConnection, entities: list[Entity]) -> dict[str, int]:
    frame = pd.DataFrame(entities, columns=list(Entity._fields))
    con.register("_entities", frame)
    try:
        con.execute(
            """
            INSERT INTO entities
            SELECT (SELECT coalesce(max(entity_id), -1) FROM entities) + row_number() OVER (),
                   n.entity, n.kind, n.project, n.host
            FROM _entities n ANTI JOIN entities e USING (entity)
            """
        )
        rows = con.execute(
            "SELECT entity, entity_id FROM entities SEMI JOIN _entities USING (entity)"
        ).fetchall()
    finally:
        con.unregister("_entities")
    return dict(rows)


def _insert_rejections(
    con: duckdb.DuckDBPyConnection, batch_id: int, rejections: list[Rejection], once: bool
) -> None:
    if not rejections:
        return
    frame = pd.DataFrame(rejections, columns=["origin", "line", "field", "reason", "detail"])
    frame.insert(0, "batch_id", batch_id)
    frame["line"] = frame["line"].astype("Int64")
    con.register("_rejections", frame)
    try:
        insert_rejections(con, "_rejections", once)
    finally:
        con.unregister("_rejections")
