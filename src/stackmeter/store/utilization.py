"""Per-(entity, window) utilization of chosen entities, for heat maps and entity plots."""

from __future__ import annotations

import duckdb
import numpy as np

from stackmeter.models import WindowUtilization
from stackmeter.store.schema import RESOURCE_CODES
from stackmeter.store.window_sql import us_of, window_start_sql, windows_of


def read_window_utilization(
    con: duckdb.DuckDBPyConnection,
    timescale: str,
    resource: str,
    threshold: float,
    entities: list[str],
    first_window: np.datetime64 | None = None,
    last_window: np.datetime64 | None = None,
) -> WindowUtilization:
    """Return :class:`WindowUtilization` of ``entities`` for windows starting in
    ``[first_window, last_window]`` (both inclusive; open when ``None``)."""
    bounds = [None if t is None else us_of(t) for t in (first_window, last_window)]
    window_sql = window_start_sql(timescale, "epoch_us(s.ts)")
    rows = con.execute(
        f"""
        SELECT e.entity, {window_sql} AS window_us, count(*) AS n,
               count_if(s.used / s.capacity >= ?::DOUBLE) AS k,
               avg(s.used / s.capacity) AS mean_u, max(s.used / s.capacity) AS max_u
        FROM samples s JOIN entities e USING (entity_id)
        WHERE s.resource_code = ? AND s.capacity IS NOT NULL
          AND e.entity IN (SELECT unnest(?::VARCHAR[]))
          AND (?::BIGINT IS NULL OR epoch_us(s.ts) >= ?::BIGINT)
        GROUP BY e.entity, window_us
        HAVING (?::BIGINT IS NULL OR window_us <= ?::BIGINT)
        ORDER BY e.entity, window_us
        """,
        [threshold, RESOURCE_CODES[resource], list(entities), *bounds[:1] * 2, *bounds[1:] * 2],
    ).fetchnumpy()
    return window_utilization_of(rows, timescale, resource, threshold)


def window_utilization_of(rows: dict, timescale: str, resource: str, threshold: float) -> WindowUtilization:
    """:class:`WindowUtilization` from query columns ``entity``, ``window_us``, ``n``, ``k``,
    ``mean_u`` and ``max_u`` (raw samples and rollup levels answer alike)."""
    return WindowUtilization(
        timescale=timescale,
        resource=resource,
        threshold=threshold,
        entity=np.asarray(rows["entity"], dtype=object),
        window=windows_of(rows["window_us"]),
        samples=np.asarray(rows["n"], dtype=np.int64),
        at_or_above=np.asarray(rows["k"], dtype=np.int64),
        mean_utilization=np.asarray(rows["mean_u"], dtype=np.float64),
        max_utilization=np.asarray(rows["max_u"], dtype=np.float64),
    )
