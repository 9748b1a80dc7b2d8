"""Report totals kept at write time, so that an overload report reads thousands of rows, not millions.

For every timescale a rollup level serves, the store keeps what an overload report, a heat map
and a fleet chart read of the level, summed once when a batch lands instead of at every question:

- ``report_windows``: per resource and window, the entities with samples in it, their samples and
  the sum of their utilization (the fleet's mean);
- ``report_entities``: per resource and entity, how many windows hold its samples, first and last;
- ``report_sizes``: per resource, how many windows hold each count of samples (the sampling step);
- ``report_overloads``: per watched threshold (``report_thresholds``, the default θ of each
  resource unless changed), the (entity, window) pairs holding a sample at or above it, with
  their samples and how many are at or above θ. Any share can then be judged from them.

A batch changes some rows of each level (``_changed_<level>``, and ``_replaced_<level>``: the
rows they replace); the totals move by the difference, window key by window key. A timescale
coarser than its level (a week from days) re-sums the keys the batch touched. Compaction and a
change of levels build the totals again from the levels (:func:`prepare`). Everything runs in
the caller's transaction, so the totals always agree with the levels they sum.
"""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import numpy as np

from stackmeter.models import HISTOGRAM_BINS_PER_UNIT, TIMESCALES, serving_level
from stackmeter.store.duckdb.rollup_sql import MAX_SQL, SUM_SQL
from stackmeter.store.duckdb.sql import window_start_sql

TABLES = ("report_windows", "report_entities", "report_sizes", "report_overloads")
_KEYS = "resource_code, entity_id, window_us"


def _theta(bin_column: str) -> str:
    """SQL of the threshold whose bin is ``bin_column``: the double i/100, as a written 0.8 is."""
    return f"({bin_column}::DOUBLE / {HISTOGRAM_BINS_PER_UNIT}::DOUBLE)"


def _at_or_above_sql(rows: str) -> str:
    """SQL of every row of ``rows`` (level rows) × watched threshold of its resource: keys,
    ``threshold_bin`` and ``k``, its samples at or above the threshold."""
    theta = _theta("t.threshold_bin")
    histogram_sum = (
        "coalesce(list_sum(list_transform(list_filter(r.histogram, lambda e: e.bin >= t.threshold_bin), "
        "lambda e: e.samples)), 0)"
    )
    return f"""
        SELECT r.resource_code, r.entity_id, r.window_us, t.threshold_bin, r.samples,
               CASE WHEN {MAX_SQL} < {theta} THEN 0 WHEN r.utilization_min >= {theta} THEN r.samples
                    ELSE {histogram_sum} END AS k
        FROM {rows} r JOIN report_thresholds t USING (resource_code)
    """


def _summed_sql(rows: str, timescale: str, level: str, with_k: bool) -> str:
    """SQL of ``rows`` (level rows) summed per ``timescale`` window key: ``n`` (and per watched
    threshold ``k``). When the timescale is the level, a row is a key already: nothing to sum."""
    source = _at_or_above_sql(rows) if with_k else f"SELECT {_KEYS}, samples, {SUM_SQL} AS s FROM {rows}"
    extra = ", threshold_bin" if with_k else ""
    k = ", k::BIGINT AS k" if with_k else ", s"
    if timescale == level:
        return f"SELECT {_KEYS}{extra}, samples::BIGINT AS n{k} FROM ({source})"
    window = window_start_sql(timescale, "window_us")
    k = ", sum(k)::BIGINT AS k" if with_k else ", sum(s) AS s"
    return f"""
        SELECT resource_code, entity_id, {window} AS window_us{extra}, sum(samples)::BIGINT AS n{k}
        FROM ({source}) GROUP BY ALL
    """


def read_built(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Return the level whose totals the store keeps, per timescale."""
    return dict(con.execute("SELECT timescale, level FROM report_timescales").fetchall())


def is_scoped(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether ``con`` is a project's reader (see scope.py): it sees the totals per entity of its
    project only, and none of those summed over the fleet."""
    query = "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = '_scope'"
    return bool(con.execute(query).fetchall()[0][0])


def read_watched(con: duckdb.DuckDBPyConnection) -> set[tuple[int, int]]:
    """Return the watched (resource code, threshold bin) pairs."""
    rows = con.execute("SELECT resource_code, threshold_bin FROM report_thresholds").fetchall()
    return {(code, threshold_bin) for code, threshold_bin in rows}


def serves(
    con: duckdb.DuckDBPyConnection, timescale: str, level: str, thresholds: Mapping[int, float]
) -> bool:
    """Whether the totals answer ``timescale`` from ``level`` at ``thresholds`` (θ per resource
    code, each on a bin edge): kept for that level, every threshold watched."""
    if read_built(con).get(timescale) != level or is_scoped(con):
        return False
    watched = read_watched(con)
    return all(
        (code, round(value * HISTOGRAM_BINS_PER_UNIT)) in watched for code, value in thresholds.items()
    )


def create_count_tables(
    con: duckdb.DuckDBPyConnection, timescale: str, thresholds: Mapping[int, float], table: str, fleet: bool
) -> None:
    """Create the temporary tables of a window count read (``table``: resource_code, entity_id,
    window_us, n, k for the keys with k > 0; ``table``_entities; ``table``_fleet, empty without
    ``fleet``) from the totals, as a scan of the level would (see :func:`serves`)."""
    bins = " OR ".join(
        f"(resource_code = {int(code)} AND threshold_bin = {round(value * HISTOGRAM_BINS_PER_UNIT)})"
        for code, value in thresholds.items()
    )
    resources = f"resource_code IN ({', '.join(str(int(code)) for code in thresholds)})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT resource_code, entity_id, window_us, samples AS n, at_or_above AS k
        FROM report_overloads WHERE timescale = ? AND ({bins})
        """,
        [timescale],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}_entities AS
        SELECT resource_code, entity_id, windows, first_us, last_us
        FROM report_entities WHERE timescale = ? AND {resources}
        """,
        [timescale],
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {table}_fleet AS
        SELECT resource_code, window_us, entities, samples
        FROM report_windows WHERE timescale = ? AND {resources} AND {"true" if fleet else "false"}
        """,
        [timescale],
    )


def read_fleet_means(con: duckdb.DuckDBPyConnection, timescale: str, resource_code: int) -> str | None:
    """Return SQL of (window_us, mean utilization of the fleet's samples) of ``timescale``, from the
    totals; ``None`` when the store does not keep them for it (or for a project's reader)."""
    if timescale not in read_built(con) or is_scoped(con):
        return None
    return f"""
        SELECT window_us, utilization_sum / samples AS mean_utilization FROM report_windows
        WHERE timescale = '{timescale}' AND resource_code = {int(resource_code)} ORDER BY window_us
    """


def read_sizes(con: duckdb.DuckDBPyConnection, timescale: str) -> list[tuple[int, int, int]] | None:
    """Return (resource code, samples, windows holding that many) of ``timescale`` in increasing
    order, or ``None`` when the store keeps no totals for it."""
    if timescale not in read_built(con) or is_scoped(con):
        return None
    return con.execute(
        "SELECT resource_code, samples, windows FROM report_sizes WHERE timescale = ? ORDER BY resource_code, samples",
        [timescale],
    ).fetchall()


def entity_windows(
    con: duckdb.DuckDBPyConnection, timescale: str, resource_code: int
) -> dict[str, np.ndarray] | None:
    """Return, per entity with samples of ``resource_code``, how many ``timescale`` windows hold
    any (keys ``entity_id`` and ``windows``, by entity id), from the totals kept at write time;
    ``None`` when the store does not keep them for ``timescale`` (a project's reader gets its own)."""
    if timescale not in read_built(con):
        return None
    rows = con.execute(
        "SELECT entity_id, windows FROM report_entities WHERE timescale = ? AND resource_code = ? "
        "ORDER BY entity_id",
        [timescale, int(resource_code)],
    ).fetchnumpy()
    return {key: np.asarray(rows[key], dtype=np.int64) for key in ("entity_id", "windows")}


# -- the write path -------------------------------------------------------------------------


def prepare(con: duckdb.DuckDBPyConnection, levels: tuple[str, ...], rebuild: tuple[str, ...] = ()) -> None:
    """Make the totals those of ``levels`` (the store's built levels): build the timescales not
    kept yet or kept from another level, drop those no level serves, and build again the
    timescales served by the levels in ``rebuild`` (after compaction dropped rows of them)."""
    wanted = {t: level for t in TIMESCALES if (level := serving_level(t, levels)) is not None}
    built = read_built(con)
    for timescale in TIMESCALES:
        level = wanted.get(timescale)
        if built.get(timescale) == level and level not in rebuild:
            continue
        for table in TABLES:
            con.execute(f"DELETE FROM {table} WHERE timescale = ?", [timescale])
        con.execute("DELETE FROM report_timescales WHERE timescale = ?", [timescale])
        if level is None:
            continue
        _build(con, timescale, level)
        con.execute("INSERT INTO report_timescales VALUES (?, ?, now())", [timescale, level])


def _build(con: duckdb.DuckDBPyConnection, timescale: str, level: str) -> None:
    """Sum the totals of ``timescale`` from every row of ``level`` (none kept for it before)."""
    source = f"rollup_{level}"
    n = _summed_sql(source, timescale, level, with_k=False)
    con.execute(
        f"""
        INSERT INTO report_windows
        SELECT ?, resource_code, window_us, count(*), sum(n), sum(s) FROM ({n}) GROUP BY ALL
        """,
        [timescale],
    )
    con.execute(
        f"""
        INSERT INTO report_entities
        SELECT ?, resource_code, entity_id, count(*), min(window_us), max(window_us) FROM ({n}) GROUP BY ALL
        """,
        [timescale],
    )
    con.execute(
        f"INSERT INTO report_sizes SELECT ?, resource_code, n, count(*) FROM ({n}) GROUP BY ALL",
        [timescale],
    )
    candidates = _candidates_sql(source)
    if timescale == level:
        k = _summed_sql(candidates, timescale, level, with_k=True)
        con.execute(
            f"""
            INSERT INTO report_overloads
            SELECT ?, resource_code, threshold_bin, entity_id, window_us, n, k FROM ({k}) WHERE k > 0
            """,
            [timescale],
        )
        return
    # A coarser window's samples count every row of the level in it, not only the candidates'.
    window = window_start_sql(timescale, "window_us")
    k = f"""
        SELECT resource_code, entity_id, {window} AS window_us, threshold_bin, sum(k)::BIGINT AS k
        FROM ({_at_or_above_sql(candidates)}) GROUP BY ALL HAVING sum(k) > 0
    """
    con.execute(
        f"""
        INSERT INTO report_overloads
        SELECT ?, k.resource_code, k.threshold_bin, k.entity_id, k.window_us, n.n, k.k
        FROM ({k}) k JOIN ({n}) n USING ({_KEYS})
        """,
        [timescale],
    )


def update(con: duckdb.DuckDBPyConnection, levels: tuple[str, ...]) -> None:
    """Move the totals of every timescale kept from one of ``levels`` by what the batch changed
    in it: the temporary tables ``_changed_<level>`` (the new rows of the keys the batch wrote)
    and ``_replaced_<level>`` (the rows they replace)."""
    for timescale, level in read_built(con).items():
        if level in levels:
            _update(con, timescale, level)
    for table in ("_n", "_k", "_touched", "_d"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _candidates_sql(rows: str) -> str:
    """SQL of the rows of ``rows`` whose maximum reaches a watched θ of their resource: only they
    can hold a sample at or above it."""
    return f"""
        (SELECT r.* FROM {rows} r SEMI JOIN report_thresholds t
         ON r.resource_code = t.resource_code AND {MAX_SQL} >= {_theta("t.threshold_bin")})
    """


def _update(con: duckdb.DuckDBPyConnection, timescale: str, level: str) -> None:
    """Create ``_n`` (every key the batch touched: its samples now and before, 0 when new) and
    ``_k`` (the keys with a sample at or above a watched θ now: how many, now and before), then
    fold them into the totals. Samples are only ever added, so a key at or above θ before is so now."""
    changed, replaced = f"_changed_{level}", f"_replaced_{level}"
    (replacing,) = con.execute(f"SELECT count(*) > 0 FROM {replaced}").fetchall()[0]
    if timescale == level and not replacing:
        # New keys only (a trace file, a new window): nothing was there before.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _n AS SELECT {_KEYS}, samples::BIGINT AS new_n, 0::BIGINT AS old_n, "
            f"{SUM_SQL} AS new_s, 0::DOUBLE AS old_s FROM {changed}"
        )
        new_k = _summed_sql(_candidates_sql(changed), timescale, level, with_k=True)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _k AS SELECT {_KEYS}, threshold_bin, k AS new_k, 0::BIGINT AS old_k "
            f"FROM ({new_k}) WHERE k > 0"
        )
    elif timescale == level:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _n AS
            SELECT {_KEYS}, c.samples::BIGINT AS new_n, coalesce(r.samples, 0)::BIGINT AS old_n,
                   coalesce(c.utilization_sum, c.utilization_min) AS new_s,
                   coalesce(r.utilization_sum, r.utilization_min, 0) AS old_s
            FROM {changed} c LEFT JOIN {replaced} r USING ({_KEYS})
            """
        )
        new_k = _summed_sql(_candidates_sql(changed), timescale, level, with_k=True)
        old_k = _summed_sql(_candidates_sql(replaced), timescale, level, with_k=True)
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _k AS
            SELECT {_KEYS}, threshold_bin, a.k AS new_k, coalesce(b.k, 0) AS old_k
            FROM ({new_k}) a LEFT JOIN ({old_k}) b USING ({_KEYS}, threshold_bin) WHERE a.k > 0
            """
        )
    elif not _update_coarser(con, timescale, level, changed, replaced):
        return
    _add(
        con,
        "report_windows",
        timescale,
        ("resource_code", "window_us"),
        "SELECT resource_code, window_us, count(*) FILTER (WHERE old_n = 0) AS entities, "
        "sum(new_n - old_n) AS samples, sum(new_s - old_s) AS utilization_sum FROM _n GROUP BY ALL",
        "entities = t.entities + d.entities, samples = t.samples + d.samples, "
        "utilization_sum = t.utilization_sum + d.utilization_sum",
    )
    _add(
        con,
        "report_entities",
        timescale,
        ("resource_code", "entity_id"),
        "SELECT resource_code, entity_id, count(*) FILTER (WHERE old_n = 0) AS windows, "
        "min(window_us) AS first_us, max(window_us) AS last_us FROM _n GROUP BY ALL",
        "windows = t.windows + d.windows, first_us = least(t.first_us, d.first_us), "
        "last_us = greatest(t.last_us, d.last_us)",
    )
    _add(
        con,
        "report_sizes",
        timescale,
        ("resource_code", "samples"),
        """SELECT resource_code, n AS samples, sum(c) AS windows FROM (
               SELECT resource_code, new_n AS n, 1 AS c FROM _n
               UNION ALL SELECT resource_code, old_n, -1 FROM _n WHERE old_n > 0
           ) GROUP BY ALL HAVING sum(c) <> 0""",
        "windows = t.windows + d.windows",
    )
    con.execute("DELETE FROM report_sizes WHERE timescale = ? AND windows = 0", [timescale])
    (rewritten,) = con.execute("SELECT count(*) FROM _k WHERE old_k > 0").fetchall()[0]
    if rewritten:  # a scan of the table: only when a batch merged into pairs already at or above θ
        con.execute(
            """
        DELETE FROM report_overloads o USING _k k
        WHERE o.timescale = ? AND k.old_k > 0 AND o.resource_code = k.resource_code
          AND o.threshold_bin = k.threshold_bin AND o.entity_id = k.entity_id AND o.window_us = k.window_us
        """,
            [timescale],
        )
    con.execute(
        f"""
        INSERT INTO report_overloads
        SELECT ?, resource_code, threshold_bin, entity_id, window_us, n.new_n, k.new_k
        FROM _k k JOIN _n n USING ({_KEYS}) WHERE k.new_k > 0
        """,
        [timescale],
    )


def _update_coarser(
    con: duckdb.DuckDBPyConnection, timescale: str, level: str, changed: str, replaced: str
) -> bool:
    """Create ``_n`` and ``_k`` of a timescale coarser than its level (a week from days): the keys
    the batch touched, summed again from the level after the batch; before = now − (changed −
    replaced), key by key. Returns whether the batch touched any."""
    window = window_start_sql(timescale, "window_us")
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _touched AS SELECT DISTINCT resource_code, entity_id, {window} AS t_us "
        f"FROM {changed}"
    )
    lo, hi, first, last = con.execute(
        f"SELECT min(entity_id), max(entity_id), min(window_us), max(window_us) FROM {changed}"
    ).fetchall()[0]
    if lo is None:
        return False
    first_us, last_us = con.execute(
        f"SELECT {window_start_sql(timescale, str(int(first)))}, {window_start_sql(timescale, str(int(last)))}"
    ).fetchall()[0]
    # The range lets DuckDB skip the rest of the level through its zone maps; the end bound is
    # loose (the last window's start plus a month) but safe.
    rows = f"""
        (SELECT r.* FROM (SELECT *, {window} AS t_us FROM rollup_{level}
                          WHERE entity_id BETWEEN {int(lo)} AND {int(hi)}
                            AND window_us BETWEEN {int(first_us)} AND {int(last_us) + 31 * 86_400_000_000}) r
         SEMI JOIN _touched USING (resource_code, entity_id, t_us))
    """
    new_n = _summed_sql(rows, timescale, level, with_k=False)
    delta_n = f"""
        SELECT {_KEYS}, sum(n) AS n, sum(s) AS s FROM (
            SELECT {_KEYS}, n, s FROM ({_summed_sql(changed, timescale, level, with_k=False)})
            UNION ALL SELECT {_KEYS}, -n, -s FROM ({_summed_sql(replaced, timescale, level, with_k=False)})
        ) GROUP BY ALL
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _n AS
        SELECT {_KEYS}, a.n AS new_n, a.n - coalesce(d.n, 0) AS old_n, a.s AS new_s, a.s - coalesce(d.s, 0) AS old_s
        FROM ({new_n}) a LEFT JOIN ({delta_n}) d USING ({_KEYS})
        """
    )
    new_k = _summed_sql(_candidates_sql(rows), timescale, level, with_k=True)
    delta_k = f"""
        SELECT {_KEYS}, threshold_bin, sum(k) AS k FROM (
            SELECT {_KEYS}, threshold_bin, k FROM ({_summed_sql(_candidates_sql(changed), timescale, level, with_k=True)})
            UNION ALL
            SELECT {_KEYS}, threshold_bin, -k
            FROM ({_summed_sql(_candidates_sql(replaced), timescale, level, with_k=True)})
        ) GROUP BY ALL
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _k AS
        SELECT {_KEYS}, threshold_bin, a.k AS new_k, a.k - coalesce(d.k, 0) AS old_k
        FROM ({new_k}) a LEFT JOIN ({delta_k}) d USING ({_KEYS}, threshold_bin) WHERE a.k > 0
        """
    )
    return True


def _add(
    con: duckdb.DuckDBPyConnection,
    table: str,
    timescale: str,
    keys: tuple[str, ...],
    delta: str,
    update_sql: str,
) -> None:
    """Fold ``delta`` (rows keyed by ``keys``) into ``table``'s rows of ``timescale``: ``update_sql``
    where the key is there (``t`` the row, ``d`` the delta), the delta's row where it is not."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _d AS {delta}")
    match = " AND ".join(f"t.{key} = d.{key}" for key in keys)
    con.execute(f"UPDATE {table} t SET {update_sql} FROM _d d WHERE t.timescale = ? AND {match}", [timescale])
    con.execute(
        f"""
        INSERT INTO {table} SELECT ?, d.* FROM _d d
        WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.timescale = ? AND {match})
        """,
        [timescale, timescale],
    )
