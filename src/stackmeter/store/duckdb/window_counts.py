"""Counts of samples at or above θ per entity × window, at every timescale, from raw samples."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import duckdb
import numpy as np

from stackmeter.models import TIMESCALE_TABLE, WindowCounts
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import datetime_of, times_of, window_start_sql

# Each timescale's windows: the level they are summed from (``samples``, or a finer timescale
# whose windows nest in them), and the SQL of a window's start (epoch microseconds, UTC).
LEVEL_SOURCES = {
    t.name: (
        t.counted_from,
        window_start_sql(t.name, "epoch_us(ts)" if t.counted_from == "samples" else "window_us"),
    )
    for t in TIMESCALE_TABLE
}


def read_window_counts(
    con: duckdb.DuckDBPyConnection,
    names: np.ndarray,
    timescales: Sequence[str],
    thresholds: Mapping[str, float],
    fleet: bool = True,
) -> dict[tuple[str, str], WindowCounts]:
    """Return :class:`WindowCounts` per (timescale, resource) for utilization ≥ threshold (the
    fleet's totals per window only with ``fleet``).

    Raw samples are scanned at most twice (for 5m and 1h); days are summed from hours, and
    weeks and months from days, which is exact because those windows nest in UTC.
    """
    codes = {RESOURCE_CODES[name]: threshold for name, threshold in thresholds.items()}
    threshold_sql = "CASE resource_code " + " ".join(f"WHEN {c} THEN ?::DOUBLE" for c in codes) + " END"
    params = list(codes.values())
    judged = f"capacity IS NOT NULL AND resource_code IN ({', '.join(map(str, codes))})"
    over = f"used / capacity >= {threshold_sql}"
    levels: dict[str, str] = {}
    needed = _levels_needed(timescales)
    for timescale in needed:
        source, window_sql = LEVEL_SOURCES[timescale]
        table = levels[timescale] = f"_level_{timescale}"
        if source == "samples":
            select = f"""
                SELECT resource_code, entity_id, {window_sql} AS window_us, count(*) AS n,
                       count_if({over}) AS k
                FROM samples WHERE {judged} GROUP BY ALL"""
            select_params = params
        else:
            select = f"""
                SELECT resource_code, entity_id, {window_sql} AS window_us, sum(n) AS n, sum(k) AS k
                FROM {levels[source]} GROUP BY ALL"""
            select_params = []
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {select}", select_params)
        create_totals(con, table, table, fleet)
    result = {}
    try:
        for timescale in timescales:
            result.update(window_counts_of(con, levels[timescale], timescale, thresholds, names))
    finally:
        for table in levels.values():
            drop_tables(con, table)
    return result


def create_totals(con: duckdb.DuckDBPyConnection, table: str, counted: str, fleet: bool = True) -> None:
    """Create the temporary tables ``table``_entities (resource_code, entity_id, windows,
    first_us, last_us) and ``table``_fleet (resource_code, window_us, entities, samples) from
    ``counted`` (resource_code, entity_id, window_us, n), which holds every window with a sample."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}_entities AS
        SELECT resource_code, entity_id, count(*) AS windows,
               min(window_us) AS first_us, max(window_us) AS last_us
        FROM {counted} GROUP BY ALL
        """
    )
    # Without ``fleet`` the table is empty: a full GROUP BY of the finest level (seconds at
    # 10,000 entities) that a heat map does not need.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}_fleet AS
        SELECT resource_code, window_us, count(*) AS entities, sum(n)::BIGINT AS samples
        FROM {counted} WHERE {"true" if fleet else "false"} GROUP BY ALL
        """
    )


def drop_tables(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Drop the temporary tables of :func:`create_totals` and ``table`` itself."""
    for suffix in ("", "_entities", "_fleet"):
        con.execute(f"DROP TABLE IF EXISTS {table}{suffix}")


def window_counts_of(
    con: duckdb.DuckDBPyConnection,
    table: str,
    timescale: str,
    thresholds: Mapping[str, float],
    names: np.ndarray,
) -> dict[tuple[str, str], WindowCounts]:
    """Return :class:`WindowCounts` per resource of ``thresholds`` from the temporary tables
    ``table`` (resource_code, entity_id, window_us, n, k) and those of :func:`create_totals`."""
    over = con.execute(
        f"SELECT resource_code, entity_id, window_us, n, k FROM {table} WHERE k > 0 "
        "ORDER BY resource_code, entity_id, window_us"
    ).fetchnumpy()
    per_entity = con.execute(f"SELECT * FROM {table}_entities").fetchnumpy()
    fleet = con.execute(f"SELECT * FROM {table}_fleet ORDER BY resource_code, window_us").fetchnumpy()
    result = {}
    for name, threshold in thresholds.items():
        code = RESOURCE_CODES[name]
        rows = over["resource_code"] == code
        mine = per_entity["resource_code"] == code
        totals = fleet["resource_code"] == code
        entity_windows = np.zeros(names.size, dtype=np.int64)
        entity_windows[per_entity["entity_id"][mine]] = per_entity["windows"][mine]
        first = per_entity["first_us"][mine].min() if mine.any() else None
        last = per_entity["last_us"][mine].max() if mine.any() else None
        result[(timescale, name)] = WindowCounts(
            timescale=timescale,
            resource=name,
            threshold=threshold,
            entity_names=names,
            entity_windows=entity_windows,
            entity_code=np.asarray(over["entity_id"][rows], dtype=np.int64),
            window=times_of(over["window_us"][rows]),
            samples=np.asarray(over["n"][rows], dtype=np.int64),
            at_or_above=np.asarray(over["k"][rows], dtype=np.int64),
            first_window=datetime_of(first),
            last_window=datetime_of(last),
            fleet_window=times_of(fleet["window_us"][totals]),
            fleet_entities=np.asarray(fleet["entities"][totals], dtype=np.int64),
            fleet_samples=np.asarray(fleet["samples"][totals], dtype=np.int64),
        )
    return result


def _levels_needed(timescales: Sequence[str]) -> list[str]:
    """Return the levels to build for ``timescales``, each after the level it is summed from."""
    needed: list[str] = []

    def add(timescale: str) -> None:
        source = LEVEL_SOURCES[timescale][0]
        if source != "samples":
            add(source)
        if timescale not in needed:
            needed.append(timescale)

    for timescale in timescales:
        add(timescale)
    return needed
