"""Retention: drop raw samples and rollup rows older than what each keeps (SQL of ``compact``)."""

from __future__ import annotations

from collections.abc import Mapping

import duckdb
import numpy as np

from stackmeter.errors import StoreError
from stackmeter.models import Dropped, SampleSpan
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.rollup_writes import read_levels
from stackmeter.store.duckdb.sql import datetime_of, time_of, timestamp_param, us_of, window_start_sql


def read_sample_span(con: duckdb.DuckDBPyConnection) -> SampleSpan:
    """Return the times of the oldest and newest samples the store has received."""
    first, last = con.execute("SELECT min(first_us), max(last_us) FROM series_extents").fetchall()[0]
    return SampleSpan(datetime_of(first), datetime_of(last))


def drop_older(
    con: duckdb.DuckDBPyConnection,
    path: str,
    raw_before: np.datetime64 | None,
    level_before: Mapping[str, np.datetime64],
    dry_run: bool = False,
) -> Dropped:
    """Drop raw samples before ``raw_before`` (none when ``None``) and the windows of each
    level that end before its horizon, in one transaction. Raw samples older than what was
    dropped are refused by later writes. With ``dry_run``, return what would be dropped and
    leave the store unchanged.
    """
    raw_us = None if raw_before is None else us_of(raw_before)
    level_us = {level: us_of(t) for level, t in level_before.items()}
    try:
        con.execute("BEGIN")
        samples, rows, kept_from = _drop_older(con, raw_us, level_us)
        # A dry run drops for real inside the transaction, counts, and undoes it: exact counts.
        con.execute("ROLLBACK" if dry_run else "COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise StoreError(f"compaction of {path} failed, store unchanged: {exc}") from exc
    if not dry_run:
        con.execute("CHECKPOINT")
    return Dropped(samples, rows, {level: time_of(us) for level, us in kept_from.items()})


def _drop_older(
    con: duckdb.DuckDBPyConnection, raw_before_us: int | None, level_before_us: dict[str, int]
) -> tuple[int, dict[str, int], dict[str, int]]:
    """Drop raw samples before ``raw_before_us`` (none when ``None``) and, per built level, the windows that end before
    its horizon. Runs inside the caller's transaction.

    Returns the samples dropped, the rows dropped per level and each level's first kept window.
    """
    samples = 0
    if raw_before_us is not None:
        (samples,) = con.execute(
            "DELETE FROM samples WHERE ts < ?::TIMESTAMPTZ", [timestamp_param(raw_before_us)]
        ).fetchall()[0]
        if samples:
            # From now on a sample before the horizon cannot be told from one dropped: refused.
            _mark(con, "raw", raw_before_us)
    rows: dict[str, int] = {}
    kept_from: dict[str, int] = {}
    for level in (level for level in read_levels(con) if level in level_before_us):
        # A window is dropped only when it ends before the horizon: the horizon's own window stays.
        horizon = f"{int(level_before_us[level])}::BIGINT"
        (first_kept,) = con.execute(f"SELECT {window_start_sql(level, horizon)}").fetchall()[0]
        (rows[level],) = con.execute(
            f"DELETE FROM rollup_{level} WHERE window_us < ?", [first_kept]
        ).fetchall()[0]
        _mark(con, level, first_kept)
        kept_from[level] = first_kept
    # The report totals sum the levels: those of a level that lost rows are summed again.
    report_totals.prepare(con, read_levels(con), rebuild=tuple(level for level, n in rows.items() if n))
    # Series with nothing left anywhere leave the extents (and the reports' entity counts).
    held = " UNION ".join(
        ["SELECT DISTINCT entity_id, resource_code FROM samples"]
        + [f"SELECT DISTINCT entity_id, resource_code FROM rollup_{level}" for level in read_levels(con)]
    )
    con.execute(
        f"DELETE FROM series_extents x WHERE NOT EXISTS (SELECT 1 FROM ({held}) h "
        "WHERE h.entity_id = x.entity_id AND h.resource_code = x.resource_code)"
    )
    # Compaction changes what some reports read: it counts as a batch, so that caches keyed by
    # the last batch (the API's) start afresh.
    con.execute("INSERT INTO batches VALUES (nextval('batch_ids'), 'compact', now(), 0, 0, 0, 0)")
    return int(samples), rows, kept_from


def _mark(con: duckdb.DuckDBPyConnection, kept: str, before_us: int) -> None:
    """Remember the latest horizon of ``kept``: samples older than it can no longer land."""
    updated = con.execute(
        "UPDATE retention_marks SET dropped_before_us = greatest(dropped_before_us, ?) WHERE kept = ?",
        [before_us, kept],
    ).fetchall()[0][0]
    if not updated:
        con.execute("INSERT INTO retention_marks VALUES (?, ?)", [kept, before_us])
