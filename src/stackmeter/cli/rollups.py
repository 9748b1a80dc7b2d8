"""``stackmeter compact``: retention of raw samples and of each rollup level."""

from __future__ import annotations

import typer

from stackmeter import operations
from stackmeter.cli._common import (
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    opened_store,
    stderr_console,
)
from stackmeter.cli.tables import compact_plan_line, compact_table
from stackmeter.settings import help_for
from stackmeter.units import parse_utc_time


def compact(
    store: str = StoreOption,
    retention: str = typer.Option(
        None,
        help=help_for(
            "retention",
            "What to keep, e.g. raw=7d,5m=35d,1h=400d,1d=3650d; a level left out is kept whole.",
            environment=True,
        ),
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="Count retention back from this UTC time. [default: the newest sample]"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be dropped; drop nothing."),
    force: bool = typer.Option(
        False, "--force", help="Accept an --as-of outside the span of the store's samples."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Drop raw samples and rollup windows older than their retention.

    Each rollup level keeps its own retention, at least as long as raw samples' and every finer
    level's. Reports served by rollups keep their numbers. Samples older than the raw samples
    dropped are refused by later ingests, so that the rollups never count a sample twice. What
    will be dropped is said first (on stderr); --dry-run says it and stops. An --as-of outside
    the store's samples (a typo that would drop everything) is refused unless --force.

    Example:

        stackmeter compact --retention raw=7d,5m=35d,1h=400d,1d=3650d --dry-run
    """
    output = chosen_output(as_json)
    settings = command_settings(store=store, retention=retention)
    reference = parse_utc_time(as_of, "--as-of")
    # a dry run changes nothing, not even the rollup levels the settings ask for
    with opened_store(settings, writes=not dry_run) as opened:
        plan = operations.compact(opened, settings.retention, reference, dry_run=True, force=force)
        if dry_run:
            summary = plan
        else:
            stderr_console().print(compact_plan_line(plan), markup=False, highlight=False)
            summary = operations.compact(opened, settings.retention, reference, force=force)
    emit(output, summary, lambda: [compact_table(summary)])
