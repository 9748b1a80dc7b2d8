"""The ``stackmeter`` command: one command per operation, tables for people, JSON and CSV for machines.

Every command and group is added here, in the order ``stackmeter --help`` lists them.
"""

from __future__ import annotations

import typer

from stackmeter.cli import bus, collect, ingest, replay, reports, rollups, serve
from stackmeter.cli._common import ErrorsToExitCodes

__all__ = ["app"]

app = typer.Typer(
    help="stackmeter: how your private cloud really uses its capacity.",
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    cls=ErrorsToExitCodes,
)
ingest_app = typer.Typer(help="Read telemetry or workload traces into the store.", no_args_is_help=True)

app.command("overload")(reports.overload)
app.command("fleet")(reports.fleet)
app.command("entities")(reports.entities)
app.command("series")(reports.series)
app.command("serve")(serve.serve)
app.command("demo")(serve.demo)
app.command("listen")(bus.listen)
app.command("operations")(bus.operation_timings)
app.command("deadletters")(bus.deadletters)
app.command("collect")(collect.collect)
app.command("sources")(collect.sources)
app.command("quantile")(reports.quantile)
app.command("compact")(rollups.compact)
app.command("replay")(replay.replay)
app.add_typer(ingest_app, name="ingest")
ingest_app.command("planetlab")(ingest.planetlab)
ingest_app.command("bitbrains")(ingest.bitbrains)
ingest_app.command("azure")(ingest.azure)
ingest_app.command("neat")(ingest.neat)
ingest_app.command("notifications")(ingest.notifications)
ingest_app.command("prometheus")(ingest.prometheus)
