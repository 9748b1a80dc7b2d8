"""What every command module shares: consoles, common options, error translation, opening the store."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

import typer
from rich.console import Console

from stackmeter.errors import ConfigError, StackmeterError, StoreError
from stackmeter.formatting import ingest_summary_table, rejection_lines, to_json
from stackmeter.operations import parse_rollup_levels
from stackmeter.settings import Settings, load_settings
from stackmeter.store import Store, open_store

# Pipes and files get wide tables; terminals get their own width.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True)

STORE_HELP = "Store file (DuckDB), or :memory:. [default: stackmeter.duckdb, or STACKMETER_STORE]"
StoreOption = typer.Option(None, "--store", help=STORE_HELP)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
CsvOption = typer.Option(False, "--csv", help="Print CSV instead of a table.")
FromRawOption = typer.Option(False, "--from-raw", help="Read raw samples, not the rollups.")

LOCK_WAIT_S = 30.0  # how long a command waits for a store file another stackmeter is writing


@contextlib.contextmanager
def errors_to_exit() -> Iterator[None]:
    """Turn library errors into messages and exit codes: 2 for usage, 1 for the rest."""
    try:
        yield
    except ConfigError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from exc
    except StackmeterError as exc:
        err.print(f"Error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from exc


def check_one_output(as_json: bool, as_csv: bool) -> None:
    """Exit 2 when both ``--json`` and ``--csv`` are given: which one is meant cannot be guessed."""
    if as_json and as_csv:
        err.print("Error: give --json or --csv, not both", highlight=False)
        raise typer.Exit(2)


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


def rollup_levels_of(settings: Settings) -> tuple[str, ...]:
    """Return the rollup levels the settings ask for."""
    return parse_rollup_levels(settings.rollup_levels)


@contextlib.contextmanager
def opened_store(
    location: str | None, wait_s: float | None = 0.0, writes: bool = False, create: bool = False
) -> Iterator[Store]:
    """Open the store named by ``--store`` (or the settings), waiting up to ``wait_s`` for a lock.

    A command that ``writes`` samples (or compacts) applies the ``rollup_levels`` setting: levels
    new to the store are built from its raw samples, levels left out are dropped. Only a command
    that may ``create`` the store does so; the others exit 1 when there is no store there.
    """
    with errors_to_exit():
        settings = load_settings(store=location)
        levels = rollup_levels_of(settings) if writes else None
        store = open_when_free(settings.store, wait_s=wait_s, rollup_levels=levels, create=create)
    try:
        yield store
    finally:
        store.close()


def print_ingest_summary(summary, as_json: bool, nothing_usable: str) -> None:
    """Print an ingest summary (a table with the first rejections, or JSON); exit 1 when nothing
    usable was found, saying ``nothing_usable``."""
    if as_json:
        out.print_json(to_json(summary))
    else:
        out.print(ingest_summary_table(summary))
        for line in rejection_lines(summary):
            out.print(line, markup=False, highlight=False, overflow="fold")
    if not summary.usable:
        err.print(f"Error: {nothing_usable}", highlight=False)
        raise typer.Exit(1)
