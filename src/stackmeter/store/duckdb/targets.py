"""Status of scraped exporter targets in the DuckDB store (table ``target_status``)."""

from __future__ import annotations

from collections.abc import Iterable

import duckdb

from stackmeter.errors import StoreError
from stackmeter.models import TargetStatus
from stackmeter.store.duckdb.sql import ns_to_us

_COLUMNS = (
    "target, exporter, state, epoch_ns(last_attempt), epoch_ns(last_success), last_error, failures, "
    "epoch_ns(next_attempt), samples"
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
            ns_to_us(s.last_attempt_ns),
            ns_to_us(s.last_success_ns),
            s.last_error,
            s.failures,
            ns_to_us(s.next_attempt_ns),
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
        TargetStatus(target, exporter, state, attempt, success, error, failures, next_attempt or 0, samples)
        for target, exporter, state, attempt, success, error, failures, next_attempt, samples in rows
    ]
