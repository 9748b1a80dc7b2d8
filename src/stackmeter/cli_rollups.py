"""``stackmeter quantile`` and ``compact``: answers from the rollup levels, and retention.

:func:`register` adds them to the main ``stackmeter`` command (:mod:`stackmeter.cli`).
"""

from __future__ import annotations

import sys

import typer

from stackmeter import operations
from stackmeter.cli_support import (
    CsvOption,
    FromRawOption,
    JsonOption,
    StoreOption,
    check_one_output,
    err,
    errors_to_exit,
    opened_store,
    out,
)
from stackmeter.formatting import (
    compact_plan_line,
    compact_table,
    quantile_rows,
    quantile_table,
    rows_csv,
    to_json,
)
from stackmeter.models import RESOURCES, TIMESCALES
from stackmeter.settings import load_settings
from stackmeter.units import parse_utc_time


def register(app: typer.Typer) -> None:
    """Add ``quantile`` and ``compact`` to ``app``."""
    app.command()(quantile)
    app.command()(compact)


def quantile(
    entity: str = typer.Argument(
        None, help="Entity id, as `stackmeter entities` lists it.", show_default=False
    ),
    all_entities: bool = typer.Option(False, "--all", help="Every entity instead of one."),
    resource: str = typer.Option("cpu", help=f"One of {', '.join(RESOURCES)}."),
    q: float = typer.Option(0.95, "--q", help="The quantile, from 0 to 1."),
    timescale: str = typer.Option("1d", help=f"Windows: {', '.join(TIMESCALES)}."),
    from_raw: bool = FromRawOption,
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
):
    """Quantile of utilization per window, for one entity or all.

    From rollups the true value lies within one 1 % bin: each row gives the bounds and their
    middle. --from-raw computes it exactly from raw samples (slower, and only as far back as raw
    samples are kept). Quantiles interpolate between samples as numpy and PromQL's
    quantile_over_time do.

    Example:

        stackmeter quantile 41 --resource cpu --q 0.95 --timescale 1d
        stackmeter quantile --all --resource memory --q 0.99 --timescale 1w --csv
    """
    check_one_output(as_json, as_csv)
    if (entity is None) == (not all_entities):
        err.print("Error: give one ENTITY or --all", highlight=False)
        raise typer.Exit(2)
    with opened_store(store) as opened, errors_to_exit():
        report = operations.utilization_quantiles(opened, resource, q, timescale, entity, from_raw)
    if as_json:
        out.print_json(to_json(report))
    elif as_csv:
        sys.stdout.write(rows_csv(quantile_rows(report)))
    else:
        out.print(quantile_table(report))


def compact(
    store: str = StoreOption,
    retention: str = typer.Option(
        None,
        help="What to keep, e.g. raw=7d,5m=35d,1h=400d,1d=3650d; a level left out is kept whole. "
        "[default: raw=14d,5m=35d,1h=400d,1d=3650d, or STACKMETER_RETENTION]",
    ),
    as_of: str = typer.Option(
        None, "--as-of", help="Count retention back from this UTC time. [default: the newest sample]"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say what would be dropped; drop nothing."),
    force: bool = typer.Option(
        False, "--force", help="Accept an --as-of outside the span of the store's samples."
    ),
    as_json: bool = JsonOption,
):
    """Drop raw samples and rollup windows older than their retention.

    Each rollup level keeps its own retention, at least as long as raw samples' and every finer
    level's. Reports served by rollups keep their numbers. Samples older than the raw samples
    dropped are refused by later ingests, so that the rollups never count a sample twice. What
    will be dropped is said first (on stderr); --dry-run says it and stops. An --as-of outside
    the store's samples (a typo that would drop everything) is refused unless --force.

    Example:

        stackmeter compact --retention raw=7d,5m=35d,1h=400d,1d=3650d --dry-run
    """
    with errors_to_exit():
        settings = load_settings(store=store, retention=retention)
        kept = operations.parse_retention(settings.retention)
        reference = parse_utc_time(as_of, "--as-of")
    # a dry run changes nothing, not even the rollup levels the settings ask for
    with opened_store(settings.store, writes=not dry_run) as opened, errors_to_exit():
        plan = operations.compact(opened, kept, reference, dry_run=True, force=force)
        if dry_run:
            summary = plan
        else:
            err.print(compact_plan_line(plan), markup=False, highlight=False)
            summary = operations.compact(opened, kept, reference, force=force)
    if as_json:
        out.print_json(to_json(summary))
    else:
        out.print(compact_table(summary))
