"""Answers read from rollup levels instead of raw samples (the SQL of the read path).

A window of a timescale is served by a level whose windows nest in it (a week by days): its
count of samples is the sum of the level's counts, and its count of samples at or above a
threshold θ on a bin edge is exact: 0 when the row's maximum is below θ, all of them when its
minimum is at or above θ, else the sum of the histogram's bins from θ's bin up.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import numpy as np

from stackmeter.models import (
    HISTOGRAM_BINS_PER_UNIT,
    ResourceCoverage,
    WindowCounts,
    WindowHistograms,
    WindowQuantile,
    WindowQuery,
    WindowUtilization,
)
from stackmeter.store.duckdb.reads import (
    coverage_of,
    read_entity_id,
    read_entity_names,
    read_steps,
    window_utilization_of,
)
from stackmeter.store.duckdb.rollup_sql import MAX_SQL, SUM_SQL, bin_sql
from stackmeter.store.duckdb.rollup_writes import read_levels
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import times_of, us_of, window_start_sql
from stackmeter.store.duckdb.window_counts import create_totals, drop_tables, window_counts_of


def _per_resource(values: Mapping[int, object], placeholder: bool) -> tuple[str, list]:
    """SQL ``CASE resource_code ...`` choosing among ``values``, as parameters or literals."""
    whens = " ".join(
        f"WHEN {code} THEN {'?::DOUBLE' if placeholder else value}" for code, value in values.items()
    )
    return f"CASE resource_code {whens} END", list(values.values()) if placeholder else []


def _at_or_above_sql(theta: str, bin_from: str) -> str:
    """SQL of a row's samples at or above θ (on a bin edge, its bin ``bin_from``), for rows whose
    maximum reaches θ."""
    return f"""CASE WHEN utilization_min >= {theta} THEN samples
        ELSE coalesce(list_sum(list_transform(list_filter(histogram, lambda e: e.bin >= {bin_from}),
                                              lambda e: e.samples)), 0) END"""


def _create_window_count_tables(
    con: duckdb.DuckDBPyConnection,
    timescale: str,
    level: str,
    thresholds: dict[int, float],
    table: str,
    fleet: bool = True,
) -> None:
    """Create temporary tables ``table`` (resource_code, entity_id, window_us, n, k) and those of
    :func:`~stackmeter.store.duckdb.window_counts.create_totals`, as the raw path does.

    ``thresholds`` maps resource codes to θ, each on a histogram bin edge.
    """
    theta, theta_params = _per_resource(thresholds, placeholder=True)
    first_bin = {code: int(round(value * HISTOGRAM_BINS_PER_UNIT)) for code, value in thresholds.items()}
    bin_from, _ = _per_resource(first_bin, placeholder=False)
    at_or_above = _at_or_above_sql(theta, bin_from)
    resources = f"resource_code IN ({', '.join(map(str, thresholds))})"
    source = f"rollup_{level}"
    if timescale == level:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT resource_code, entity_id, window_us, samples AS n, {at_or_above} AS k
            FROM {source} WHERE {resources} AND {MAX_SQL} >= {theta}
            """,
            theta_params + theta_params,
        )
        counted = (
            f"(SELECT resource_code, entity_id, window_us, samples AS n FROM {source} WHERE {resources})"
        )
    else:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {table} AS
            SELECT resource_code, entity_id, {window_start_sql(timescale, "window_us")} AS window_us,
                   sum(samples) AS n,
                   sum(CASE WHEN {MAX_SQL} < {theta} THEN 0 ELSE {at_or_above} END) AS k
            FROM {source} WHERE {resources} GROUP BY ALL
            """,
            theta_params + theta_params,
        )
        counted = table
    create_totals(con, table, counted, fleet)


def read_extents_coverage(con: duckdb.DuckDBPyConnection) -> dict[str, ResourceCoverage]:
    """Like :func:`~stackmeter.store.duckdb.reads.read_coverage`, from the series extents kept with
    the rollups (which outlive compaction); the step from the levels (:func:`read_steps`)."""
    rows = con.execute(
        """
        SELECT resource_code, count(*), count(*) FILTER (WHERE judged = 0), sum(samples),
               min(judged_first_us), max(judged_last_us),
               median((last_us - first_us) / (samples - 1)) FILTER (WHERE samples > 1) / 1e6
        FROM series_extents GROUP BY resource_code ORDER BY resource_code
        """
    ).fetchall()
    steps = read_steps(con, read_levels(con), from_rollups=True)
    return coverage_of([(*row[:6], steps.get(row[0], row[6])) for row in rows])


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


def _window_utilization_rows(
    con: duckdb.DuckDBPyConnection,
    level: str,
    timescale: str,
    resource_code: int,
    threshold: float,
    entities: list[str],
    bounds_us: list[int | None],
) -> dict[str, np.ndarray]:
    """Return per (entity, ``timescale`` window) of ``entities``, from ``level``: samples, samples at
    or above ``threshold`` (on a bin edge), mean and max utilization, for windows starting in
    ``bounds_us`` (first, last; both inclusive, open when ``None``). Level windows nest in the
    timescale's, so a level row lies in a window from ``first`` on exactly when it starts there."""
    bin_from = str(int(round(threshold * HISTOGRAM_BINS_PER_UNIT)))
    theta = "t.theta"
    window = window_start_sql(timescale, "r.window_us")
    return con.execute(
        f"""
        SELECT e.entity, {window} AS window_us, sum(r.samples) AS n,
               sum(CASE WHEN {MAX_SQL} < {theta} THEN 0 ELSE {_at_or_above_sql(theta, bin_from)} END) AS k,
               sum({SUM_SQL}) / sum(r.samples) AS mean_u, max({MAX_SQL}) AS max_u
        FROM rollup_{level} r JOIN entities e USING (entity_id) CROSS JOIN (SELECT ?::DOUBLE AS theta) t
        WHERE r.resource_code = ? AND e.entity IN (SELECT unnest(?::VARCHAR[]))
          AND (?::BIGINT IS NULL OR r.window_us >= ?::BIGINT)
        GROUP BY e.entity, {window}
        HAVING (?::BIGINT IS NULL OR window_us <= ?::BIGINT)
        ORDER BY e.entity, window_us
        """,
        [threshold, resource_code, list(entities), *bounds_us[:1] * 2, *bounds_us[1:] * 2],
    ).fetchnumpy()


def read_level_window_counts(
    con: duckdb.DuckDBPyConnection,
    levels: Mapping[str, str],
    thresholds: Mapping[str, float],
    fleet: bool = True,
) -> dict[tuple[str, str], WindowCounts]:
    """Per (timescale, resource): window counts, each timescale from the level ``levels`` maps it
    to; every threshold must be on a histogram bin edge."""
    codes = {RESOURCE_CODES[name]: threshold for name, threshold in thresholds.items()}
    names = read_entity_names(con)
    result: dict[tuple[str, str], WindowCounts] = {}
    for timescale, level in levels.items():
        table = f"_rollup_counts_{timescale}"
        try:
            _create_window_count_tables(con, timescale, level, codes, table, fleet)
            result.update(window_counts_of(con, table, timescale, thresholds, names))
        finally:
            drop_tables(con, table)
    return result


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


def read_level_window_utilization(
    con: duckdb.DuckDBPyConnection, query: WindowQuery, level: str
) -> WindowUtilization:
    """Like :func:`~stackmeter.store.duckdb.reads.read_window_utilization`, from ``level``; the
    threshold must be on a histogram bin edge."""
    bounds = [None if t is None else us_of(t) for t in (query.first_window, query.last_window)]
    rows = _window_utilization_rows(
        con,
        level,
        query.timescale,
        RESOURCE_CODES[query.resource],
        query.threshold,
        list(query.entities),
        bounds,
    )
    return window_utilization_of(rows, query)
