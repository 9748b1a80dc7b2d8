"""Quantiles of utilization per (entity, window): histograms merged from a rollup level, or exact
from raw samples (the SQL of the quantile read path)."""

from __future__ import annotations

import duckdb
import numpy as np

from stackmeter.models import WindowHistograms, WindowQuantile
from stackmeter.store.duckdb.reads import read_entity_id, read_entity_names
from stackmeter.store.duckdb.rollup_sql import MAX_SQL, bin_sql
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import times_of, window_start_sql


def _histogram_rows(
    con: duckdb.DuckDBPyConnection, level: str, timescale: str, resource_code: int, entity_id: int | None
) -> dict[str, np.ndarray]:
    """Return the merged histograms of each (entity, ``timescale`` window) from ``level``.

    Keys: ``entity_id``, ``window_us``, ``samples``, ``minimum``, ``maximum`` per window, and
    ``offsets`` (length windows + 1) into the flat ``bins`` and ``counts``, sorted by bin.
    """
    single = f"[{{'bin': ({bin_sql('utilization_min')})::USMALLINT, 'samples': samples}}]"
    only = "" if entity_id is None else f"AND entity_id = {int(entity_id)}"
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
    con: duckdb.DuckDBPyConnection, timescale: str, resource_code: int, q: float, entity_id: int | None
) -> dict[str, np.ndarray]:
    """Return the exact quantile ``q`` of utilization per (entity, window), from raw samples."""
    only = "" if entity_id is None else f"AND entity_id = {int(entity_id)}"
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
    con: duckdb.DuckDBPyConnection, timescale: str, resource: str, entity: str | None, level: str
) -> WindowHistograms:
    """Return per (entity, ``timescale`` window) the utilization histogram merged from ``level``."""
    rows = _histogram_rows(con, level, timescale, RESOURCE_CODES[resource], read_entity_id(con, entity))
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
    con: duckdb.DuckDBPyConnection, timescale: str, resource: str, q: float, entity: str | None
) -> tuple[WindowQuantile, ...]:
    """Return the exact quantile ``q`` of utilization per (entity, window) from raw samples."""
    rows = _raw_quantile_rows(con, timescale, RESOURCE_CODES[resource], q, read_entity_id(con, entity))
    names = read_entity_names(con)[rows["entity_id"]]
    return tuple(
        WindowQuantile(str(name), window, int(n), float(value), float(value), float(value))
        for name, window, n, value in zip(
            names, times_of(rows["window_us"]), rows["samples"], rows["quantile"], strict=True
        )
    )
