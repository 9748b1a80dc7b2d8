"""``stackmeter serve`` and ``demo``: the HTTP API and dashboard, and the bundled sample end to end."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
import threading
from pathlib import Path
from typing import Any

import typer
from rich.progress import Progress, TaskID

from stackmeter import operations
from stackmeter.cli._common import (
    StoreOption,
    command_settings,
    opened_store,
    progress_bar,
    stderr_console,
    stdout_console,
)
from stackmeter.cli.tables import ingest_summary_table, overload_tables
from stackmeter.models import DEFAULT_TIMESCALES
from stackmeter.settings import Settings, help_for

# Each demo data set: its title, the timescales of its report, and what its ingest assumes.
DEMO_SETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "planetlab": ("PlanetLab, 2011-03-03, 1052 VMs, cpu", "5m,1h,1d", {}),
    "bitbrains": (
        "Bitbrains Rnd, August 2013, 20 VMs, cpu/memory/disk/network",
        DEFAULT_TIMESCALES,
        {"disk_capacity_bytes_s": 100 * 2**20, "network_capacity_bytes_s": 125e6},
    ),
}

HostOption = typer.Option("127.0.0.1", help="Address to listen on; other than loopback only with tokens.")
PortOption = typer.Option(8080, help="Port to listen on.")


def serve(
    store: str = StoreOption,
    host: str = HostOption,
    port: int = PortOption,
    tokens_file: Path = typer.Option(
        None,
        help=help_for("tokens_file", "Tokens, one 'TOKEN ROLE [PROJECT]' a line.", environment=True),
    ),
) -> None:
    """Serve the HTTP API (/api/v1, OpenAPI at /docs) and the dashboard over a store.

    Without tokens only loopback addresses are allowed: whoever reaches the server reads every
    project. Ctrl+C (or SIGTERM) lets requests in flight finish, then stops.

    Example:

        STACKMETER_TOKENS_FILE=tokens.txt stackmeter serve --store cloud.duckdb --host 0.0.0.0
    """
    settings = command_settings(store=store, tokens_file=None if tokens_file is None else str(tokens_file))
    _serve(settings, host, port)


def _serve(settings: Settings, host: str, port: int, seconds: float | None = None) -> None:
    """Run the app on ``host:port`` until interrupted, or for ``seconds`` when given."""
    import uvicorn

    from stackmeter.api import create_app
    from stackmeter.api.auth import check_bind, load_tokens

    tokens = load_tokens(settings)
    check_bind(host, tokens)
    application = create_app(settings, tokens=tokens)
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["stackmeter"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    server = uvicorn.Server(
        uvicorn.Config(application, host=host, port=port, log_config=log_config, timeout_graceful_shutdown=10)
    )
    shown = f"[{host}]" if ":" in host else host
    stderr_console().print(f"Dashboard and API on http://{shown}:{port}/ (Ctrl+C stops)", highlight=False)
    if seconds:
        timer = threading.Timer(seconds, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
    server.run()


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
) -> None:
    """Ingest the bundled sample (a PlanetLab day, a Bitbrains month of 20 VMs), print overload
    reports, then serve the dashboard on the Bitbrains month and print its URL.

    Each data set goes into a store of its own, so that windows and means are those of one fleet.
    Bitbrains disk and network are judged against 100MiB/s and 1Gbit/s: the traces carry no
    capacity for them, so the demo states these.

    Example:

        stackmeter demo --no-serve
    """
    sample = operations.bundled_sample()
    out = stdout_console()
    with tempfile.TemporaryDirectory() as temporary:
        folder = keep_in or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        settings = command_settings()
        for trace_format, (title, timescales, options) in DEMO_SETS.items():
            location = str(folder / f"demo-{trace_format}.duckdb")
            out.rule(title)
            with opened_store(
                dataclasses.replace(settings, store=location), writes=True, create=True
            ) as opened:
                with progress_bar() as progress:
                    task = progress.add_task(f"ingest {trace_format}", total=None)

                    def advance(
                        done: int, total: int, task: TaskID = task, progress: Progress = progress
                    ) -> None:
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
            _serve(
                dataclasses.replace(settings, store=str(folder / "demo-bitbrains.duckdb")),
                host,
                port,
                serve_for or None,
            )
