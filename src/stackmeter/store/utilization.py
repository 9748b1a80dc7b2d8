"""Per-(entity, window) utilization of chosen entities, for heat maps and entity plots."""

from __future__ import annotations

import duckdb
import numpy as np

from stackmeter.models import WindowUtilization
from stackmeter.store.schema import RESOURCE_CODES
from stackmeter.store.window_sql import MONDAY_US, US, floor_sql


def _floor_sql(length_us: int, offset_us: int = 0) -> str:
    return floor_sql("epoch_us(s.ts)", length_us, offset_us)


# The start of a sample's window in epoch microseconds (UTC; the reader's time zone is UTC).
WINDOW_SQL = {
    "5m": _floor_sql(US["5m"]),
    "1h": _floor_sql(US["1h"]),
    "1d": _floor_sql(US["1d"]),
    "1w": _floor_sql(US["1w"], MONDAY_US),
    "1mo": "epoch_us(date_trunc('month', s.ts))",
}


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
    bounds = [
        None if t is None else int(np.datetime64(t, "us").astype(np.int64))
        for t in (first_window, last_window)
    ]
    window_sql = WINDOW_SQL[timescale]
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
    return WindowUtilization(
        timescale=timescale,
        resource=resource,
        threshold=threshold,
        entity=np.asarray(rows["entity"], dtype=object),
        window=np.asarray(rows["window_us"], dtype="datetime64[us]").astype("datetime64[ns]"),
        samples=np.asarray(rows["n"], dtype=np.int64),
        at_or_above=np.asarray(rows["k"], dtype=np.int64),
        mean_utilization=np.asarray(rows["mean_u"], dtype=np.float64),
        max_utilization=np.asarray(rows["max_u"], dtype=np.float64),
    )
