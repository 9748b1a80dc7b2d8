"""``stackmeter collect`` and ``sources``: live collection from exporters, and how each target goes."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import numpy as np
import typer
from rich.live import Live
from rich.text import Text

from stackmeter import operations
from stackmeter.cli._common import (
    SHARED_WAIT_S,
    CsvOption,
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    opened_store,
    stderr_console,
    store_per_batch,
)
from stackmeter.cli.ingest import LiveBackWindowOption
from stackmeter.cli.tables import collect_status_line, sources_table
from stackmeter.errors import ConfigError
from stackmeter.export import rows_csv, target_rows
from stackmeter.units import parse_duration_seconds


def collect(
    target: list[str] = typer.Option(None, "--target", help="node_exporter URL to scrape (repeatable)."),
    libvirt: list[str] = typer.Option(None, "--libvirt", help="libvirt exporter URL to scrape (repeatable)."),
    targets_file: Path = typer.Option(
        None, "--targets-file", help="File of targets, one 'URL [node_exporter|libvirt]' per line."
    ),
    every: str = typer.Option("15s", "--every", help="Time between scrapes, e.g. 15s or 1m."),
    for_: str = typer.Option(None, "--for", help="Stop after this long, e.g. 10m. [default: until Ctrl-C]"),
    timeout: str = typer.Option(None, "--timeout", help="Per scrape. [default: --every, at most 10s]"),
    exclude_interfaces: str = typer.Option(
        operations.DEFAULT_INTERFACE_EXCLUDE,
        "--exclude-interfaces",
        help="Regex of interfaces that are not physical links.",
    ),
    back_window: str = LiveBackWindowOption,
    store: str = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Scrape exporters every --every into the store until --for elapses or Ctrl-C / SIGTERM.

    Targets are scraped at the same time, each within its timeout. A target that is down becomes a
    gap and a status and is retried with backoff; the others go on. On Ctrl-C or SIGTERM the round
    under way is finished and written, then the command stops.

    Example:

        stackmeter collect --target http://compute-1:9100/metrics --libvirt http://compute-1:9177/metrics --every 15s --for 10m
    """
    output = chosen_output(as_json)
    if not target and not libvirt and targets_file is None:
        raise ConfigError("no targets: give --target URL or --targets-file FILE", "--target")
    targets = operations.load_targets(target or [], libvirt or [], targets_file)
    every_s = parse_duration_seconds(every)
    for_s = parse_duration_seconds(for_) if for_ is not None else None
    timeout_s = parse_duration_seconds(timeout) if timeout is not None else None
    rules = operations.host_rules(exclude_interfaces, "--exclude-interfaces")
    settings = command_settings(store=store, back_window=back_window)
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    err = stderr_console()
    try:
        with (
            store_per_batch(settings, SHARED_WAIT_S, SHARED_WAIT_S, writes=True) as store_or_opener,
            Live(console=err, transient=True, auto_refresh=False) as live,
        ):

            def show(summary: operations.CollectSummary) -> None:
                live.update(Text(collect_status_line(summary)), refresh=True)
                if not err.is_terminal:
                    err.print(collect_status_line(summary), markup=False, highlight=False)

            summary = operations.collect(
                store_or_opener,
                targets,
                every_s,
                for_s,
                timeout_s,
                rules,
                stop,
                show,
                back_window_s=settings.back_window,
            )
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    rows = target_rows(summary.statuses, np.datetime64(time.time_ns(), "ns"))
    ending = "stopped" if summary.stopped else "done"
    emit(
        output,
        {**summary._asdict(), "statuses": rows},
        lambda: [
            sources_table(rows),
            f"{ending} after {summary.rounds} rounds: {collect_status_line(summary).split(' · ', 1)[1]}",
        ],
    )


def sources(store: str = StoreOption, as_json: bool = JsonOption, as_csv: bool = CsvOption) -> None:
    """Show each scraped target: state, last success, lag, failures and last error.

    Example:

        stackmeter sources --store cloud.duckdb
    """
    output = chosen_output(as_json, as_csv)
    with opened_store(command_settings(store=store), wait_s=SHARED_WAIT_S) as opened:
        statuses = operations.list_sources(opened)
    rows = target_rows(statuses, np.datetime64(time.time_ns(), "ns"))
    emit(output, rows, lambda: [sources_table(rows)], lambda: rows_csv(rows))
