"""``stackmeter collect``, ``sources`` and ``ingest prometheus``: live collection from exporters and servers.

:func:`register` adds them to the main ``stackmeter`` command (:mod:`stackmeter.cli`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from stackmeter import operations
from stackmeter.errors import ConfigError, StackmeterError, StoreError
from stackmeter.formatting import (
    collect_status_line,
    ingest_summary_table,
    rejection_lines,
    rows_csv,
    sources_table,
    target_rows,
    to_json,
)
from stackmeter.settings import load_settings
from stackmeter.sources.node_exporter import DEFAULT_INTERFACE_EXCLUDE, HostRules
from stackmeter.sources.prometheus import load_queries
from stackmeter.sources.scrape import Target, parse_targets
from stackmeter.store import Store, open_store
from stackmeter.units import parse_duration_seconds

STORE_HELP = "Store file (DuckDB), or :memory:. [default: stackmeter.duckdb, or STACKMETER_STORE]"
StoreOption = typer.Option(None, "--store", help=STORE_HELP)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
CsvOption = typer.Option(False, "--csv", help="Print CSV instead of a table.")

# Pipes and files get wide tables; terminals get their own width.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)


def register(app: typer.Typer, ingest_app: typer.Typer) -> None:
    """Add ``collect`` and ``sources`` to ``app``, and ``ingest prometheus`` to ``ingest_app``."""
    app.command()(collect)
    app.command()(sources)
    ingest_app.command("prometheus")(ingest_prometheus)


@contextlib.contextmanager
def _errors() -> Iterator[None]:
    """Turn library errors into messages and exit codes: 2 for usage, 1 for the rest."""
    try:
        yield
    except ConfigError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except StackmeterError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc


@contextlib.contextmanager
def _store(location: str | None) -> Iterator[Store]:
    with _errors():
        store = _open_shared(load_settings(store=location).store)
    try:
        yield store
    finally:
        store.close()


def _parse_time(text: str, option: str) -> np.datetime64:
    try:
        return np.datetime64(text.removesuffix("Z"), "ns")
    except ValueError as exc:
        raise ConfigError(f"{option}: {text!r} is not a time such as 2026-03-01 or 2026-03-01T12:00") from exc


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
        DEFAULT_INTERFACE_EXCLUDE,
        "--exclude-interfaces",
        help="Regex of interfaces that are not physical links.",
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
):
    """Scrape exporters every --every into the store until --for elapses or Ctrl-C / SIGTERM.

    Targets are scraped at the same time, each within its timeout. A target that is down becomes a
    gap and a status and is retried with backoff; the others go on. On Ctrl-C or SIGTERM the round
    under way is finished and written, then the command stops.

    Example:

        stackmeter collect --target http://compute-1:9100/metrics --libvirt http://compute-1:9177/metrics --every 15s --for 10m
    """
    with _errors():
        targets = parse_targets(target or [], targets_file)
        targets += [Target(url, "libvirt") for url in libvirt or [] if url not in {t.url for t in targets}]
        every_s = parse_duration_seconds(every)
        for_s = parse_duration_seconds(for_) if for_ else None
        timeout_s = parse_duration_seconds(timeout) if timeout else None
        rules = HostRules(interface_exclude=_regex(exclude_interfaces, "--exclude-interfaces"))
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    location = load_settings(store=store).store
    try:
        with (
            _store(location) as opened,
            _errors(),
            Live(console=err, transient=True, auto_refresh=False) as live,
        ):

            def show(summary) -> None:
                live.update(Text(collect_status_line(summary)), refresh=True)
                if not err.is_terminal:
                    err.print(collect_status_line(summary), markup=False, highlight=False)

            if location != ":memory:":
                # Hold the store only while writing a round, so `stackmeter sources` can read it.
                opened.close()
                opened = functools.partial(_open_shared, location)
            summary = operations.collect(opened, targets, every_s, for_s, timeout_s, rules, stop, show)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    rows = target_rows(summary.statuses, time.time_ns())
    if as_json:
        out.print_json(to_json({**summary._asdict(), "statuses": rows}))
    else:
        out.print(sources_table(rows))
        ending = "stopped" if summary.stopped else "done"
        out.print(
            f"{ending} after {summary.rounds} rounds: {collect_status_line(summary).split(' · ', 1)[1]}"
        )


def sources(store: str = StoreOption, as_json: bool = JsonOption, as_csv: bool = CsvOption):
    """Show each scraped target: state, last success, lag, failures and last error.

    Example:

        stackmeter sources --store cloud.duckdb
    """
    with _errors():
        opened = _open_shared(load_settings(store=store).store)
    try:
        with _errors():
            statuses = operations.list_sources(opened)
    finally:
        opened.close()
    rows = target_rows(statuses, time.time_ns())
    if as_json:
        out.print_json(to_json(rows))
    elif as_csv:
        sys.stdout.write(rows_csv(rows))
    else:
        out.print(sources_table(rows))


def ingest_prometheus(
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
    store: str = StoreOption,
    as_json: bool = JsonOption,
):
    """Read host cpu, memory, disk and network utilization from a Prometheus-compatible server.

    Works with Prometheus, Thanos, Mimir and VictoriaMetrics (query_range only). Long ranges are
    fetched in chunks under the 11,000-points limit. A bearer token is read from the environment
    variable STACKMETER_PROMETHEUS_TOKEN, never from the command line.

    Example:

        stackmeter ingest prometheus --url http://prometheus:9090 --start 2026-03-01 --end 2026-03-08 --step 5m
    """
    with _errors():
        start_ts = _parse_time(start, "--start")
        end_ts = _parse_time(end, "--end") if end else np.datetime64(time.time_ns(), "ns")
        headers = dict(_header(item) for item in header or [])
        token = os.environ.get("STACKMETER_PROMETHEUS_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        resource_queries = load_queries(queries) if queries else None
        step_s = parse_duration_seconds(step)
        window_s = parse_duration_seconds(rate_window) if rate_window else None
        timeout_s = parse_duration_seconds(timeout)
    with _store(store) as opened, _errors():
        summary = operations.ingest_prometheus(
            opened, url, start_ts, end_ts, step_s, resource_queries, headers, timeout_s, window_s
        )
    if as_json:
        out.print_json(to_json(summary))
    else:
        out.print(ingest_summary_table(summary))
        for line in rejection_lines(summary):
            out.print(line, markup=False, highlight=False, overflow="fold")
    if not summary.usable:
        err.print("Error: the server returned no samples for these queries and times", highlight=False)
        raise typer.Exit(1)


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise ConfigError(f"--header {text!r} should read 'Name: value'")
    return name.strip(), value.strip()


def _regex(text: str, option: str) -> str:
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{option}: {text!r} is not a regular expression: {exc}") from exc
    return text


def _open_shared(location: str, attempts: int = 30) -> Store:
    """Open a store that another stackmeter (a running collect) may hold for a moment."""
    for attempt in range(attempts):
        try:
            return open_store(location)
        except StoreError as exc:
            if "lock" not in str(exc).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.1)
    raise AssertionError("unreachable")
