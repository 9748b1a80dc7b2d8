"""``stackmeter listen``, ``ingest notifications``, ``operations`` and ``deadletters``.

:func:`register` adds them to the main ``stackmeter`` command (:mod:`stackmeter.cli`).
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from stackmeter import operations
from stackmeter.analysis.operation_stats import GROUPINGS
from stackmeter.analysis.pairing import DEFAULT_TIMEOUT_S
from stackmeter.cli_support import (
    LOCK_WAIT_S,
    CsvOption,
    JsonOption,
    StoreOption,
    check_one_output,
    err,
    errors_to_exit,
    open_when_free,
    opened_store,
    out,
)
from stackmeter.formatting import frame_records, operation_timings_jsonable, rows_csv, to_json
from stackmeter.models import NotificationsSummary, OperationTimings
from stackmeter.settings import load_settings
from stackmeter.sources.amqp import (
    DEFAULT_EXCHANGE,
    DEFAULT_PRIORITIES,
    DEFAULT_TOPICS,
    PREFETCH_BATCHES,
    BusConsumer,
)

AMQP_HELP = "AMQP URL of the bus, e.g. amqp://user:password@rabbit:5672/ (or STACKMETER_AMQP_URL)."


def register(app: typer.Typer, ingest_app: typer.Typer) -> None:
    """Add the notification commands to ``app`` and ``ingest notifications`` to ``ingest_app``."""
    app.command("listen")(listen)
    app.command("operations")(operation_timings)
    app.command("deadletters")(deadletters)
    ingest_app.command("notifications")(ingest_notifications)


def listen(
    amqp: str = typer.Option(..., "--amqp", envvar="STACKMETER_AMQP_URL", help=AMQP_HELP, show_default=False),
    exchange: str = typer.Option(DEFAULT_EXCHANGE, help="Exchange the services publish notifications to."),
    topic: list[str] = typer.Option(list(DEFAULT_TOPICS), help="Notification topic; repeat for several."),
    priority: list[str] = typer.Option(
        list(DEFAULT_PRIORITIES), help="Priority to consume; repeat for several."
    ),
    durable: bool = typer.Option(False, help="Declare exchange and queues durable (as amqp_durable_queues)."),
    batch: int = typer.Option(1000, help="Most messages per transaction and acknowledgement."),
    max_wait: float = typer.Option(1.0, help="Seconds to wait before writing a batch that is not full."),
    idle_exit: float = typer.Option(
        None,
        help="Stop after this many seconds without a message, or of an unreachable broker. [default: never]",
    ),
    hold_store: bool = typer.Option(
        False,
        help="Keep the store file open (fastest under heavy traffic) instead of opening it for each "
        "batch, which lets other stackmeter commands read it between batches.",
    ),
    store: str = StoreOption,
):
    """Consume nova notifications from RabbitMQ into the store until stopped (Ctrl-C or SIGTERM).

    Each batch is stored in one transaction and acknowledged only after that, so nothing is lost
    if stackmeter or the store host crashes; malformed messages are kept as dead letters. The
    listener reconnects with backoff when RabbitMQ restarts. Queues <topic>.<priority> are bound
    to the exchange, as OpenStack's notifier names them.

    Example:

        stackmeter listen --amqp amqp://stackmeter:secret@rabbit:5672/ --store cloud.duckdb
    """
    stopping: list[int] = []

    def stop_on(signum, frame) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)

    def report(summary: NotificationsSummary) -> None:
        err.print(
            f"committed {summary.messages} messages: {summary.events_added} events added, "
            f"{summary.duplicates} already stored, {summary.dead_letters} dead letters",
            markup=False,
            highlight=False,
        )

    with errors_to_exit():
        location = load_settings(store=store).store
    with opened_store(store, wait_s=LOCK_WAIT_S, create=True) as opened, errors_to_exit():
        # The first open creates or migrates the store; then, unless told to hold it (or it lives
        # in memory), the file is opened again for each batch only.
        shared = not hold_store and location != ":memory:"
        if shared:
            opened.close()
        target = (lambda: open_when_free(location, lambda: bool(stopping), None)) if shared else opened
        consumer = BusConsumer(
            amqp, exchange, topic, priority, durable=durable, prefetch=max(batch, 1) * PREFETCH_BATCHES,
            on_status=lambda line: err.print(line, markup=False, highlight=False), stop=lambda: bool(stopping),
            give_up_after_s=idle_exit,
        )  # fmt: skip
        err.print(
            f"listening on {', '.join(q.name for q in consumer.queues)} of exchange {exchange}", markup=False
        )
        summary = operations.listen(
            target,
            consumer,
            batch,
            max_wait,
            stop=lambda: bool(stopping),
            idle_exit_s=idle_exit,
            progress=report,
        )
    out.print(notifications_table(summary, "Listen"))


def ingest_notifications(
    path: Path = typer.Argument(
        ..., help="Captured stream: one message (JSON) per line.", show_default=False
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
):
    """Read a captured notification stream (JSON lines, enveloped or bare) into the store.

    Bad lines are kept as dead letters with their file and line; valid ones land.

    Example:

        stackmeter ingest notifications captured.jsonl --store cloud.duckdb
    """
    with errors_to_exit():
        operations.check_input_paths([path])
    with opened_store(store, wait_s=LOCK_WAIT_S, create=True) as opened, errors_to_exit():
        summary = operations.ingest_notifications(opened, path)
    if as_json:
        out.print_json(to_json(summary._replace(dead_examples=_readable(summary.dead_examples))))
    else:
        out.print(notifications_table(summary, f"Ingest {path}"))
    if summary.messages and summary.dead_letters == summary.messages:
        err.print("Error: no line of the file is a notification", highlight=False)
        raise typer.Exit(1)


def operation_timings(
    timescale: str = typer.Option("1h", help="Window length: 5m, 1h, 1d, 1w or 1mo."),
    operation: str = typer.Option(None, help="Only this operation, e.g. create, resize_prep. [default: all]"),
    by: str = typer.Option(None, help=f"Also group by one of {', '.join(GROUPINGS)}."),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT_S, help="Seconds after which an operation with no end has timed out."
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
):
    """How long cloud operations take and how often they fail, per window, beside the fleet's CPU load.

    Durations (p50, p95, p99, max, in seconds) are of successful operations, from their .start to
    their .end; sched is the mean time from the scheduler's start to the compute start (creates).

    Example:

        stackmeter operations --timescale 1d --operation create --by host
    """
    check_one_output(as_json, as_csv)
    with opened_store(store, wait_s=LOCK_WAIT_S) as opened, errors_to_exit():
        timings = operations.operation_timings(opened, timescale, operation, by, timeout)
    if as_json:
        out.print_json(to_json(operation_timings_jsonable(timings)))
    elif as_csv:
        sys.stdout.write(rows_csv(frame_records(timings.stats)))
    else:
        out.print(timings_table(timings))
        if len(timings.failures):
            out.print(failures_table(timings))


def deadletters(
    limit: int = typer.Option(20, help="How many to list, latest first."),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
):
    """List the messages that could not be read as notifications, with where they came from and why.

    Example:

        stackmeter deadletters --limit 5
    """
    check_one_output(as_json, as_csv)
    with opened_store(store, wait_s=LOCK_WAIT_S) as opened, errors_to_exit():
        count, letters = operations.dead_letters(opened, limit)
    rows = _readable(letters)
    if as_json:
        out.print_json(to_json({"dead_letters": count, "latest": rows}))
    elif as_csv:
        sys.stdout.write(rows_csv(rows))
    else:
        table = Table(title=f"{count} dead letters (latest {len(rows)})", title_justify="left")
        for column in ("received", "origin", "reason", "detail", "body"):
            table.add_column(column, overflow="fold")
        for row in rows:
            body = row.body if len(row.body) <= 80 else row.body[:79] + "…"
            table.add_row(row.received[:19], row.origin, row.reason, row.detail, body)
        out.print(table)


def notifications_table(summary: NotificationsSummary, title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in (
        ("messages", summary.messages),
        ("events added", summary.events_added),
        ("already stored", summary.duplicates),
        ("dead letters", summary.dead_letters),
        ("batches", summary.batches),
    ):
        table.add_row(what, f"{value:,}")
    for reason, count in summary.dead_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    for letter in summary.dead_examples[:5]:
        table.add_row("  e.g.", f"{letter.origin}: {letter.reason} ({letter.detail})")
    return table


def timings_table(timings: OperationTimings) -> Table:
    as_of = timings.as_of.isoformat() if timings.as_of is not None else "-"
    title = f"{timings.operations:,} operations, {timings.timescale} windows (timeout {timings.timeout_s:g} s, as of {as_of})"
    table = Table(title=title, title_justify="left")
    columns = ["window", "operation"] + ([timings.by] if timings.by else [])
    columns += [
        "count",
        "ok",
        "error",
        "timed out",
        "running",
        "no start",
        "p50",
        "p95",
        "p99",
        "max",
        "sched",
        "fleet cpu",
    ]
    for column in columns:
        table.add_column(column, justify="left" if column in ("window", "operation", timings.by) else "right")
    for row in timings.stats.itertuples(index=False):
        cells = [row.window.strftime("%Y-%m-%d %H:%M"), row.operation] + (
            [getattr(row, timings.by)] if timings.by else []
        )
        cells += [
            str(int(v))
            for v in (row.count, row.success, row.error, row.timed_out, row.running, row.without_start)
        ]
        cells += [_seconds(v) for v in (row.p50_s, row.p95_s, row.p99_s, row.max_s, row.mean_scheduling_s)]
        cells.append("-" if pd.isna(row.fleet_cpu_utilization) else f"{row.fleet_cpu_utilization:.0%}")
        table.add_row(*cells)
    return table


def failures_table(timings: OperationTimings) -> Table:
    table = Table(title="Most frequent failures", title_justify="left")
    for column in ("operation", "fault", "count"):
        table.add_column(column, justify="right" if column == "count" else "left", overflow="fold")
    for row in timings.failures.itertuples(index=False):
        table.add_row(row.operation, row.fault, str(row.count))
    return table


def _readable(letters) -> list:
    """Dead letters with their time as ISO 8601 text."""
    return [letter._replace(received=letter.received.isoformat()) for letter in letters]


def _seconds(value: float) -> str:
    if pd.isna(value):
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"
