"""Notification events and dead letters in the DuckDB store, and the fleet's CPU load beside them.

Events are identified by their ``message_id`` and dead letters by the digest of their text, so
writing a batch again — as happens when the bus delivers again what was stored but not yet
acknowledged — adds nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from stackmeter.errors import StoreError
from stackmeter.models import TIMESCALE_BY_NAME, DeadLetter, Event, serving_level
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.rollup_sql import SUM_SQL
from stackmeter.store.duckdb.rollup_writes import read_levels
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from stackmeter.store.duckdb.sql import (
    datetime_of,
    time_of,
    timestamp_array,
    utc_times_of,
    utc_windows_of,
    window_start_sql,
)

_EVENT_COLUMNS = list(Event._fields)
_DEAD_COLUMNS = list(DeadLetter._fields)


def write_notifications(
    con: duckdb.DuckDBPyConnection, events: list[Event], dead_letters: list[DeadLetter]
) -> tuple[int, int]:
    """Write events and dead letters in one transaction; return (events added, dead letters added).

    Events whose ``message_id`` the store already holds, and dead letters already kept, are
    skipped. Either everything lands or nothing does.

    :raises StoreError: when the write fails; the store is then unchanged
    """
    try:
        con.execute("BEGIN")
        added = _insert(con, "events", _events_table(events), "message_id") if events else 0
        dead = _insert(con, "deadletters", _dead_table(dead_letters), "digest") if dead_letters else 0
        con.execute("COMMIT")
    except (duckdb.Error, pa.ArrowException, ValueError) as exc:
        with contextlib.suppress(duckdb.Error):  # a closed or broken connection has nothing to undo
            con.execute("ROLLBACK")
        raise StoreError(f"notifications not written, store unchanged: {exc}") from exc
    return added, dead


def read_event_kinds(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """Return the distinct (event type, carries a fault) pairs of the events held, in order."""
    rows = con.execute("SELECT DISTINCT event_type, fault IS NOT NULL FROM events ORDER BY ALL").fetchall()
    return [(event_type, bool(failed)) for event_type, failed in rows]


def read_events(con: duckdb.DuckDBPyConnection, event_types: Iterable[str] | None = None) -> pd.DataFrame:
    """Return the events (of ``event_types`` only, when given), by time, with the columns of
    :class:`~stackmeter.models.Event` (``ts`` ``datetime64[ns, UTC]``, the others objects, ``None``
    where missing)."""
    where, params = "", []
    if event_types is not None:
        where, params = "WHERE list_contains(?::VARCHAR[], event_type)", [sorted(event_types)]
    sql = f"SELECT {', '.join(_EVENT_COLUMNS)} FROM events {where} ORDER BY ts"
    table = con.sql(sql, params=params).to_arrow_table()
    # Straight from arrow to objects (None where missing): what the pairing compares and merges on.
    frame = pd.DataFrame(
        {
            column: pd.Series(table[column].to_numpy(zero_copy_only=False), dtype=object)
            for column in _EVENT_COLUMNS
            if column != "ts"
        }
    )
    frame.insert(0, "ts", utc_times_of(table["ts"].to_pandas()))
    return frame[_EVENT_COLUMNS]


def read_last_event_time(con: duckdb.DuckDBPyConnection) -> np.datetime64 | None:
    """Return the time of the latest event in the whole store, even through a project-scoped reader:
    it says how fresh the bus data is (as the store's last write does), and open operations of every
    project are judged against the same clock."""
    (db,) = con.execute("SELECT current_database()").fetchall()[0]
    quoted = '"' + db.replace('"', '""') + '"'
    (last,) = con.execute(f"SELECT epoch_us(max(ts)) FROM {quoted}.main.events").fetchall()[0]
    return datetime_of(last)


def count_notifications(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Return (events, dead letters) held."""
    return con.execute("SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deadletters)").fetchall()[
        0
    ]


def read_dead_letters(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> list[DeadLetter]:
    """Return dead letters, most recently received first (at most ``limit``)."""
    sql = (
        "SELECT epoch_us(received), origin, reason, detail, body, digest FROM deadletters "
        "ORDER BY received DESC, origin" + (" LIMIT ?" if limit is not None else "")
    )
    rows = con.execute(sql, [limit] if limit is not None else []).fetchall()
    return [DeadLetter(time_of(row[0]), *row[1:]) for row in rows]


def read_fleet_cpu_utilization(con: duckdb.DuckDBPyConnection, timescale: str) -> pd.DataFrame:
    """Return the mean CPU utilization (``used / capacity``) of every sample with a capacity, per
    UTC window of ``timescale``: columns ``window`` and ``fleet_cpu_utilization``.

    Read from the report totals of the timescale when kept, else the coarsest rollup level whose
    windows nest in the timescale's (its rows count and sum the same samples: a window's mean is
    their sums over their counts), else from the raw samples; all agree but for the order of the
    additions (the last bits).
    """
    if timescale not in TIMESCALE_BY_NAME:
        raise StoreError(f"unknown timescale {timescale!r}")
    level = serving_level(timescale, read_levels(con))
    kept = report_totals.read_fleet_means(con, timescale, RESOURCE_CODES["cpu"]) if level else None
    params: list = [RESOURCE_CODES["cpu"]]
    if kept is not None:
        # The report totals keep each window's sum, moved batch by batch (the last bits may differ).
        sql, params = f"SELECT window_us, mean_utilization AS fleet_cpu_utilization FROM ({kept})", []
    elif level is None:
        sql = f"""
            SELECT {window_start_sql(timescale, "epoch_us(s.ts)")} AS window_us,
                   avg(s.used / s.capacity) AS fleet_cpu_utilization
            FROM samples s
            WHERE s.resource_code = ? AND s.capacity IS NOT NULL
            GROUP BY window_us ORDER BY window_us
        """
    else:
        window = "window_us" if level == timescale else window_start_sql(timescale, "window_us")
        sql = f"""
            SELECT {window} AS window_us, sum({SUM_SQL}) / sum(samples) AS fleet_cpu_utilization
            FROM rollup_{level} WHERE resource_code = ?
            GROUP BY ALL ORDER BY window_us
        """
    frame = con.sql(sql, params=params).to_arrow_table().to_pandas()
    frame.insert(0, "window", utc_windows_of(frame.pop("window_us")))
    return frame


def _insert(con: duckdb.DuckDBPyConnection, table: str, batch: pa.Table, key: str) -> int:
    con.register("_notification_batch", batch)
    try:
        (added,) = con.execute(
            f"INSERT INTO {table} SELECT * FROM _notification_batch b ANTI JOIN {table} t USING ({key})"
        ).fetchall()[0]
    finally:
        con.unregister("_notification_batch")
    return int(added)


def _events_table(events: list[Event]) -> pa.Table:
    frame = pd.DataFrame.from_records(events, columns=_EVENT_COLUMNS).drop_duplicates("message_id")
    columns = {"message_id": pa.array(frame["message_id"], pa.string())}
    columns["ts"] = timestamp_array(frame["ts"])
    for name in _EVENT_COLUMNS[1:-1]:
        columns[name] = pa.array(frame[name], pa.string(), from_pandas=True)
    return pa.table(columns)


def _dead_table(dead_letters: list[DeadLetter]) -> pa.Table:
    frame = pd.DataFrame.from_records(dead_letters, columns=_DEAD_COLUMNS).drop_duplicates("digest")
    return pa.table(
        {
            "digest": pa.array(frame["digest"], pa.string()),
            "received": timestamp_array(frame["received"]),
            "origin": pa.array(frame["origin"], pa.string()),
            "reason": pa.array(frame["reason"], pa.string()),
            "detail": pa.array(frame["detail"], pa.string()),
            "body": pa.array(frame["body"], pa.string()),
        }
    )
