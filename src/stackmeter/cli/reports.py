"""``stackmeter overload``, ``entities``, ``series`` and ``quantile``: the reports read from a store."""

from __future__ import annotations

import sys

import typer

from stackmeter import operations
from stackmeter.cli._common import (
    CsvOption,
    FromRawOption,
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    opened_store,
)
from stackmeter.cli.tables import entities_table, fleet_tables, overload_tables, quantile_table
from stackmeter.errors import ConfigError
from stackmeter.export import (
    FLEET_COLUMNS,
    fleet_jsonable,
    fleet_rows,
    overload_csv,
    overload_jsonable,
    quantile_csv_pages,
    rows_csv,
    series_rows,
)
from stackmeter.models import RESOURCES, TIMESCALES
from stackmeter.operations.rollups import quantile_pages
from stackmeter.settings import help_for, parse_thresholds
from stackmeter.units import parse_utc_time

SERIES_COLUMNS = ("ts", "used", "capacity", "utilization")
# Rows a page of `quantile --csv` reads at once (some tens of MB).
CSV_PAGE_ROWS = 100_000


def overload(
    store: str = StoreOption,
    timescale: str = typer.Option(None, help=help_for("timescales", "Comma-separated timescales.")),
    resource: str = typer.Option(",".join(RESOURCES), help="Comma-separated resources."),
    threshold: str = typer.Option(
        None, help=help_for("thresholds", "Utilization θ per resource, e.g. cpu=0.9,memory=0.95.")
    ),
    share: float = typer.Option(
        None, help=help_for("share", "Share s of a window's samples ≥ θ that makes it overloaded.")
    ),
    top: int = typer.Option(None, help=help_for("top", "How many worst entities to list.")),
    from_raw: bool = FromRawOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """How many entities are overloaded, per timescale and resource, and which.

    An entity is overloaded in a resource during a window when at least a share s of its samples
    in that window have utilization ≥ θ. Each timescale is answered from the coarsest rollup
    level that fits it (the same numbers as raw samples when θ is a whole percent), else from
    raw samples; the report says which.

    Example:

        stackmeter overload --timescale 1h,1d --threshold cpu=0.9 --share 0.05 --top 5
    """
    output = chosen_output(as_json, as_csv)
    settings = command_settings(store=store, share=share, top=top, timescales=timescale)
    thresholds = parse_thresholds(threshold or "", settings.thresholds)
    resources = tuple(name.strip() for name in resource.split(",") if name.strip())
    operations.check_report_choices(settings.timescales, resources, thresholds, settings.share, settings.top)
    with opened_store(settings) as opened:
        report = operations.overload_report(
            opened, settings.timescales, resources, thresholds, settings.share, settings.top, from_raw
        )
    emit(output, overload_jsonable(report), lambda: overload_tables(report), lambda: overload_csv(report))


def fleet(
    store: str = StoreOption,
    timescale: str = typer.Option("1d", help=f"Windows: {', '.join(TIMESCALES)}."),
    resource: str = typer.Option(",".join(RESOURCES), help="Comma-separated resources."),
    threshold: str = typer.Option(
        None, help=help_for("thresholds", "Utilization θ per resource, e.g. cpu=0.9,memory=0.95.")
    ),
    share: float = typer.Option(
        None, help=help_for("share", "Share s of a window's samples ≥ θ that makes it overloaded.")
    ),
    last: int = typer.Option(0, min=0, help="Only the latest this many windows of each resource; 0 for all."),
    from_raw: bool = FromRawOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """The fleet window by window: how many entities reported, how many samples against how many
    their sampling step gives, whether the window is complete, and how many were overloaded.

    A window is complete once it has ended and holds at least half the samples its entities
    report over a whole window; `overload` takes its "latest" and its trend from complete
    windows only. The first and last windows of a store are often partial, and so is a gap.

    Example:

        stackmeter fleet --timescale 1d --resource cpu --last 7
    """
    output = chosen_output(as_json, as_csv)
    settings = command_settings(store=store, share=share, timescales=timescale)
    thresholds = parse_thresholds(threshold or "", settings.thresholds)
    resources = tuple(name.strip() for name in resource.split(",") if name.strip())
    operations.check_report_choices(settings.timescales, resources, thresholds, settings.share, 0)
    if len(settings.timescales) != 1:
        raise ConfigError(f"give one timescale, got {timescale!r}", "timescale")
    with opened_store(settings) as opened:
        report = operations.overload_report(
            opened, settings.timescales, resources, thresholds, settings.share, 0, from_raw, fleet=True
        )
    rows = fleet_rows(report, last)
    emit(
        output,
        fleet_jsonable(report, rows),
        lambda: fleet_tables(report, rows),
        lambda: rows_csv(rows, FLEET_COLUMNS),
    )


def entities(store: str = StoreOption, as_json: bool = JsonOption, as_csv: bool = CsvOption) -> None:
    """List the entities in the store, with their resources, sample counts and time span.

    Example:

        stackmeter entities --csv > entities.csv
    """
    output = chosen_output(as_json, as_csv)
    with opened_store(command_settings(store=store)) as opened:
        rows = operations.list_entities(opened)
    emit(output, rows, lambda: [entities_table(rows)], lambda: rows_csv(rows))


def series(
    entity: str = typer.Argument(..., help="Entity id, as `stackmeter entities` lists it."),
    resource: str = typer.Option("cpu", help=f"One of {', '.join(RESOURCES)}."),
    start: str = typer.Option(None, "--from", help="First time (UTC, inclusive), e.g. 2013-08-01."),
    end: str = typer.Option(None, "--to", help="Last time (UTC, exclusive)."),
    store: str = StoreOption,
    as_json: bool = JsonOption,
) -> None:
    """Print one entity's samples of one resource: time, used, capacity, utilization (CSV by default).

    Example:

        stackmeter series 1 --resource memory --from 2013-08-01 --to 2013-08-02
    """
    start_ts, end_ts = parse_utc_time(start, "--from"), parse_utc_time(end, "--to")
    with opened_store(command_settings(store=store)) as opened:
        samples = operations.read_series(opened, entity, resource, start_ts, end_ts)
    rows = series_rows(samples)
    emit(
        chosen_output(as_json, as_csv=not as_json),
        {"entity": entity, "resource": resource, "samples": rows},
        csv=lambda: rows_csv(rows, SERIES_COLUMNS),
    )


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
) -> None:
    """Quantile of utilization per window, for one entity or all.

    From rollups the true value lies within one 1 % bin: each row gives the bounds and their
    middle. --from-raw computes it exactly from raw samples (slower, and only as far back as raw
    samples are kept). Quantiles interpolate between samples as numpy and PromQL's
    quantile_over_time do. Rows are ordered by entity and window.

    --csv streams the rows page by page, in the memory of a page however many there are. A table or
    --json holds the whole answer at once, so it refuses more than 2,000,000 (entity, window) rows
    (10,000 entities at 1h over a month are 7.2 million): ask for one entity, a longer timescale,
    or --csv.

    Example:

        stackmeter quantile 41 --resource cpu --q 0.95 --timescale 1d
        stackmeter quantile --all --resource memory --q 0.99 --timescale 1w --csv
    """
    output = chosen_output(as_json, as_csv)
    if (entity is None) == (not all_entities):
        raise ConfigError("give one ENTITY or --all", "ENTITY")
    with opened_store(command_settings(store=store)) as opened:
        if output.as_csv:
            pages = quantile_pages(opened, resource, q, timescale, entity, from_raw, CSV_PAGE_ROWS)
            for text in quantile_csv_pages(pages):
                sys.stdout.write(text)
            return
        operations.check_quantile_size(opened, resource, timescale, entity, from_raw)
        report = operations.utilization_quantiles(opened, resource, q, timescale, entity, from_raw)
    emit(output, report, lambda: [quantile_table(report)])
