"""``stackmeter replay``: consolidation policies replayed over the store's VM history, side by side."""

from __future__ import annotations

import typer
from rich.table import Table

from stackmeter import operations
from stackmeter.cli._common import (
    CsvOption,
    JsonOption,
    StoreOption,
    chosen_output,
    command_settings,
    emit,
    opened_store,
)
from stackmeter.export import REPLAY_COLUMNS, format_minute, replay_jsonable, replay_rows, rows_csv
from stackmeter.models import DEFAULT_SEMANTICS, SEMANTICS_PROFILES
from stackmeter.models.replay_runs import ReplayReport
from stackmeter.units import parse_utc_time


def replay(
    policy: list[str] = typer.Option(
        ...,
        "--policy",
        metavar="POLICY",
        help="A policy to replay; repeat it to compare several: npa, dvfs, or DETECTOR-SELECTION-PARAMETER with a detector thr, iqr, mad, lr or lrr and a VM selection mmt, mu or rs, e.g. lr-mmt-1.2.",
    ),
    fleet: str = typer.Option(
        operations.DEFAULT_FLEET,
        metavar="FILE|NAME",
        help="A fleet file (TOML: host types, counts, power curves, VM types), or the name of a shipped one.",
    ),
    semantics: str = typer.Option(
        DEFAULT_SEMANTICS,
        metavar="PROFILE",
        help=f"Whose rules the replay follows: {', '.join(SEMANTICS_PROFILES)}.",
    ),
    start: str = typer.Option(
        None, "--from", metavar="TIME", help="First UTC time replayed. [default: the first sample]"
    ),
    end: str = typer.Option(
        None, "--to", help="Replay windows starting before this UTC time. [default: all]"
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """Replay consolidation policies over the VMs' history and compare them: energy, migrations,
    SLA violation (SLATAH, PDM, SLAV, ESV) and host shutdowns.

    Each entity with CPU samples is a VM, typed in name order as the fleet file says; its demand
    is its mean CPU utilization per 5-minute window. The default fleet and semantics are those
    of Beloglazov and Buyya's PlanetLab experiments in CloudSim 3.0 (800 HP ML110 hosts).

    Example:

        stackmeter replay --store planetlab.duckdb --policy dvfs --policy lr-mmt-1.2 --json
    """
    output = chosen_output(as_json, as_csv)
    first, last = parse_utc_time(start, "--from"), parse_utc_time(end, "--to")
    with opened_store(command_settings(store=store)) as opened:
        report = operations.replay_store(opened, policy, fleet, semantics, first, last)
    emit(
        output,
        replay_jsonable(report),
        lambda: [replay_table(report)],
        lambda: rows_csv(replay_rows(report), REPLAY_COLUMNS),
    )


def replay_table(report: ReplayReport) -> Table:
    """The policies side by side, with what the replay read."""
    start = format_minute(report.first_window) or "-"
    caption = (
        f"{report.vms:,} VMs over {report.windows:,} windows of 5 min from {start}, fleet {report.fleet}, "
        f"semantics {report.semantics}."
    )
    if report.gaps_filled:
        caption += f" {report.gaps_filled:,} windows without a sample held the VM's previous value."
    table = Table(title="Consolidation replay", title_justify="left", caption=caption, caption_justify="left")
    for column in (
        "policy",
        "energy kWh",
        "migrations",
        "SLATAH",
        "PDM",
        "SLAV",
        "ESV",
        "host shutdowns",
        "VMs vanished",
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    for row in replay_rows(report):
        table.add_row(
            row["policy"],
            f"{row['energy_kwh']:,.2f}",
            f"{row['migrations']:,}",
            _percent(row["slatah"]),
            _percent(row["pdm"]),
            _percent(row["slav"], 5),
            "-" if row["esv"] is None else f"{row['esv']:.3g}",
            f"{row['host_shutdowns']:,}",
            f"{row['vms_removed']:,}",
        )
    return table


def _percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"
