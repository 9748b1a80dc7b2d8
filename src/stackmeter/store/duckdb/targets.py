"""Status of scraped exporter targets in the DuckDB store (table ``target_status``)."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from stackmeter.errors import StoreError
from stackmeter.models import TargetStatus
from stackmeter.store.duckdb.sql import datetime_of, optional_us_of, time_of, us_of

_COLUMNS = (
    "target, exporter, state, epoch_us(last_attempt), epoch_us(last_success), last_error, failures, "
    "epoch_us(next_attempt), samples"
)


def write_target_statuses(
    con: duckdb.DuckDBPyConnection, path: str, statuses: Iterable[TargetStatus]
) -> None:
    """Replace the stored status of each target given (one transaction)."""
    rows = [
        (
            s.target,
            s.exporter,
            s.state,
            optional_us_of(s.last_attempt),
            optional_us_of(s.last_success),
            s.last_error,
            s.failures,
            us_of(s.next_attempt),
            s.samples,
        )
        for s in statuses
    ]
    if not rows:
        return
    try:
        con.execute("BEGIN")
        con.executemany(
            """
            INSERT OR REPLACE INTO target_status VALUES (
                ?, ?, ?, make_timestamp(?::BIGINT)::TIMESTAMPTZ, make_timestamp(?::BIGINT)::TIMESTAMPTZ, ?, ?,
                make_timestamp(?::BIGINT)::TIMESTAMPTZ, ?, now()
            )
            """,
            rows,
        )
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        raise StoreError(f"target status not written to {path}: {exc}") from exc


def read_target_statuses(con: duckdb.DuckDBPyConnection) -> list[TargetStatus]:
    """Return the stored status of every target, by target URL."""
    rows = con.execute(f"SELECT {_COLUMNS} FROM target_status ORDER BY target").fetchall()
    return [
        TargetStatus(
            target,
            exporter,
            state,
            datetime_of(attempt),
            datetime_of(success),
            error,
            failures,
            time_of(next_attempt or 0),
            samples,
        )  # fmt: skip
        for target, exporter, state, attempt, success, error, failures, next_attempt, samples in rows
    ]
