"""Runs of a consolidation framework in the DuckDB store: windows, hosts, host states, overloads, migrations.

A run is written whole in one transaction and replaces what the store held under its name, so
that reading a run folder again changes nothing.
"""

from __future__ import annotations

import contextlib

import duckdb
import numpy as np
import pyarrow as pa

from stackmeter.errors import StoreError
from stackmeter.models.consolidation import (
    ConsolidationHost,
    ConsolidationRun,
    HostFlags,
    Migrations,
    no_flags,
    no_migrations,
)
from stackmeter.store.duckdb.sql import time_of, timestamp_array, timestamp_param

# The tables of a run, each keyed by the run's name.
RUN_TABLES = (
    "consolidation_runs",
    "consolidation_hosts",
    "consolidation_host_states",
    "consolidation_overloads",
    "consolidation_migrations",
)


def write_consolidation_run(con: duckdb.DuckDBPyConnection, path: str, run: ConsolidationRun) -> None:
    """Replace the run of that name with ``run``, in one transaction.

    :raises StoreError: when the write fails; the store is then unchanged
    """
    hosts = pa.table(
        {
            "run": pa.array([run.run] * len(run.hosts), pa.string()),
            "host": pa.array([h.host for h in run.hosts], pa.string()),
            "cpu_mhz": pa.array([h.cpu_mhz for h in run.hosts], pa.float64()),
            "cpu_cores": pa.array([h.cpu_cores for h in run.hosts], pa.int32()),
            "ram_mb": pa.array([h.ram_mb for h in run.hosts], pa.float64()),
        }
    )
    states = _flags_table(run.run, run.host_states, "active")
    overloads = _flags_table(run.run, run.overloads, "overloaded")
    migrations = pa.table(
        {
            "run": pa.array([run.run] * run.migrations.seq.size, pa.string()),
            "seq": pa.array(run.migrations.seq, pa.int64()),
            "ts": timestamp_array(run.migrations.ts),
            "vm": pa.array(run.migrations.vm.tolist(), pa.string()),
            "host": pa.array(run.migrations.host.tolist(), pa.string()),
        }
    )
    try:
        con.execute("BEGIN")
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run = ?", [run.run])
        con.execute(
            "INSERT INTO consolidation_runs VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                run.run,
                run.framework,
                timestamp_param(run.window_start),
                timestamp_param(run.window_end),
                run.utc_offset_s,
                run.overload_detection,
            ],
        )
        for table, rows in (
            ("consolidation_hosts", hosts),
            ("consolidation_host_states", states),
            ("consolidation_overloads", overloads),
            ("consolidation_migrations", migrations),
        ):
            if rows.num_rows:
                con.register("_run_rows", rows)
                con.execute(f"INSERT INTO {table} SELECT * FROM _run_rows")
                con.unregister("_run_rows")
        con.execute("COMMIT")
    except (duckdb.Error, pa.ArrowException) as exc:
        with contextlib.suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise StoreError(f"run {run.run!r} not written to {path}, store unchanged: {exc}") from exc


def _flags_table(run: str, flags: HostFlags, column: str) -> pa.Table:
    return pa.table(
        {
            "run": pa.array([run] * flags.seq.size, pa.string()),
            "seq": pa.array(flags.seq, pa.int64()),
            "host": pa.array(flags.host.tolist(), pa.string()),
            "ts": timestamp_array(flags.ts),
            column: pa.array(flags.flag, pa.bool_()),
        }
    )


def read_consolidation_runs(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Return the names of the runs held, in name order."""
    return [row[0] for row in con.execute("SELECT run FROM consolidation_runs ORDER BY run").fetchall()]


def read_consolidation_run(con: duckdb.DuckDBPyConnection, run: str) -> ConsolidationRun | None:
    """Return the run of that name with every record, in ``seq`` order (``None`` when not held)."""
    found = con.execute(
        "SELECT framework, epoch_us(window_start), epoch_us(window_end), utc_offset_s, overload_detection "
        "FROM consolidation_runs WHERE run = ?",
        [run],
    ).fetchall()
    if not found:
        return None
    framework, start_us, end_us, offset_s, detection = found[0]
    hosts = tuple(
        ConsolidationHost(host, cpu_mhz, cores, ram_mb)
        for host, cpu_mhz, cores, ram_mb in con.execute(
            "SELECT host, cpu_mhz, cpu_cores, ram_mb FROM consolidation_hosts WHERE run = ? ORDER BY host",
            [run],
        ).fetchall()
    )
    return ConsolidationRun(
        run=run,
        framework=framework,
        window_start=time_of(start_us),
        window_end=time_of(end_us),
        utc_offset_s=int(offset_s),
        overload_detection=detection,
        hosts=hosts,
        host_states=_read_flags(con, "consolidation_host_states", "active", run),
        overloads=_read_flags(con, "consolidation_overloads", "overloaded", run),
        migrations=_read_migrations(con, run),
    )


def _read_flags(con: duckdb.DuckDBPyConnection, table: str, column: str, run: str) -> HostFlags:
    rows = con.execute(
        f"SELECT seq, host, epoch_us(ts), {column} FROM {table} WHERE run = ? ORDER BY seq", [run]
    ).fetchall()
    if not rows:
        return no_flags()
    seq, host, ts_us, flag = zip(*rows, strict=True)
    return HostFlags(
        np.array(seq, dtype=np.int64),
        np.array(host, dtype=object),
        _times(ts_us),
        np.array(flag, dtype=bool),
    )


def _read_migrations(con: duckdb.DuckDBPyConnection, run: str) -> Migrations:
    rows = con.execute(
        "SELECT seq, epoch_us(ts), vm, host FROM consolidation_migrations WHERE run = ? ORDER BY seq", [run]
    ).fetchall()
    if not rows:
        return no_migrations()
    seq, ts_us, vm, host = zip(*rows, strict=True)
    return Migrations(
        np.array(seq, dtype=np.int64), _times(ts_us), np.array(vm, dtype=object), np.array(host, dtype=object)
    )


def _times(us: tuple) -> np.ndarray:
    return np.array(us, dtype=np.int64).astype("datetime64[us]").astype("datetime64[ns]")
