"""Quantiles of utilization per (entity, window): histograms merged from a rollup level, or exact
from raw samples (the SQL of the quantile read path), of every entity or of a few, and how many
windows each entity has, so that a page of the answer reads only the entities it shows."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import numpy as np

from stackmeter.models import RAW, WindowHistograms, WindowQuantile, serving_level
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.reads import read_entity_names
from stackmeter.store.duckdb.rollup_sql import MAX_SQL, bin_sql
from stackmeter.store.duckdb.rollup_writes import read_levels
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import times_of, window_start_sql


def _read_entity_ids(con: duckdb.DuckDBPyConnection, entities: Sequence[str] | None) -> list[int] | None:
    """Return the ids of ``entities`` that the store knows (``None`` for every entity)."""
    if entities is None:
        return None
    rows = con.execute(
        "SELECT entity_id FROM entities WHERE list_contains(?::VARCHAR[], entity) ORDER BY entity_id",
        [list(entities)],
    ).fetchall()
    return [entity_id for (entity_id,) in rows]


def _only_sql(entity_ids: list[int] | None) -> str:
    """SQL condition keeping the rows of ``entity_ids`` (every row for ``None``), after an ``AND``."""
    if entity_ids is None:
        return ""
    if not entity_ids:
        return "AND false"
    return f"AND entity_id IN ({', '.join(str(int(entity_id)) for entity_id in entity_ids)})"


def _histogram_rows(
    con: duckdb.DuckDBPyConnection,
    level: str,
    timescale: str,
    resource_code: int,
    entity_ids: list[int] | None,
) -> dict[str, np.ndarray]:
    """Return the merged histograms of each (entity, ``timescale`` window) from ``level``.

    Keys: ``entity_id``, ``window_us``, ``samples``, ``minimum``, ``maximum`` per window, and
    ``offsets`` (length windows + 1) into the flat ``bins`` and ``counts``, sorted by bin.
    """
    single = f"[{{'bin': ({bin_sql('utilization_min')})::USMALLINT, 'samples': samples}}]"
    only = _only_sql(entity_ids)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _histograms AS
        SELECT entity_id, window_us, e.bin AS bin, sum(e.samples) AS n
        FROM (
            SELECT entity_id, {window_start_sql(timescale, "window_us")} AS window_us,
                   unnest(coalesce(histogram, {single})) AS e
            FROM rollup_{level} WHERE resource_code = ? {only}
        )
        GROUP BY ALL
        """,
        [resource_code],
    )
    windows = con.execute(
        f"""
        WITH w AS (
            SELECT entity_id, {window_start_sql(timescale, "window_us")} AS window_us, sum(samples) AS samples,
                   min(utilization_min) AS minimum, max({MAX_SQL}) AS maximum
            FROM rollup_{level} WHERE resource_code = ? {only} GROUP BY ALL
        )
        SELECT w.*, h.bins FROM w
        JOIN (SELECT entity_id, window_us, count(*) AS bins FROM _histograms GROUP BY ALL) h
        USING (entity_id, window_us)
        ORDER BY entity_id, window_us
        """,
        [resource_code],
    ).fetchnumpy()
    bins = con.execute("SELECT bin, n FROM _histograms ORDER BY entity_id, window_us, bin").fetchnumpy()
    con.execute("DROP TABLE _histograms")
    result = {key: np.asarray(windows[key], dtype=np.int64) for key in ("entity_id", "window_us", "samples")}
    result.update({key: np.asarray(windows[key], dtype=np.float64) for key in ("minimum", "maximum")})
    result["offsets"] = np.concatenate(([0], np.cumsum(np.asarray(windows["bins"], dtype=np.int64))))
    result["bins"] = np.asarray(bins["bin"], dtype=np.int64)
    result["counts"] = np.asarray(bins["n"], dtype=np.int64)
    return result


def _raw_quantile_rows(
    con: duckdb.DuckDBPyConnection, timescale: str, resource_code: int, q: float, entity_ids: list[int] | None
) -> dict[str, np.ndarray]:
    """Return the exact quantile ``q`` of utilization per (entity, window), from raw samples."""
    only = _only_sql(entity_ids)
    rows = con.execute(
        f"""
        SELECT entity_id, {window_start_sql(timescale, "epoch_us(ts)")} AS window_us, count(*) AS samples,
               quantile_cont(used / capacity, ?::DOUBLE) AS quantile
        FROM samples WHERE resource_code = ? AND capacity IS NOT NULL {only}
        GROUP BY ALL ORDER BY entity_id, window_us
        """,
        [q, resource_code],
    ).fetchnumpy()
    return {
        "entity_id": np.asarray(rows["entity_id"], dtype=np.int64),
        "window_us": np.asarray(rows["window_us"], dtype=np.int64),
        "samples": np.asarray(rows["samples"], dtype=np.int64),
        "quantile": np.asarray(rows["quantile"], dtype=np.float64),
    }


def read_histograms(
    con: duckdb.DuckDBPyConnection,
    timescale: str,
    resource: str,
    entities: Sequence[str] | None,
    level: str,
) -> WindowHistograms:
    """Return per (entity, ``timescale`` window) of ``entities`` (every entity when ``None``) the
    utilization histogram merged from ``level``."""
    rows = _histogram_rows(con, level, timescale, RESOURCE_CODES[resource], _read_entity_ids(con, entities))
    return WindowHistograms(
        entity=read_entity_names(con)[rows["entity_id"]],
        window=times_of(rows["window_us"]),
        samples=rows["samples"],
        minimum=rows["minimum"],
        maximum=rows["maximum"],
        offsets=rows["offsets"],
        bins=rows["bins"],
        counts=rows["counts"],
    )


def read_raw_quantiles(
    con: duckdb.DuckDBPyConnection,
    timescale: str,
    resource: str,
    q: float,
    entities: Sequence[str] | None,
) -> tuple[WindowQuantile, ...]:
    """Return the exact quantile ``q`` of utilization per (entity, window) of ``entities`` (every
    entity when ``None``) from raw samples."""
    rows = _raw_quantile_rows(con, timescale, RESOURCE_CODES[resource], q, _read_entity_ids(con, entities))
    names = read_entity_names(con)[rows["entity_id"]]
    return tuple(
        WindowQuantile(str(name), window, int(n), float(value), float(value), float(value))
        for name, window, n, value in zip(
            names, times_of(rows["window_us"]), rows["samples"], rows["quantile"], strict=True
        )
    )


def read_quantile_windows(
    con: duckdb.DuckDBPyConnection, timescale: str, resource: str, served_by: str
) -> dict[str, int]:
    """Return, per entity with judged samples of ``resource``, how many ``timescale`` windows hold
    some: the rows :func:`read_histograms` (``served_by`` a level) or :func:`read_raw_quantiles`
    (``served_by`` ``raw``) give each entity.

    A level's counts come from the report totals kept at write time when the store keeps them
    for that level, else from one scan of the level, without its histograms. Raw samples have
    the windows of any level nesting in the timescale as long as compaction has dropped nothing
    of either (each write lands in both), so they are counted from that level; else from one
    scan of the samples.
    """
    level = served_by
    if served_by == RAW:
        level = serving_level(timescale, read_levels(con)) or RAW
        dropped = con.execute(
            "SELECT count(*) FROM retention_marks WHERE kept IN ('raw', ?)", [level]
        ).fetchall()[0][0]
        level = RAW if dropped else level
    return _count_windows(con, timescale, RESOURCE_CODES[resource], level)


def _count_windows(con: duckdb.DuckDBPyConnection, timescale: str, code: int, level: str) -> dict[str, int]:
    """Return the windows of each entity from ``level`` (kept totals or a scan) or raw samples."""
    kept = None
    if level != RAW and report_totals.read_built(con).get(timescale) == level:
        kept = report_totals.entity_windows(con, timescale, code)
    if kept is None:
        if level == RAW:
            source = "samples WHERE resource_code = ? AND capacity IS NOT NULL"
            window = window_start_sql(timescale, "epoch_us(ts)")
        else:
            source = f"rollup_{level} WHERE resource_code = ?"
            window = window_start_sql(timescale, "window_us")
        # A level's row is one window of its own length already: nothing to tell apart.
        windows = "count(*)" if timescale == level else f"count(DISTINCT {window})"
        rows = con.execute(
            f"SELECT entity_id, {windows} AS windows FROM {source} GROUP BY entity_id", [code]
        ).fetchnumpy()
        kept = {key: np.asarray(rows[key], dtype=np.int64) for key in ("entity_id", "windows")}
    names = read_entity_names(con)
    return {
        str(names[entity_id]): int(windows)
        for entity_id, windows in zip(kept["entity_id"], kept["windows"], strict=True)
        if windows > 0
    }
