"""``stackmeter ingest``: workload traces, a Prometheus-compatible server, a notification stream."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import typer

from stackmeter import operations
from stackmeter.cli._common import (
    LOCK_WAIT_S,
    SHARED_WAIT_S,
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    emit_ingest_summary,
    opened_store,
    progress_bar,
)
from stackmeter.cli.tables import notifications_table
from stackmeter.errors import ConfigError, SourceError
from stackmeter.export import dead_letter_rows
from stackmeter.settings import help_for, parse_back_window
from stackmeter.units import parse_bytes_per_second, parse_duration_seconds, parse_utc_time

PathsArgument = typer.Argument(..., help="Files or folders to read.", show_default=False)
TraceBackWindowOption = typer.Option(
    None,
    "--back-window",
    help="Refuse samples older than their series' latest in the store less this, e.g. 7d. "
    "[default: none, files may come in any time order]",
)
LiveBackWindowOption = typer.Option(
    None,
    "--back-window",
    help=help_for(
        "back_window",
        "Refuse samples older than their series' latest in the store less this; 'none' for no limit "
        "(to backfill older history).",
        environment=True,
    ),
)


def _ingest_trace(
    trace_format: str,
    paths: list[Path],
    store: str | None,
    as_json: bool,
    back_window: str | None,
    **options: Any,
) -> None:
    """Ingest trace files; a trace's back window is none unless given (files come in any order)."""
    output = chosen_output(as_json)
    back_window_s = parse_back_window(back_window or "none")
    operations.check_input_paths(paths)
    settings = command_settings(store=store)
    with opened_store(settings, writes=True, create=True) as opened, progress_bar() as progress:
        task = progress.add_task(f"ingest {trace_format}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = operations.ingest(
            opened, trace_format, paths, progress=advance, back_window_s=back_window_s, **options
        )
    emit_ingest_summary(summary, output, "nothing usable was found in the input")


def planetlab(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    back_window: str = TraceBackWindowOption,
    as_json: bool = JsonOption,
) -> None:
    """Read PlanetLab day folders (YYYYMMDD/<vm>, 288 CPU percents a file).

    Example:

        stackmeter ingest planetlab data/planetlab/20110303 --store cloud.duckdb
    """
    _ingest_trace("planetlab", paths, store, as_json, back_window)


def bitbrains(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    disk_capacity: str = typer.Option(
        None, help="Disk capacity of every VM, e.g. 100MiB/s. Without it disk is reported as 'no capacity'."
    ),
    network_capacity: str = typer.Option(
        None,
        help="Network capacity of every VM, e.g. 1Gbit/s. Without it network is reported as 'no capacity'.",
    ),
    back_window: str = TraceBackWindowOption,
    as_json: bool = JsonOption,
) -> None:
    """Read Bitbrains GWA-T-12 files (plain or .gz): cpu, memory, disk and network.

    Example:

        stackmeter ingest bitbrains data/bitbrains_rnd --disk-capacity 100MiB/s --network-capacity 1Gbit/s
    """
    disk = parse_bytes_per_second(disk_capacity) if disk_capacity is not None else None
    network = parse_bytes_per_second(network_capacity) if network_capacity is not None else None
    _ingest_trace(
        "bitbrains",
        paths,
        store,
        as_json,
        back_window,
        disk_capacity_bytes_s=disk,
        network_capacity_bytes_s=network,
    )


def azure(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    start: str = typer.Option(
        "1970-01-01T00:00:00", help="UTC time of t_index 0 (Azure V1 tables give only relative steps)."
    ),
    back_window: str = TraceBackWindowOption,
    as_json: bool = JsonOption,
) -> None:
    """Read Azure public dataset V1 CPU tables (one column per VM, 5-minute rows).

    Example:

        stackmeter ingest azure data/azure_v1_cpu/microsoft_max_100.csv --start 2017-01-01
    """
    azure_start = parse_utc_time(start, "--start")
    _ingest_trace("azure", paths, store, as_json, back_window, azure_start=azure_start)


def prometheus(
    url: str = typer.Option(
        ..., "--url", help="API root: http://prometheus:9090, http://mimir/prometheus, …"
    ),
    start: str = typer.Option(..., "--start", help="First time (UTC), e.g. 2026-03-01 or 2026-03-01T12:00."),
    end: str = typer.Option(None, "--end", help="Last time (UTC). [default: now]"),
    step: str = typer.Option("5m", "--step", help="Time between samples, e.g. 1m or 5m."),
    rate_window: str = typer.Option(None, "--rate-window", help="Window of rate(). [default: --step]"),
    queries: Path = typer.Option(None, "--queries", help="TOML file overriding PromQL per resource."),
    header: list[str] = typer.Option(
        None, "--header", help="'Name: value' sent with each request (repeatable)."
    ),
    timeout: str = typer.Option("60s", "--timeout", help="Per request."),
    back_window: str = LiveBackWindowOption,
    store: str = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Read host cpu, memory, disk and network utilization from a Prometheus-compatible server.

    Works with Prometheus, Thanos, Mimir and VictoriaMetrics (query_range only). Long ranges are
    fetched in chunks under the 11,000-points limit. A bearer token is read from the
    prometheus_token setting (STACKMETER_PROMETHEUS_TOKEN or stackmeter.toml), never from the
    command line.

    Example:

        stackmeter ingest prometheus --url http://prometheus:9090 --start 2026-03-01 --end 2026-03-08 --step 5m
    """
    output = chosen_output(as_json)
    start_ts = _given_time(start, "--start")
    end_ts = _given_time(end, "--end") if end is not None else np.datetime64(time.time_ns(), "ns")
    operations.check_time_range(start_ts, end_ts)
    headers = dict(_header(item) for item in header or [])
    resource_queries = operations.load_prometheus_queries(queries)
    step_s = parse_duration_seconds(step)
    window_s = parse_duration_seconds(rate_window) if rate_window is not None else None
    timeout_s = parse_duration_seconds(timeout)
    settings = command_settings(store=store, back_window=back_window)
    if settings.prometheus_token:
        headers["Authorization"] = f"Bearer {settings.prometheus_token}"
    with opened_store(settings, wait_s=SHARED_WAIT_S, writes=True, create=True) as opened:
        summary = operations.ingest_prometheus(
            opened,
            url,
            start_ts,
            end_ts,
            step_s,
            resource_queries,
            headers,
            timeout_s,
            window_s,
            back_window_s=settings.back_window,
        )
    emit_ingest_summary(summary, output, "the server returned no samples for these queries and times")


def _given_time(text: str, option: str) -> np.datetime64:
    """Return the UTC time of an option that was given (only a missing one reads as ``None``)."""
    moment = parse_utc_time(text, option)
    if moment is None:
        raise ConfigError(f"{option} needs a time", option)
    return moment


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text!r} should read 'Name: value'")
    return name.strip(), value.strip()


def notifications(
    path: Path = typer.Argument(
        ..., help="Captured stream: one message (JSON) per line.", show_default=False
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Read a captured notification stream (JSON lines, enveloped or bare) into the store.

    Bad lines are kept as dead letters with their file and line; valid ones land.

    Example:

        stackmeter ingest notifications captured.jsonl --store cloud.duckdb
    """
    output = chosen_output(as_json)
    operations.check_input_paths([path])
    with opened_store(command_settings(store=store), wait_s=LOCK_WAIT_S, create=True) as opened:
        summary = operations.ingest_notifications(opened, path)
    readable = summary._replace(dead_examples=dead_letter_rows(summary.dead_examples))
    emit(output, readable, lambda: [notifications_table(summary, f"Ingest {path}")])
    if summary.messages and summary.dead_letters == summary.messages:
        raise SourceError("no line of the file is a notification")
