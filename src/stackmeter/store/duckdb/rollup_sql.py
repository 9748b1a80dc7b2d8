"""SQL of rollup rows: a sample's histogram bin, and level rows built and merged set-wise.

The finest level's rows come straight from a batch's samples. A coarser level's rows are built
in two steps: *cells* count the samples per entity, resource, window and bin (with their sum,
min and max), regrouped from a finer level's cells when its windows nest in the coarser ones;
then each window's cells fold into one row: count, sum, min, max and the sparse histogram. Rows merge by adding
counts and histograms (:func:`merged_rows_sql`), in any order, so a batch builds the rows of its own samples only and folds
them into the rows already stored.
"""

from __future__ import annotations

from stackmeter.models import HISTOGRAM_BINS_PER_UNIT, HISTOGRAM_OVERFLOW_BIN
from stackmeter.store.duckdb.sql import window_start_sql

KEYS = "entity_id, resource_code, window_us"
# A row stores its sum only when it holds several samples, and its maximum only when above its
# minimum (see schema.py): these give the values whatever the row.
SUM_SQL = "coalesce(utilization_sum, utilization_min)"
MAX_SQL = "coalesce(utilization_max, utilization_min)"
# A histogram from (bin, n) rows: sorting the structs sorts by bin, faster than an ordered aggregate.
_HISTOGRAM = "list_sort(list({'bin': bin::USMALLINT, 'samples': n::UINTEGER}))"


def bin_sql(utilization: str) -> str:
    """SQL of the histogram bin of ``utilization``: bin i holds i/100 <= u < (i+1)/100.

    The edges are the doubles i/100, the same as a threshold written ``0.8`` or ``0.95``, so a
    sample's bin agrees with ``u >= threshold`` even when u*100 rounds across an edge.
    """
    per_unit, top = HISTOGRAM_BINS_PER_UNIT, HISTOGRAM_OVERFLOW_BIN
    guess = f"least(floor(least({utilization}, {top + 1}::DOUBLE) * {per_unit}), {top})::INTEGER"
    below = f"({utilization} < ({guess})::DOUBLE / {per_unit}::DOUBLE)::INTEGER"
    above = f"({utilization} >= ({guess} + 1)::DOUBLE / {per_unit}::DOUBLE)::INTEGER"
    return f"least({guess} - {below} + {above}, {top})"


def judged_sql(source: str) -> str:
    """SQL of the judged samples (known capacity) of ``source``: keys, time, utilization and bin."""
    return f"""
        SELECT entity_id, resource_code, ts_us, u, {bin_sql("u")} AS bin
        FROM (SELECT entity_id, resource_code, epoch_us(ts) AS ts_us, used / capacity AS u
              FROM {source} WHERE capacity IS NOT NULL)
    """


def cells_from_judged_sql(judged: str, level: str) -> str:
    """SQL of ``level``'s cells from judged samples (see :func:`judged_sql`)."""
    return f"""
        SELECT entity_id, resource_code, {window_start_sql(level, "ts_us")} AS window_us, bin,
               count(*) AS n, sum(u) AS s, min(u) AS lo, max(u) AS hi
        FROM {judged} GROUP BY ALL
    """


def cells_from_cells_sql(cells: str, level: str) -> str:
    """SQL of ``level``'s cells from a finer level's ``cells`` whose windows nest in ``level``'s."""
    return f"""
        SELECT entity_id, resource_code, {window_start_sql(level, "window_us")} AS window_us, bin,
               sum(n) AS n, sum(s) AS s, min(lo) AS lo, max(hi) AS hi
        FROM {cells} GROUP BY ALL
    """


def rows_from_judged_sql(judged: str, level: str) -> str:
    """SQL of ``level``'s rows straight from judged samples, without histograms: for the finest
    level, where a window mostly holds one sample, or samples of one bin, which need none.
    :func:`spread_rows_sql` finds the rows that do, :func:`histograms_sql` builds them."""
    return f"""
        SELECT entity_id, resource_code, {window_start_sql(level, "ts_us")} AS window_us,
               count(*)::UINTEGER AS samples, CASE WHEN count(*) > 1 THEN sum(u) END AS utilization_sum,
               min(u) AS utilization_min, nullif(max(u), min(u)) AS utilization_max,
               NULL::STRUCT(bin USMALLINT, samples UINTEGER)[] AS histogram
        FROM {judged} GROUP BY ALL
    """


def spread_rows_sql(rows: str, where: str) -> str:
    """SQL of the keys of the rows of ``rows`` matching ``where`` whose samples span several bins
    (bins grow with utilization, so those whose minimum and maximum lie in different bins)."""
    return f"""
        SELECT {KEYS} FROM {rows}
        WHERE {where} AND utilization_max IS NOT NULL
          AND {bin_sql("utilization_min")} < {bin_sql("utilization_max")}
    """


def histograms_sql(judged: str, level: str, keys: str) -> str:
    """SQL of the histograms of the ``level`` windows listed in ``keys``, from judged samples."""
    return f"""
        SELECT {KEYS}, {_HISTOGRAM} AS histogram
        FROM (
            SELECT {KEYS}, bin, count(*) AS n
            FROM (SELECT entity_id, resource_code, {window_start_sql(level, "ts_us")} AS window_us, bin
                  FROM {judged})
            SEMI JOIN {keys} USING ({KEYS})
            GROUP BY ALL
        )
        GROUP BY ALL
    """


def rows_from_cells_sql(cells: str) -> str:
    """SQL of level rows (the columns of ``rollup_<level>``) from ``cells``."""
    return f"""
        WITH g AS (
            SELECT {KEYS}, sum(n)::UINTEGER AS samples, CASE WHEN sum(n) > 1 THEN sum(s) END AS utilization_sum,
                   min(lo) AS utilization_min, nullif(max(hi), min(lo)) AS utilization_max,
                   count(*) > 1 AS spread
            FROM {cells} GROUP BY ALL
        ),
        h AS (
            SELECT {KEYS}, {_HISTOGRAM} AS histogram
            FROM {cells} SEMI JOIN (SELECT {KEYS} FROM g WHERE spread) USING ({KEYS})
            GROUP BY ALL
        )
        SELECT g.* EXCLUDE (spread), h.histogram FROM g LEFT JOIN h USING ({KEYS})
    """


def merged_rows_sql(rows: str) -> str:
    """SQL folding ``rows`` (level rows, several per key) into one row per key."""
    single = f"[{{'bin': ({bin_sql('utilization_min')})::USMALLINT, 'samples': samples}}]"
    return f"""
        WITH r AS ({rows}),
        g AS (
            SELECT {KEYS}, sum(samples)::UINTEGER AS samples,
                   CASE WHEN sum(samples) > 1 THEN sum({SUM_SQL}) END AS utilization_sum,
                   min(utilization_min) AS utilization_min,
                   nullif(max({MAX_SQL}), min(utilization_min)) AS utilization_max
            FROM r GROUP BY ALL
        ),
        h AS (
            SELECT {KEYS}, {_HISTOGRAM} AS histogram
            FROM (
                SELECT {KEYS}, e.bin AS bin, sum(e.samples)::UINTEGER AS n
                FROM (SELECT {KEYS}, unnest(coalesce(histogram, {single})) AS e FROM r)
                GROUP BY ALL
            )
            GROUP BY ALL
        )
        SELECT g.*, CASE WHEN len(h.histogram) > 1 THEN h.histogram END AS histogram
        FROM g JOIN h USING ({KEYS})
    """
