"""The ``stackmeter`` command: one command per operation, tables for people, JSON and CSV for machines."""

from __future__ import annotations

import copy
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from stackmeter import cli_collection, cli_notifications, cli_rollups, operations
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
    print_ingest_summary,
)
from stackmeter.formatting import (
    entities_table,
    ingest_summary_table,
    overload_csv,
    overload_tables,
    rows_csv,
    series_rows,
    to_json,
)
from stackmeter.models import RESOURCES
from stackmeter.settings import load_settings, parse_thresholds
from stackmeter.units import parse_bytes_per_second, parse_utc_time

app = typer.Typer(
    help="stackmeter: how your private cloud really uses its capacity.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
ingest_app = typer.Typer(help="Read telemetry or workload traces into the store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


def _run_ingest(
    trace_format: str, paths: list[Path], store: str | None, as_json: bool, back_window: str | None, **options
) -> None:
    with errors_to_exit():
        back_window_s = operations.parse_back_window(back_window or "none")
        operations.check_input_paths(paths)
    with opened_store(store, writes=True, create=True) as opened, errors_to_exit(), _progress() as progress:
        task = progress.add_task(f"ingest {trace_format}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        summary = operations.ingest(
            opened, trace_format, paths, progress=advance, back_window_s=back_window_s, **options
        )
    print_ingest_summary(summary, as_json, "nothing usable was found in the input")


PathsArgument = typer.Argument(..., help="Files or folders to read.", show_default=False)
BackWindowOption = typer.Option(
    None,
    "--back-window",
    help="Refuse samples older than their series' latest in the store less this, e.g. 7d. "
    "[default: none, files may come in any time order]",
)


@ingest_app.command("planetlab")
def ingest_planetlab(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    back_window: str = BackWindowOption,
    as_json: bool = JsonOption,
):
    """Read PlanetLab day folders (YYYYMMDD/<vm>, 288 CPU percents a file).

    Example:

        stackmeter ingest planetlab data/planetlab/20110303 --store cloud.duckdb
    """
    _run_ingest("planetlab", paths, store, as_json, back_window)


@ingest_app.command("bitbrains")
def ingest_bitbrains(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    disk_capacity: str = typer.Option(
        None, help="Disk capacity of every VM, e.g. 100MiB/s. Without it disk is reported as 'no capacity'."
    ),
    network_capacity: str = typer.Option(
        None,
        help="Network capacity of every VM, e.g. 1Gbit/s. Without it network is reported as 'no capacity'.",
    ),
    back_window: str = BackWindowOption,
    as_json: bool = JsonOption,
):
    """Read Bitbrains GWA-T-12 files (plain or .gz): cpu, memory, disk and network.

    Example:

        stackmeter ingest bitbrains data/bitbrains_rnd --disk-capacity 100MiB/s --network-capacity 1Gbit/s
    """
    with errors_to_exit():
        disk = parse_bytes_per_second(disk_capacity) if disk_capacity is not None else None
        network = parse_bytes_per_second(network_capacity) if network_capacity is not None else None
    _run_ingest(
        "bitbrains",
        paths,
        store,
        as_json,
        back_window,
        disk_capacity_bytes_s=disk,
        network_capacity_bytes_s=network,
    )


@ingest_app.command("azure")
def ingest_azure(
    paths: list[Path] = PathsArgument,
    store: str = StoreOption,
    start: str = typer.Option(
        "1970-01-01T00:00:00", help="UTC time of t_index 0 (Azure V1 tables give only relative steps)."
    ),
    back_window: str = BackWindowOption,
    as_json: bool = JsonOption,
):
    """Read Azure public dataset V1 CPU tables (one column per VM, 5-minute rows).

    Example:

        stackmeter ingest azure data/azure_v1_cpu/microsoft_max_100.csv --start 2017-01-01
    """
    with errors_to_exit():
        azure_start = _parse_time(start, "--start")
    _run_ingest("azure", paths, store, as_json, back_window, azure_start=azure_start)


def _parse_time(text: str | None, option: str) -> np.datetime64 | None:
    return parse_utc_time(text, option)


@app.command()
def overload(
    store: str = StoreOption,
    timescale: str = typer.Option(None, help="Comma-separated timescales. [default: 5m,1h,1d,1w,1mo]"),
    resource: str = typer.Option(",".join(RESOURCES), help="Comma-separated resources."),
    threshold: str = typer.Option(
        None,
        help="Utilization θ per resource, e.g. cpu=0.9,memory=0.95. [default: cpu=0.8,memory=0.9,disk=0.8,network=0.8]",
    ),
    share: float = typer.Option(
        None, help="Share s of a window's samples ≥ θ that makes it overloaded. [default: 0.05]"
    ),
    top: int = typer.Option(None, help="How many worst entities to list. [default: 10]"),
    from_raw: bool = FromRawOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
):
    """How many entities are overloaded, per timescale and resource, and which.

    An entity is overloaded in a resource during a window when at least a share s of its samples
    in that window have utilization ≥ θ. Each timescale is answered from the coarsest rollup
    level that fits it (the same numbers as raw samples when θ is a whole percent), else from
    raw samples; the report says which.

    Example:

        stackmeter overload --timescale 1h,1d --threshold cpu=0.9 --share 0.05 --top 5
    """
    check_one_output(as_json, as_csv)
    with errors_to_exit():
        settings = load_settings(store=store, share=share, top=top, timescales=timescale)
        thresholds = parse_thresholds(threshold or "", settings.thresholds)
        resources = tuple(name.strip() for name in resource.split(",") if name.strip())
        operations.check_report_choices(
            settings.timescales, resources, thresholds, settings.share, settings.top
        )
    with opened_store(settings.store) as opened, errors_to_exit():
        report = operations.overload_report(
            opened, settings.timescales, resources, thresholds, settings.share, settings.top, from_raw
        )
    if as_json:
        out.print_json(to_json(report))
    elif as_csv:
        sys.stdout.write(overload_csv(report))
    else:
        for table in overload_tables(report):
            out.print(table)


@app.command()
def entities(store: str = StoreOption, as_json: bool = JsonOption, as_csv: bool = CsvOption):
    """List the entities in the store, with their resources, sample counts and time span.

    Example:

        stackmeter entities --csv > entities.csv
    """
    check_one_output(as_json, as_csv)
    with opened_store(store) as opened, errors_to_exit():
        rows = operations.list_entities(opened)
    if as_json:
        out.print_json(to_json(rows))
    elif as_csv:
        sys.stdout.write(rows_csv(rows))
    else:
        out.print(entities_table(rows))


@app.command()
def series(
    entity: str = typer.Argument(..., help="Entity id, as `stackmeter entities` lists it."),
    resource: str = typer.Option("cpu", help=f"One of {', '.join(RESOURCES)}."),
    start: str = typer.Option(None, "--from", help="First time (UTC, inclusive), e.g. 2013-08-01."),
    end: str = typer.Option(None, "--to", help="Last time (UTC, exclusive)."),
    store: str = StoreOption,
    as_json: bool = JsonOption,
):
    """Print one entity's samples of one resource: time, used, capacity, utilization (CSV by default).

    Example:

        stackmeter series 1 --resource memory --from 2013-08-01 --to 2013-08-02
    """
    with errors_to_exit():
        start_ts, end_ts = _parse_time(start, "--from"), _parse_time(end, "--to")
    with opened_store(store) as opened, errors_to_exit():
        samples = operations.read_series(opened, entity, resource, start_ts, end_ts)
    rows = series_rows(samples)
    if as_json:
        out.print_json(to_json({"entity": entity, "resource": resource, "samples": rows}))
    else:
        sys.stdout.write(rows_csv(rows, ("ts", "used", "capacity", "utilization")))


DEMO_SETS = {
    "planetlab": ("PlanetLab, 2011-03-03, 1052 VMs, cpu", "5m,1h,1d", {}),
    "bitbrains": (
        "Bitbrains Rnd, August 2013, 20 VMs, cpu/memory/disk/network",
        "5m,1h,1d,1w,1mo",
        {"disk_capacity_bytes_s": 100 * 2**20, "network_capacity_bytes_s": 125e6},
    ),
}


HostOption = typer.Option("127.0.0.1", help="Address to listen on; other than loopback only with tokens.")
PortOption = typer.Option(8080, help="Port to listen on.")


@app.command()
def serve(
    store: str = StoreOption,
    host: str = HostOption,
    port: int = PortOption,
    tokens_file: Path = typer.Option(
        None, help="Tokens, one 'TOKEN ROLE [PROJECT]' a line. [default: STACKMETER_TOKENS_FILE]"
    ),
):
    """Serve the HTTP API (/api/v1, OpenAPI at /docs) and the dashboard over a store.

    Without tokens only loopback addresses are allowed: whoever reaches the server reads every
    project. Ctrl+C (or SIGTERM) lets requests in flight finish, then stops.

    Example:

        STACKMETER_TOKENS_FILE=tokens.txt stackmeter serve --store cloud.duckdb --host 0.0.0.0
    """
    with errors_to_exit():
        settings = load_settings(store=store, tokens_file=None if tokens_file is None else str(tokens_file))
    _serve(settings, host, port)


def _serve(settings, host: str, port: int, seconds: float | None = None) -> None:
    """Run the app on ``host:port`` until interrupted, or for ``seconds`` when given."""
    import uvicorn

    from stackmeter.api import create_app
    from stackmeter.api.auth import check_bind, load_tokens

    with errors_to_exit():
        tokens = load_tokens(settings)
        check_bind(host, tokens)
        application = create_app(settings, tokens=tokens)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["stackmeter"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    server = uvicorn.Server(
        uvicorn.Config(application, host=host, port=port, log_config=log_config, timeout_graceful_shutdown=10)
    )
    shown = f"[{host}]" if ":" in host else host
    err.print(f"Dashboard and API on http://{shown}:{port}/ (Ctrl+C stops)", highlight=False)
    if seconds:
        timer = threading.Timer(seconds, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    server.run()


@app.command()
def demo(
    keep_in: Path = typer.Option(
        None, "--keep-in", help="Keep the demo stores in this folder. [default: a temporary folder]"
    ),
    no_serve: bool = typer.Option(False, "--no-serve", help="Print the reports and exit; do not serve."),
    serve_for: float = typer.Option(
        0, "--serve-for", help="Stop serving after this many seconds. [default: 0, until Ctrl+C]"
    ),
    host: str = HostOption,
    port: int = PortOption,
):
    """Ingest the bundled sample (a PlanetLab day, a Bitbrains month of 20 VMs), print overload
    reports, then serve the dashboard on the Bitbrains month and print its URL.

    Each data set goes into a store of its own, so that windows and means are those of one fleet.
    Bitbrains disk and network are judged against 100MiB/s and 1Gbit/s: the traces carry no
    capacity for them, so the demo states these.

    Example:

        stackmeter demo --no-serve
    """
    sample = operations.bundled_sample()
    with tempfile.TemporaryDirectory() as temporary:
        folder = keep_in or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        for trace_format, (title, timescales, options) in DEMO_SETS.items():
            location = str(folder / f"demo-{trace_format}.duckdb")
            out.rule(title)
            with opened_store(location, writes=True, create=True) as opened, errors_to_exit():
                with _progress() as progress:
                    task = progress.add_task(f"ingest {trace_format}", total=None)

                    def advance(done: int, total: int, task=task, progress=progress) -> None:
                        progress.update(task, completed=done, total=total)

                    summary = operations.ingest(
                        opened, trace_format, [sample[trace_format]], progress=advance, **options
                    )
                out.print(ingest_summary_table(summary))
                if options:
                    out.print(
                        "Disk capacity 100MiB/s and network capacity 1Gbit/s per VM (demo assumptions)."
                    )
                report = operations.overload_report(opened, timescales, top=3)
            for table in overload_tables(report):
                out.print(table)
            out.print(f"Store kept in {location}" if keep_in else "")
        if not no_serve:
            with errors_to_exit():
                settings = load_settings(store=str(folder / "demo-bitbrains.duckdb"))
            _serve(settings, host, port, serve_for or None)


cli_notifications.register(app, ingest_app)
cli_collection.register(app, ingest_app)
cli_rollups.register(app)
