"""``stackmeter collect``, ``sources`` and ``ingest prometheus``: live collection from exporters and servers.

:func:`register` adds them to the main ``stackmeter`` command (:mod:`stackmeter.cli`).
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import typer
from rich.live import Live
from rich.text import Text

from stackmeter import operations
from stackmeter.cli_support import (
    CsvOption,
    JsonOption,
    StoreOption,
    check_one_output,
    err,
    errors_to_exit,
    open_when_free,
    opened_store,
    out,
    print_ingest_summary,
)
from stackmeter.errors import ConfigError
from stackmeter.formatting import (
    collect_status_line,
    rows_csv,
    sources_table,
    target_rows,
    to_json,
)
from stackmeter.settings import load_settings
from stackmeter.sources.node_exporter import DEFAULT_INTERFACE_EXCLUDE, HostRules
from stackmeter.sources.prometheus import load_queries
from stackmeter.sources.scrape import Target, parse_targets
from stackmeter.units import parse_duration_seconds, parse_utc_time

SHARED_WAIT_S = 3.0  # how long a command waits for a store that a running collect writes to
BackWindowOption = typer.Option(
    None,
    "--back-window",
    help="Refuse samples older than their series' latest in the store less this; 'none' for no limit "
    "(to backfill older history). [default: 7d, or STACKMETER_BACK_WINDOW]",
)


def register(app: typer.Typer, ingest_app: typer.Typer) -> None:
    """Add ``collect`` and ``sources`` to ``app``, and ``ingest prometheus`` to ``ingest_app``."""
    app.command()(collect)
    app.command()(sources)
    ingest_app.command("prometheus")(ingest_prometheus)


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
    back_window: str = BackWindowOption,
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
    with errors_to_exit():
        targets = parse_targets(target or [], targets_file)
        targets += [Target(url, "libvirt") for url in libvirt or [] if url not in {t.url for t in targets}]
        every_s = parse_duration_seconds(every)
        for_s = parse_duration_seconds(for_) if for_ is not None else None
        timeout_s = parse_duration_seconds(timeout) if timeout is not None else None
        rules = HostRules(interface_exclude=_regex(exclude_interfaces, "--exclude-interfaces"))
        settings = load_settings(store=store, back_window=back_window)
        back_window_s = operations.parse_back_window(settings.back_window)
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set()) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    location = settings.store
    try:
        with (
            opened_store(location, wait_s=SHARED_WAIT_S, writes=True, create=True) as opened,
            errors_to_exit(),
            Live(console=err, transient=True, auto_refresh=False) as live,
        ):

            def show(summary) -> None:
                live.update(Text(collect_status_line(summary)), refresh=True)
                if not err.is_terminal:
                    err.print(collect_status_line(summary), markup=False, highlight=False)

            if location != ":memory:":
                # Hold the store only while writing a round, so `stackmeter sources` can read it.
                opened.close()
                opened = functools.partial(open_when_free, location, wait_s=SHARED_WAIT_S)
            summary = operations.collect(
                opened, targets, every_s, for_s, timeout_s, rules, stop, show, back_window_s=back_window_s
            )
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
    check_one_output(as_json, as_csv)
    with errors_to_exit():
        opened = open_when_free(load_settings(store=store).store, wait_s=SHARED_WAIT_S)
    try:
        with errors_to_exit():
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
    back_window: str = BackWindowOption,
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
    with errors_to_exit():
        start_ts = parse_utc_time(start, "--start")
        end_ts = parse_utc_time(end, "--end") if end is not None else np.datetime64(time.time_ns(), "ns")
        operations.check_time_range(start_ts, end_ts)
        headers = dict(_header(item) for item in header or [])
        token = os.environ.get("STACKMETER_PROMETHEUS_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        resource_queries = load_queries(queries) if queries else None
        step_s = parse_duration_seconds(step)
        window_s = parse_duration_seconds(rate_window) if rate_window is not None else None
        timeout_s = parse_duration_seconds(timeout)
        back_window_s = operations.parse_back_window(load_settings(back_window=back_window).back_window)
    with opened_store(store, wait_s=SHARED_WAIT_S, writes=True, create=True) as opened, errors_to_exit():
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
            back_window_s=back_window_s,
        )
    print_ingest_summary(summary, as_json, "the server returned no samples for these queries and times")


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
