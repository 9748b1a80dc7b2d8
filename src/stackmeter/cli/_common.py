"""What every command shares: consoles, options, settings, error translation, the store, the output."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import typer
import typer.core
from rich.console import Console, RenderableType
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.text import Text

from stackmeter.cli.tables import ingest_summary_table, rejection_lines
from stackmeter.errors import ConfigError, SourceError, StackmeterError, StoreError
from stackmeter.export import jsonable, to_json
from stackmeter.operations import IngestSummary
from stackmeter.settings import Settings, help_for, load_settings
from stackmeter.store import Store, open_store

CONFIG_FILE = Path("stackmeter.toml")  # read from the current folder when it is there
LOCK_WAIT_S = 30.0  # how long a command waits for a store file another stackmeter is writing
SHARED_WAIT_S = 3.0  # how long a command waits for a store that a running collect writes to

StoreOption = typer.Option(
    None, "--store", help=help_for("store", "Store file (DuckDB), or :memory:.", environment=True)
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
CsvOption = typer.Option(False, "--csv", help="Print CSV instead of a table.")
FromRawOption = typer.Option(False, "--from-raw", help="Read raw samples, not the rollups.")


def stdout_console() -> Console:
    """Return the console of results: pipes and files get wide tables, terminals their own width."""
    return Console(width=None if sys.stdout.isatty() else 160)


def stderr_console() -> Console:
    """Return the console of progress, status lines and errors."""
    return Console(stderr=True)


class ErrorsToExitCodes(typer.core.TyperGroup):
    """The root command group: a library error becomes ``Error: <message>`` on stderr and an exit
    code, 2 for an invalid option or setting (:class:`ConfigError`), 1 for the others."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            stderr_console().print(f"Error: {exc}", markup=False, highlight=False)
            raise typer.Exit(2) from exc
        except StackmeterError as exc:
            stderr_console().print(f"Error: {exc}", markup=False, highlight=False)
            raise typer.Exit(1) from exc


def command_settings(**flags: object) -> Settings:
    """Return the settings of this command: defaults < ``stackmeter.toml`` in the current folder <
    ``STACKMETER_*`` variables < the command's ``flags`` (``None``: not given). Called once a command."""
    return load_settings(CONFIG_FILE if CONFIG_FILE.exists() else None, os.environ, **flags)


# -- the store


def open_when_free(
    location: str,
    stop: Callable[[], bool] = lambda: False,
    wait_s: float | None = LOCK_WAIT_S,
    rollup_levels: tuple[str, ...] | None = None,
    create: bool = False,
) -> Store:
    """Open the store, waiting while another stackmeter process (a listener or a collector writing
    a batch) holds the file; ``wait_s=None`` waits until it is free or ``stop()`` is true.

    :param rollup_levels: the levels the store must keep (see :func:`open_store`); ``None`` keeps its own
    :param create: create the store when there is none (commands that write); else raise ``StoreNotFound``
    """
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while True:
        try:
            return open_store(location, rollup_levels, create=create)
        except StoreError as exc:
            late = deadline is not None and time.monotonic() > deadline
            if "lock" not in str(exc).lower() or late or stop():
                raise
            time.sleep(0.05)


@contextlib.contextmanager
def opened_store(
    settings: Settings, wait_s: float | None = 0.0, writes: bool = False, create: bool = False
) -> Iterator[Store]:
    """Open the store of the settings, waiting up to ``wait_s`` for a lock, and close it after.

    A command that ``writes`` samples (or compacts) applies the ``rollup_levels`` setting: levels
    new to the store are built from its raw samples, levels left out are dropped. Only a command
    that may ``create`` the store does so; the others exit 1 when there is no store there.
    """
    levels = settings.rollup_levels if writes else None
    store = open_when_free(settings.store, wait_s=wait_s, rollup_levels=levels, create=create)
    try:
        yield store
    finally:
        store.close()


@contextlib.contextmanager
def store_per_batch(
    settings: Settings,
    wait_s: float | None,
    reopen_wait_s: float | None,
    writes: bool = False,
    hold: bool = False,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[Store | Callable[[], Store]]:
    """Create or migrate the store of a long-running command (``listen``, ``collect``), then yield
    what it writes through: the store itself when it must ``hold`` it (or the store is in memory),
    else an opener that opens the file for each batch only, so that other commands read it between
    batches (waiting up to ``reopen_wait_s`` for the lock, or until ``stop()``)."""
    levels = settings.rollup_levels if writes else None
    store = open_when_free(settings.store, stop, wait_s, rollup_levels=levels, create=True)
    if hold or settings.store == ":memory:":
        try:
            yield store
        finally:
            store.close()
        return
    store.close()
    yield functools.partial(open_when_free, settings.store, stop, reopen_wait_s)


# -- output


class Output(NamedTuple):
    """How a command prints its result: tables for people (the default), or JSON or CSV."""

    as_json: bool = False
    as_csv: bool = False


def chosen_output(as_json: bool, as_csv: bool = False) -> Output:
    """Return the output that ``--json`` and ``--csv`` choose; both at once is a usage error, raised
    before the command does anything."""
    if as_json and as_csv:
        raise ConfigError("give --json or --csv, not both")
    return Output(as_json, as_csv)


def emit(
    output: Output,
    result: object,
    table: Callable[[], Iterable[RenderableType]] = lambda: (),
    csv: Callable[[], str] | None = None,
) -> None:
    """Print ``result`` as the output asks: JSON of it, the text of ``csv()``, or what ``table()``
    yields (tables and lines), one after the other, on stdout."""
    if output.as_json:
        if sys.stdout.isatty():
            stdout_console().print_json(to_json(result))
        else:
            # What print_json writes without colours, minus its highlighting, which takes minutes
            # on a large answer.
            sys.stdout.write(json.dumps(jsonable(result), indent=2, ensure_ascii=False) + "\n")
    elif output.as_csv and csv is not None:
        sys.stdout.write(csv())
    else:
        console = stdout_console()
        for renderable in table():
            console.print(renderable)


def progress_bar() -> Progress:
    """Return a progress bar on stderr, shown only on a terminal and cleared when done."""
    err = stderr_console()
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def ingest_summary_lines(summary: IngestSummary) -> Iterator[RenderableType]:
    """Yield an ingest summary table, then its first rejections, one located line each."""
    yield ingest_summary_table(summary)
    for line in rejection_lines(summary):
        yield Text(line, overflow="fold")


def emit_ingest_summary(summary: IngestSummary, output: Output, nothing_usable: str) -> None:
    """Print an ingest summary (a table with the first rejections, or JSON); raise
    :class:`SourceError` saying ``nothing_usable`` (exit 1) when nothing usable was found."""
    emit(output, summary, lambda: ingest_summary_lines(summary))
    if not summary.usable:
        raise SourceError(nothing_usable)
