"""``stackmeter listen``, ``operations`` and ``deadletters``: the notification bus and what it tells."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import typer
from rich.table import Table

from stackmeter import operations
from stackmeter.cli._common import (
    LOCK_WAIT_S,
    CsvOption,
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    opened_store,
    stderr_console,
    stdout_console,
    store_per_batch,
)
from stackmeter.cli.tables import (
    dead_letters_table,
    durations_table,
    failures_table,
    histogram_table,
    notifications_table,
    timings_table,
)
from stackmeter.export import (
    DURATION_COLUMNS,
    dead_letter_rows,
    duration_rows,
    frame_records,
    operation_timings_jsonable,
    rows_csv,
)
from stackmeter.models import TIMESCALE_CHOICES, NotificationsSummary
from stackmeter.operations.notifications import parse_duration_edges

AMQP_HELP = "AMQP URL of the bus, e.g. amqp://user:password@rabbit:5672/ (or STACKMETER_AMQP_URL)."


def listen(
    amqp: str = typer.Option(..., "--amqp", envvar="STACKMETER_AMQP_URL", help=AMQP_HELP, show_default=False),
    exchange: str = typer.Option(
        operations.DEFAULT_EXCHANGE, help="Exchange the services publish notifications to."
    ),
    topic: list[str] = typer.Option(
        list(operations.DEFAULT_TOPICS), help="Notification topic; repeat for several."
    ),
    priority: list[str] = typer.Option(
        list(operations.DEFAULT_PRIORITIES), help="Priority to consume; repeat for several."
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
) -> None:
    """Consume nova notifications from RabbitMQ into the store until stopped (Ctrl-C or SIGTERM).

    Each batch is stored in one transaction and acknowledged only after that, so nothing is lost
    if stackmeter or the store host crashes; malformed messages are kept as dead letters. The
    listener reconnects with backoff when RabbitMQ restarts. Queues <topic>.<priority> are bound
    to the exchange, as OpenStack's notifier names them.

    Example:

        stackmeter listen --amqp amqp://stackmeter:secret@rabbit:5672/ --store cloud.duckdb
    """
    stopping: list[int] = []

    def stop_on(signum: int, frame: object) -> None:
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop_on)
    signal.signal(signal.SIGINT, stop_on)
    err = stderr_console()

    def report(summary: NotificationsSummary) -> None:
        err.print(
            f"committed {summary.messages} messages: {summary.events_added} events added, "
            f"{summary.duplicates} already stored, {summary.dead_letters} dead letters",
            markup=False,
            highlight=False,
        )

    settings = command_settings(store=store)
    with store_per_batch(settings, LOCK_WAIT_S, None, hold=hold_store, stop=lambda: bool(stopping)) as target:
        consumer = operations.connect_bus(
            amqp,
            exchange,
            topic,
            priority,
            durable=durable,
            batch_messages=batch,
            on_status=lambda line: err.print(line, markup=False, highlight=False),
            stop=lambda: bool(stopping),
            give_up_after_s=idle_exit,
        )
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
    stdout_console().print(notifications_table(summary, "Listen"))


def operation_timings(
    timescale: str = typer.Option("1h", help=f"Window length: {TIMESCALE_CHOICES}."),
    operation: str = typer.Option(None, help="Only this operation, e.g. create, resize_prep. [default: all]"),
    by: str = typer.Option(None, help=f"Also group by one of {', '.join(operations.GROUPINGS)}."),
    timeout: float = typer.Option(
        operations.OPERATION_TIMEOUT_S, help="Seconds after which an operation with no end has timed out."
    ),
    histogram: bool = typer.Option(
        False,
        "--histogram",
        help="Print the duration histogram (a row per operation and bin) instead of the per-window rows, "
        "as a table or with --csv; --json always holds it, under durations.",
    ),
    bins: str = typer.Option(
        None,
        help="Upper edges of the duration bins, comma-separated, in seconds or with a unit, e.g. "
        "1,10s,1m,5m,1h. [default: 100ms,200ms,500ms,1s,2s,5s … 5h,10h,1d]",
        show_default=False,
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """How long cloud operations take and how often they fail, per window, beside the fleet's CPU load,
    and how each operation's durations spread over log-spaced bins.

    Durations (p50, p95, p99, max) are of successful operations, from their .start to their .end;
    sched is the mean time from the scheduler's start to the compute start (creates). The
    histogram counts successful operations and failed attempts (.start to .error) apart.

    Example:

        stackmeter operations --timescale 1d --operation create --by host
        stackmeter operations --histogram --bins 10s,30s,1m,2m,5m --csv
    """
    output = chosen_output(as_json, as_csv)
    edges_s = parse_duration_edges(bins)
    with opened_store(command_settings(store=store), wait_s=LOCK_WAIT_S) as opened:
        timings = operations.operation_timings(
            opened, timescale, operation, by, timeout, duration_edges_s=edges_s
        )

    def tables() -> Iterator[Table]:
        if histogram:
            yield histogram_table(timings)
            return
        yield timings_table(timings)
        if len(timings.failures):
            yield failures_table(timings)
        if timings.durations.operations:
            yield durations_table(timings)

    def csv() -> str:
        if histogram:
            return rows_csv(duration_rows(timings), DURATION_COLUMNS)
        return rows_csv(frame_records(timings.stats))

    emit(output, operation_timings_jsonable(timings), tables, csv)


def deadletters(
    limit: int = typer.Option(20, help="How many to list, latest first."),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """List the messages that could not be read as notifications, with where they came from and why.

    Example:

        stackmeter deadletters --limit 5
    """
    output = chosen_output(as_json, as_csv)
    with opened_store(command_settings(store=store), wait_s=LOCK_WAIT_S) as opened:
        count, letters = operations.dead_letters(opened, limit)
    rows = dead_letter_rows(letters)
    emit(
        output,
        {"dead_letters": count, "latest": rows},
        lambda: [dead_letters_table(count, rows)],
        lambda: rows_csv(rows),
    )
