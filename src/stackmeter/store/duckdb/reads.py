"""The read path over raw samples: coverage, entities, series, status, per-window utilization."""

from __future__ import annotations

import os

import duckdb
import numpy as np

from stackmeter.errors import StoreError
from stackmeter.models import (
    RESOURCES,
    TIMESCALE_BY_NAME,
    EntitySummary,
    ResourceCoverage,
    Samples,
    StoreStatus,
    WindowQuery,
    WindowUtilization,
    make_samples,
)
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.schema import CODE_RESOURCES, RESOURCE_CODES
from stackmeter.store.duckdb.sql import (
    datetime_of,
    times_of,
    timestamp_param,
    us_of,
    window_start_sql,
)

# Windows the sampling step is read from, finest first, when the store has no rollup level.
STEP_LEVELS = ("5m", "1h", "1d")


def read_coverage(
    con: duckdb.DuckDBPyConnection, levels: tuple[str, ...] = STEP_LEVELS
) -> dict[str, ResourceCoverage]:
    """Return, per resource held, its entities, capacity coverage, time span and step
    (:func:`read_steps` over ``levels``)."""
    rows = con.execute(
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
    steps = read_steps(con, levels, from_rollups=False)
    return coverage_of([(*row[:6], steps.get(row[0], row[6])) for row in rows])


def read_steps(
    con: duckdb.DuckDBPyConnection, levels: tuple[str, ...], from_rollups: bool
) -> dict[int, float]:
    """Return the sampling step (s) of each resource code: for the finest of ``levels`` whose
    median count of judged samples per (entity, window) holding any is above 2, the window's
    length over that median, which gaps and partial windows barely move. A resource with no such
    level is left out (its caller falls back to span / (samples − 1)). The raw samples and the
    rollup levels give the same answer over the same samples."""
    steps: dict[int, float] = {}
    for level in levels:
        kept = report_totals.read_sizes(con, level) if from_rollups else None
        if kept is not None:
            rows = [row for row in kept if row[0] not in steps]
        elif from_rollups:
            per_window = f"SELECT resource_code, samples AS n FROM rollup_{level}"
            codes = _codes_above_two(con, level, steps)
            if not codes:
                continue
            per_window += f" WHERE resource_code IN ({', '.join(map(str, codes))})"
        else:
            per_window = f"""SELECT resource_code, count(*) AS n FROM samples WHERE capacity IS NOT NULL
                GROUP BY resource_code, entity_id, {window_start_sql(level, "epoch_us(ts)")}"""
        if kept is None:
            # How many windows hold each count: a few dozen rows, whose median is that of the windows
            # (as SQL's median, halfway between the middle two), for a third of the time of median(n).
            rows = con.execute(
                f"SELECT resource_code, n, count(*) FROM ({per_window}) GROUP BY ALL ORDER BY resource_code, n"
            ).fetchall()
        for code in dict.fromkeys(row[0] for row in rows):
            median = _median_of_counts([(n, windows) for c, n, windows in rows if c == code])
            if code not in steps and median > 2:
                steps[code] = TIMESCALE_BY_NAME[level].nominal_s / median
    return steps


def _median_of_counts(counted: list[tuple[int, int]]) -> float:
    """Return the median of values given as (value, how many times) in increasing value order:
    the middle value, or halfway between the middle two of an even number of values."""
    total = sum(times for _, times in counted)
    lower, upper = (total - 1) // 2, total // 2  # positions of the middle value(s), 0-based
    low = high = seen = 0
    for value, times in counted:
        if seen <= lower < seen + times:
            low = value
        if seen <= upper < seen + times:
            high = value
            break
        seen += times
    return (low + high) / 2


def _codes_above_two(con: duckdb.DuckDBPyConnection, level: str, known: dict[int, float]) -> list[int]:
    """Return the resource codes without a step in ``known`` that have a window of ``level`` holding
    3 samples or more: only their median can be above 2.

    The row groups' statistics answer this without a scan where no window holds 3 (the 5m level of
    5-minute samples), where the median itself reads every row: 3.7 s of 320 million at 5m.
    """
    # One query per code, so that each stops at its first such window.
    query = f"SELECT 1 FROM rollup_{level} WHERE resource_code = ? AND samples >= 3 LIMIT 1"
    return [code for code in CODE_RESOURCES if code not in known and con.execute(query, [code]).fetchall()]


def coverage_of(rows: list[tuple]) -> dict[str, ResourceCoverage]:
    """:class:`ResourceCoverage` per resource from rows of (resource code, entities, entities
    without capacity, samples, first and last judged µs, step s)."""
    return {
        CODE_RESOURCES[code]: ResourceCoverage(
            CODE_RESOURCES[code], entities, without, int(n), datetime_of(first), datetime_of(last), step
        )
        for code, entities, without, n, first, last, step in rows
    }


def read_entity_names(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Return entity names indexed by entity id (the codes of :class:`WindowCounts`)."""
    rows = con.execute("SELECT entity_id, entity FROM entities ORDER BY entity_id").fetchall()
    names = np.empty(rows[-1][0] + 1 if rows else 0, dtype=object)
    for entity_id, entity in rows:
        names[entity_id] = entity
    return names


def read_entity_id(con: duckdb.DuckDBPyConnection, entity: str | None) -> int | None:
    """Return the id of ``entity`` (-1 when unknown; ``None`` for every entity)."""
    if entity is None:
        return None
    rows = con.execute("SELECT entity_id FROM entities WHERE entity = ?", [entity]).fetchall()
    return rows[0][0] if rows else -1


# Each series' sample count and first and last time (µs): from the series extents that every write
# keeps in its own transaction (one row per series: 60 ms for 10,000 entities, where the scan of
# their 320 million samples takes 5 s), or from the raw samples. The extents count what was
# received, so once compaction has dropped raw samples only the samples say what is still held.
_SERIES_FROM_SAMPLES = """
    SELECT entity_id, resource_code, count(*) AS samples, epoch_us(min(ts)) AS first_us,
           epoch_us(max(ts)) AS last_us
    FROM samples GROUP BY entity_id, resource_code
"""
_SERIES_FROM_EXTENTS = "SELECT entity_id, resource_code, samples, first_us, last_us FROM series_extents"


def read_entities(con: duckdb.DuckDBPyConnection) -> list[EntitySummary]:
    """Return every entity with samples, with its resources and time span."""
    (compacted,) = con.execute("SELECT count(*) > 0 FROM retention_marks WHERE kept = 'raw'").fetchall()[0]
    series = _SERIES_FROM_SAMPLES if compacted else _SERIES_FROM_EXTENTS
    rows = con.execute(
        f"""
        SELECT e.entity, e.kind, e.project, list(s.resource_code ORDER BY s.resource_code),
               sum(s.samples)::BIGINT, min(s.first_us), max(s.last_us)
        FROM ({series}) s JOIN entities e USING (entity_id)
        GROUP BY e.entity, e.kind, e.project ORDER BY e.entity
        """
    ).fetchall()
    # The times converted as one array each: one conversion per entity costs more than the query.
    first = times_of([row[5] for row in rows])
    last = times_of([row[6] for row in rows])
    return [
        EntitySummary(entity, kind, project, tuple(CODE_RESOURCES[c] for c in codes), n, start, end)
        for (entity, kind, project, codes, n, _, _), start, end in zip(rows, first, last, strict=True)
    ]


def read_series(
    con: duckdb.DuckDBPyConnection,
    entity: str,
    resource: str,
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
) -> Samples:
    """Return the samples of one entity and resource with ``start <= ts < end``, in time order."""
    if resource not in RESOURCE_CODES:
        raise StoreError(f"unknown resource {resource!r}; valid: {', '.join(RESOURCES)}")
    bounds = [None if t is None else timestamp_param(t) for t in (start, end)]
    rows = con.execute(
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
    return make_samples(times_of(rows["ts_us"]), entity, resource, rows["used"], capacity)


def has_entity(con: duckdb.DuckDBPyConnection, entity: str) -> bool:
    """Whether the store knows ``entity``."""
    return con.execute("SELECT count(*) FROM entities WHERE entity = ?", [entity]).fetchall()[0][0] > 0


def read_last_batch(con: duckdb.DuckDBPyConnection) -> int:
    """Return the id of the last batch written (0 before any): it changes whenever data lands."""
    return con.execute("SELECT coalesce(max(batch_id), 0) FROM batches").fetchall()[0][0]


def read_status(con: duckdb.DuckDBPyConnection, path: str) -> StoreStatus:
    """Return the size and freshness of the store at ``path``."""
    entities, samples, batches, rejected, last = con.execute(
        """
        SELECT (SELECT count(*) FROM entities), (SELECT count(*) FROM samples),
               (SELECT count(*) FROM batches), (SELECT count(*) FROM rejections),
               (SELECT epoch_us(max(written_at)) FROM batches)
        """
    ).fetchall()[0]
    size = os.path.getsize(path) if path != ":memory:" and os.path.exists(path) else None
    return StoreStatus(path, size, entities, samples, batches, rejected, datetime_of(last))


def read_window_utilization(con: duckdb.DuckDBPyConnection, query: WindowQuery) -> WindowUtilization:
    """Return :class:`WindowUtilization` of the query's entities from raw samples, for windows
    starting in ``[first_window, last_window]`` (both inclusive; open when ``None``)."""
    bounds = [None if t is None else us_of(t) for t in (query.first_window, query.last_window)]
    window_sql = window_start_sql(query.timescale, "epoch_us(s.ts)")
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
        [
            query.threshold,
            RESOURCE_CODES[query.resource],
            list(query.entities),
            *bounds[:1] * 2,
            *bounds[1:] * 2,
        ],
    ).fetchnumpy()
    return window_utilization_of(rows, query)


def window_utilization_of(rows: dict, query: WindowQuery) -> WindowUtilization:
    """:class:`WindowUtilization` from query columns ``entity``, ``window_us``, ``n``, ``k``,
    ``mean_u`` and ``max_u`` (raw samples and rollup levels answer alike)."""
    return WindowUtilization(
        timescale=query.timescale,
        resource=query.resource,
        threshold=query.threshold,
        entity=np.asarray(rows["entity"], dtype=object),
        window=times_of(rows["window_us"]),
        samples=np.asarray(rows["n"], dtype=np.int64),
        at_or_above=np.asarray(rows["k"], dtype=np.int64),
        mean_utilization=np.asarray(rows["mean_u"], dtype=np.float64),
        max_utilization=np.asarray(rows["max_u"], dtype=np.float64),
    )
