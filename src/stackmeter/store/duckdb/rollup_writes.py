"""Rollup levels kept up to date inside each batch's transaction (the SQL of the write path).

Every function here runs inside the caller's transaction: on an error the batch rolls back,
rollups included. ``series_extents`` keeps each series' sample count and first and last time,
so reports still know the fleet once compaction has dropped raw samples.
"""

from __future__ import annotations

import duckdb

from stackmeter.errors import StoreError
from stackmeter.models import COMPACTED, NESTS_IN, TIMESCALE_TABLE, TIMESCALES, TOO_LATE, Rejection
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.rejections import insert_rejections
from stackmeter.store.duckdb.rollup_sql import (
    KEYS,
    cells_from_cells_sql,
    cells_from_judged_sql,
    histograms_sql,
    judged_sql,
    merged_rows_sql,
    rows_from_cells_sql,
    rows_from_judged_sql,
    spread_rows_sql,
)
from stackmeter.store.duckdb.schema import CODE_RESOURCES
from stackmeter.store.duckdb.sql import window_start_sql

_TEMPORARY = ("_judged", "_delta", "_old", "_extents") + tuple(
    f"_{kind}_{level}" for level in TIMESCALES for kind in ("cells", "changed", "replaced")
)


def read_levels(con: duckdb.DuckDBPyConnection, built_only: bool = True) -> tuple[str, ...]:
    """Return the store's levels, finest first (with ``built_only``, those already built)."""
    where = "WHERE built_at IS NOT NULL" if built_only else ""
    listed = {row[0] for row in con.execute(f"SELECT level FROM rollup_levels {where}").fetchall()}
    return tuple(level for level in TIMESCALES if level in listed)


def read_raw_horizon_us(con: duckdb.DuckDBPyConnection) -> int | None:
    """Return the time (epoch µs) before which compaction dropped raw samples, or ``None``."""
    return con.execute("SELECT max(dropped_before_us) FROM retention_marks WHERE kept = 'raw'").fetchall()[0][
        0
    ]


def prepare_levels(con: duckdb.DuckDBPyConnection, levels: tuple[str, ...] | None) -> None:
    """Build what the store lacks: series extents, and each level listed but not built yet (from
    the raw samples); with ``levels``, first make the store's levels exactly those, dropping the
    others with their rows. ``None`` keeps the store's levels.

    A level cannot be added once compaction has dropped raw samples: it would miss their windows.
    """
    if con.execute("SELECT count(*) FROM series_extents").fetchall()[0][0] == 0:
        update_extents(con, "samples")
    listed = read_levels(con, built_only=False)
    if levels is not None:
        for level in listed:
            if level not in levels:
                con.execute(f"DELETE FROM rollup_{level}")
                con.execute("DELETE FROM rollup_levels WHERE level = ?", [level])
        for level in levels:
            if level not in listed:
                con.execute("INSERT INTO rollup_levels VALUES (?, NULL)", [level])
    pending = [level for level in read_levels(con, built_only=False) if level not in read_levels(con)]
    if not pending:
        report_totals.prepare(con, read_levels(con))
        return
    horizon = read_raw_horizon_us(con)
    if horizon is not None:
        raise StoreError(
            f"rollup level {', '.join(pending)} cannot be added: compaction already dropped raw samples "
            "it would need; keep the store's levels (rollup_levels) or start a new store"
        )
    _fold_into_levels(con, "samples", tuple(pending))
    for level in pending:
        con.execute("UPDATE rollup_levels SET built_at = now() WHERE level = ?", [level])
    report_totals.prepare(con, read_levels(con), rebuild=tuple(pending))


def split_refused(con: duckdb.DuckDBPyConnection, fresh: str, back_window_us: int | None) -> int:
    """Move from the temporary table ``fresh`` into ``_refused`` the samples the store refuses.

    A sample is refused when it is older than what compaction dropped (its duplicates could no
    longer be recognised, so the rollups could count it twice), or, with a back window, older
    than its series' latest sample in the store less the back window. ``_refused`` holds the
    samples with ``reason`` and ``horizon_us``. Returns how many were refused.
    """
    mark = read_raw_horizon_us(con)
    late = "NULL::BIGINT" if back_window_us is None else f"x.last_us - {int(back_window_us)}"
    compacted = "NULL::BIGINT" if mark is None else f"{int(mark)}::BIGINT"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _refused AS
        SELECT f.*, CASE WHEN epoch_us(f.ts) < {compacted} THEN '{COMPACTED}' ELSE '{TOO_LATE}' END
                    AS reason,
               CASE WHEN epoch_us(f.ts) < {compacted} THEN {compacted} ELSE {late} END AS horizon_us
        FROM {fresh} f LEFT JOIN series_extents x USING (entity_id, resource_code)
        WHERE epoch_us(f.ts) < {compacted} OR epoch_us(f.ts) < {late}
        """
    )
    (refused,) = con.execute("SELECT count(*) FROM _refused").fetchall()[0]
    if refused:
        con.execute(
            f"DELETE FROM {fresh} f USING _refused r WHERE f.entity_id = r.entity_id "
            "AND f.resource_code = r.resource_code AND f.ts = r.ts"
        )
    return int(refused)


def write_refusals(
    con: duckdb.DuckDBPyConnection,
    batch_id: int,
    origins: list[str],
    examples: int = 10,
    once: bool = True,
) -> tuple[dict[str, int], tuple[Rejection, ...]]:
    """Record the samples of ``_refused`` in the rejections of ``batch_id``, one each, with the
    origin of the part they came in (``part`` indexes ``origins``); with ``once``, those already
    recorded are not recorded again (see :func:`~stackmeter.store.duckdb.rejections.insert_rejections`).

    Returns the count per reason and the first ``examples`` rejections.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _origins (part INTEGER, origin VARCHAR)")
    con.executemany("INSERT INTO _origins VALUES (?, ?)", list(enumerate(origins)))
    resource = (
        "CASE r.resource_code "
        + " ".join(f"WHEN {code} THEN '{name}'" for code, name in CODE_RESOURCES.items())
        + " END"
    )
    detail = (
        "e.entity || ' at ' || strftime(r.ts, '%Y-%m-%dT%H:%M:%SZ') || ' is before ' || "
        "strftime(make_timestamp(r.horizon_us), '%Y-%m-%dT%H:%M:%SZ')"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _refusals AS
        SELECT {int(batch_id)}::BIGINT AS batch_id, o.origin, NULL::BIGINT AS line,
               {resource} AS field, r.reason, {detail} AS detail
        FROM _refused r JOIN _origins o USING (part) JOIN entities e USING (entity_id)
        ORDER BY r.part, e.entity, r.resource_code, r.ts
        """
    )
    insert_rejections(con, "_refusals", once)
    counts = dict(
        con.execute("SELECT reason, count(*) FROM _refusals GROUP BY reason ORDER BY 2 DESC").fetchall()
    )
    first = con.execute(
        "SELECT origin, line, field, reason, detail FROM _refusals LIMIT ?", [examples]
    ).fetchall()
    for table in ("_refusals", "_origins", "_refused"):
        con.execute(f"DROP TABLE {table}")
    return counts, tuple(Rejection(*row) for row in first)


def update_rollups(con: duckdb.DuckDBPyConnection, fresh: str) -> None:
    """Fold the samples of ``fresh`` (a table or view, all new to the store) into the series
    extents and every built level."""
    update_extents(con, fresh)
    _fold_into_levels(con, fresh, read_levels(con))


def _fold_into_levels(con: duckdb.DuckDBPyConnection, source: str, levels: tuple[str, ...]) -> None:
    if not levels:
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE _judged AS {judged_sql(source)}")
    bounds = con.execute(
        "SELECT min(entity_id), max(entity_id), min(ts_us), max(ts_us) FROM _judged"
    ).fetchall()[0]
    if bounds[0] is None:
        con.execute("DROP TABLE _judged")
        return
    with_cells: list[str] = []
    for level in levels:
        if level == TIMESCALE_TABLE[0].name:
            # The finest windows (five minutes) mostly hold one sample, or a few of one bin: rows
            # straight from the samples, then histograms for the few rows that need one, cost one
            # aggregation.
            _merge_level(con, level, rows_from_judged_sql("_judged", level), bounds, fill_histograms=True)
            continue
        # Cells are regrouped from the coarsest finer level's cells that nest in this level.
        finer = [done for done in with_cells if level in NESTS_IN[done]]
        if finer:
            cells = cells_from_cells_sql(f"_cells_{finer[-1]}", level)
        else:
            cells = cells_from_judged_sql("_judged", level)
        con.execute(f"CREATE OR REPLACE TEMP TABLE _cells_{level} AS {cells}")
        with_cells.append(level)
        _merge_level(con, level, rows_from_cells_sql(f"_cells_{level}"), bounds)
    report_totals.update(con, levels)
    # On an error the caller's transaction rolls back, and these temporary tables with it.
    for table in _TEMPORARY:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _merge_level(
    con: duckdb.DuckDBPyConnection, level: str, rows: str, bounds: tuple, fill_histograms: bool = False
) -> None:
    """Fold ``rows`` (new rows of ``level``, one per key) into the level's table.

    ``bounds`` are the batch's least and greatest entity id and time (epoch µs): when the level
    holds no row in that range, which is the common case of trace files and of a new window,
    the rows are inserted as they are; otherwise the rows sharing a key are merged. With
    ``fill_histograms``, ``rows`` come without histograms and get those they need from ``_judged``.
    Leaves the rows written in ``_changed_<level>`` and those they replaced in
    ``_replaced_<level>``, for the report totals.
    """
    table, changed, replaced = f"rollup_{level}", f"_changed_{level}", f"_replaced_{level}"
    first_entity, last_entity, first_us, last_us = bounds
    first_window, last_window = con.execute(
        f"SELECT {window_start_sql(level, str(int(first_us)))}, {window_start_sql(level, str(int(last_us)))}"
    ).fetchall()[0]
    # The range filter lets DuckDB skip the rest of the level through its zone maps.
    in_range = f"""
        entity_id BETWEEN {int(first_entity)} AND {int(last_entity)}
        AND window_us BETWEEN {int(first_window)} AND {int(last_window)}
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {changed} AS {rows}")
    if fill_histograms:
        _fill_histograms(con, changed, level, "true")
    old = 0
    if con.execute(f"SELECT 1 FROM {table} WHERE {in_range} LIMIT 1").fetchall():
        (old,) = con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE {replaced} AS
            SELECT r.* FROM {table} r SEMI JOIN {changed} USING ({KEYS}) WHERE {in_range}
            """
        ).fetchall()[0]
    if not old:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {replaced} AS SELECT * FROM {table} LIMIT 0")
        con.execute(f"INSERT INTO {table} SELECT * FROM {changed}")
        return
    con.execute(
        f"""
        DELETE FROM {table} r USING {replaced} o
        WHERE r.entity_id = o.entity_id AND r.resource_code = o.resource_code AND r.window_us = o.window_us
        """
    )
    both = f"SELECT * FROM {replaced} UNION ALL SELECT * FROM {changed} SEMI JOIN {replaced} USING ({KEYS})"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _delta AS
        SELECT * FROM {changed} ANTI JOIN {replaced} USING ({KEYS}) UNION ALL SELECT * FROM ({merged_rows_sql(both)})
        """
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {changed} AS SELECT * FROM _delta")
    con.execute(f"INSERT INTO {table} SELECT * FROM {changed}")


def _fill_histograms(con: duckdb.DuckDBPyConnection, table: str, level: str, where: str) -> None:
    """Give the rows of ``table`` matching ``where`` that span several bins their histogram."""
    (spread,) = con.execute(
        f"CREATE OR REPLACE TEMP TABLE _spread AS {spread_rows_sql(table, where)}"
    ).fetchall()[0]
    if spread:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _histograms AS {histograms_sql('_judged', level, '_spread')}"
        )
        con.execute(
            f"""
            UPDATE {table} r SET histogram = h.histogram FROM _histograms h
            WHERE r.entity_id = h.entity_id AND r.resource_code = h.resource_code
              AND r.window_us = h.window_us
            """
        )
    con.execute("DROP TABLE IF EXISTS _spread")
    con.execute("DROP TABLE IF EXISTS _histograms")


def update_extents(con: duckdb.DuckDBPyConnection, source: str) -> None:
    """Add the samples of ``source`` to the series extents."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _extents AS
        SELECT entity_id, resource_code, count(*) AS samples, count(capacity) AS judged,
               min(epoch_us(ts)) AS first_us, max(epoch_us(ts)) AS last_us,
               min(epoch_us(ts)) FILTER (WHERE capacity IS NOT NULL) AS judged_first_us,
               max(epoch_us(ts)) FILTER (WHERE capacity IS NOT NULL) AS judged_last_us
        FROM {source} GROUP BY ALL
        """
    )
    con.execute(
        """
        UPDATE series_extents x SET
            samples = x.samples + d.samples, judged = x.judged + d.judged,
            first_us = least(x.first_us, d.first_us), last_us = greatest(x.last_us, d.last_us),
            judged_first_us = least(x.judged_first_us, d.judged_first_us),
            judged_last_us = greatest(x.judged_last_us, d.judged_last_us)
        FROM _extents d
        WHERE x.entity_id = d.entity_id AND x.resource_code = d.resource_code
        """
    )
    con.execute(
        """
        INSERT INTO series_extents
        SELECT d.* FROM _extents d ANTI JOIN series_extents x USING (entity_id, resource_code)
        """
    )
    con.execute("DROP TABLE _extents")
