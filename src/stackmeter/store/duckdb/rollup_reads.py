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
    WindowQuery,
    WindowUtilization,
)
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.reads import (
    coverage_of,
    read_entity_names,
    read_steps,
    window_utilization_of,
)
from stackmeter.store.duckdb.rollup_sql import MAX_SQL, SUM_SQL
from stackmeter.store.duckdb.rollup_writes import read_levels
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import us_of, window_start_sql
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
    :func:`~stackmeter.store.duckdb.window_counts.create_totals`, as the raw path does: from the
    report totals kept at write time when they serve, else from the level's rows.

    ``thresholds`` maps resource codes to θ, each on a histogram bin edge.
    """
    if report_totals.serves(con, timescale, level, thresholds):
        report_totals.create_count_tables(con, timescale, thresholds, table, fleet)
        return
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
