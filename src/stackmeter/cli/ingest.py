"""``stackmeter ingest``: workload traces, a consolidated cloud's run, a Prometheus-compatible server, a notification stream."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import typer
from rich.text import Text

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
    ingest_summary_lines,
    opened_store,
    progress_bar,
)
from stackmeter.cli.tables import notifications_table
from stackmeter.errors import ConfigError, SourceError
from stackmeter.export import dead_letter_rows, format_time
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


_UTC_OFFSET = re.compile(r"^([+-])(\d{1,2}):?(\d{2})$")


def neat(
    folder: Path = typer.Argument(
        ...,
        metavar="RUN_FOLDER",
        help="An OpenStack Neat run folder (db/*.csv, vm_cpu_samples.csv.gz).",
        show_default=False,
    ),
    store: str = StoreOption,
    vm_vcpus: int = typer.Option(
        1,
        "--vm-vcpus",
        min=1,
        max=1024,
        help="vCPUs of every VM: its CPU capacity is that many cores of its host.",
    ),
    window: str = typer.Option("24h", "--window", help="Length of the run's metric window."),
    start: str = typer.Option(
        None,
        "--start",
        metavar="TIME",
        help="UTC start of the window. [default: the run's start, from its host states]",
    ),
    utc_offset: str = typer.Option(
        None,
        "--utc-offset",
        metavar="+HH:MM",
        help="How far the testbed's clock was ahead of UTC. [default: read off the VM samples]",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Read an OpenStack Neat run: the VMs' CPU (from libvirt CPU-time counters) as samples, and the
    run's host states, overload flags and live migrations, for `stackmeter replay --measured`.

    Example:

        stackmeter ingest neat data/openstack_neat_testbed/runs/thr-0.8-1 --store neat.duckdb
    """
    output = chosen_output(as_json)
    window_s = parse_duration_seconds(window)
    if window_s <= 0:
        raise ConfigError(f"--window {window!r} must be longer than 0", "--window")
    first = parse_utc_time(start, "--start")
    offset_s = _utc_offset_s(utc_offset) if utc_offset is not None else None
    operations.check_input_paths([folder])
    with opened_store(command_settings(store=store), writes=True, create=True) as opened:
        summary = operations.ingest_neat(
            opened, folder, vm_vcpus=vm_vcpus, window_s=window_s, start=first, utc_offset_s=offset_s
        )
    emit(output, summary, lambda: [*ingest_summary_lines(summary.samples), Text(_run_line(summary))])


def _utc_offset_s(text: str) -> int:
    match = _UTC_OFFSET.match(text.strip())
    hours, minutes = (int(match.group(2)), int(match.group(3))) if match else (99, 0)
    if hours > 14 or minutes > 59:
        raise ConfigError(f"--utc-offset {text!r} should read +HH:MM, within 14 hours of UTC", "--utc-offset")
    sign = -1 if match and match.group(1) == "-" else 1
    return sign * (hours * 3600 + minutes * 60)


def _run_line(summary: operations.NeatIngestSummary) -> str:
    """Say in one line what the run's records hold."""
    offset = abs(summary.utc_offset_s)
    clock = f"UTC{'-' if summary.utc_offset_s < 0 else '+'}{offset // 3600:02d}:{offset % 3600 // 60:02d}"
    return (
        f"Run {summary.run}: window {format_time(summary.window_start)} .. {format_time(summary.window_end)} "
        f"(testbed clock {clock}), {summary.hosts} hosts, {summary.host_states:,} host states, "
        f"{summary.overload_flags:,} overload flags, {summary.migrations:,} migrations"
        + (f"; overload detection {summary.overload_detection}" if summary.overload_detection else "")
    )


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
