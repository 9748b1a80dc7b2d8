"""``stackmeter replay``: consolidation policies replayed over the store's VM history, side by side,
and beside them what a real consolidated cloud measured."""

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
from stackmeter.errors import ConfigError
from stackmeter.export import (
    format_minute,
    format_time,
    measured_replay_csv,
    measured_replay_jsonable,
    measured_row,
    replay_rows,
)
from stackmeter.models import DEFAULT_SEMANTICS, SEMANTICS_PROFILES
from stackmeter.models.consolidation import MeasuredRun
from stackmeter.models.replay_runs import ReplayReport
from stackmeter.units import parse_utc_time


def replay(
    policy: list[str] = typer.Option(
        None,
        "--policy",
        metavar="POLICY",
        help="A policy to replay; repeat it to compare several: npa, dvfs, or DETECTOR-SELECTION-PARAMETER[-capC] with a detector thr, iqr, mad, lr or lrr, a VM selection mmt, mu, rs, mc (CloudSim's) or fit (stackmeter's) and optionally an evacuation cap 0 < C ≤ 1 and -mem, memory-aware (both stackmeter's), e.g. lr-mmt-1.2, lr-fit-1.1-cap0.75 or lr-fit-1.1-cap0.75-mem.",
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
    measured: bool = typer.Option(
        False,
        "--measured",
        help="Also (or only, without --policy) what the consolidation run ingested with `stackmeter "
        "ingest neat` measured over its window: aitf, aotf, migrations, energy_kwh.",
    ),
    run: str = typer.Option(
        None, "--run", metavar="NAME", help="The run to measure, when the store holds several."
    ),
    store: str = StoreOption,
    as_json: bool = JsonOption,
    as_csv: bool = CsvOption,
) -> None:
    """Replay consolidation policies over the VMs' history and compare them: energy, migrations,
    SLA violation (SLATAH, PDM, SLAV, ESV) and host shutdowns; with --measured, beside what a real
    consolidated cloud measured.

    Each entity with CPU samples is a VM, typed in name order as the fleet file says; its demand
    is its mean CPU utilization per 5-minute window. The default fleet and semantics are those
    of Beloglazov and Buyya's PlanetLab experiments in CloudSim 3.0 (800 HP ML110 hosts).

    --measured gives the run's own idle time fraction (aitf), overload time fraction of active
    time (aotf), live migrations and energy by the OpenStack Neat experiments' model; with a
    policy too, the replay covers the run's window unless --from or --to say otherwise.

    Example:

        stackmeter replay --store planetlab.duckdb --policy dvfs --policy lr-mmt-1.2 --json
        stackmeter replay --store planetlab.duckdb --policy lr-mmt-1.2 --policy lr-fit-1.1-cap0.75
        stackmeter replay --store neat.duckdb --fleet neat-testbed-4 --policy thr-mmt-0.8 --measured
    """
    output = chosen_output(as_json, as_csv)
    if run is not None and not measured:
        raise ConfigError("--run names the run to measure: give --measured with it", "--run")
    if not policy and not measured:
        raise ConfigError("give a policy to replay (--policy), or --measured", "--policy")
    first, last = parse_utc_time(start, "--from"), parse_utc_time(end, "--to")
    report = None
    with opened_store(command_settings(store=store)) as opened:
        result = operations.measured_run(opened, run) if measured else None
        if policy:
            if result is not None:
                first = result.window_start if first is None else first
                last = result.window_end if last is None else last
            report = operations.replay_store(opened, policy, fleet, semantics, first, last)
    emit(
        output,
        measured_replay_jsonable(result, report),
        lambda: [replay_table(report, result) if report is not None else measured_table(result)],
        lambda: measured_replay_csv(result, report),
    )


def measured_table(measured: MeasuredRun | None) -> Table:
    """What a consolidation run measured, one line per figure."""
    assert measured is not None
    title = f"Measured: run {measured.run} ({measured.framework})"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    window = f"{format_time(measured.window_start)} .. {format_time(measured.window_end)}"
    for what, value in (
        ("window", window),
        ("hosts", f"{measured.hosts}"),
        ("aitf (time asleep)", _percent(measured.aitf, 3)),
        ("aotf (active time overloaded)", _percent(measured.aotf, 3)),
        ("migrations", f"{measured.migrations:,}"),
        ("energy kWh (Neat's model)", _kwh(measured.energy_kwh)),
        ("energy kWh, all hosts on", _kwh(measured.energy_all_on_kwh)),
        ("energy saved", _percent(measured.energy_saved)),
    ):
        table.add_row(what, value)
    return table


def replay_table(report: ReplayReport | None, measured: MeasuredRun | None = None) -> Table:
    """The policies side by side, with what the replay read, after the measured run's row if given."""
    assert report is not None
    start = format_minute(report.first_window) or "-"
    caption = (
        f"{report.vms:,} VMs over {report.windows:,} windows of 5 min from {start}, fleet {report.fleet}, "
        f"semantics {report.semantics}."
    )
    if report.gaps_filled:
        caption += f" {report.gaps_filled:,} windows without a sample held the VM's previous value."
    if report.memory_vms:
        caption += (
            f" Memory in use of {report.memory_vms:,} VMs replayed: memory overload is the share of active "
            "host time with the VMs' memory above the host's RAM."
        )
    if measured is not None:
        caption += (
            f" Measured: run {measured.run} of {measured.framework}, {measured.hosts} hosts, AITF "
            f"{_percent(measured.aitf, 3)}, AOTF {_percent(measured.aotf, 3)}, energy by Neat's model."
        )
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
        *(["memory overload"] if report.memory_vms else []),
    ):
        table.add_column(column, justify="left" if column == "policy" else "right")
    if measured is not None:
        row = measured_row(measured)
        blanks = 6 + bool(report.memory_vms)
        table.add_row("measured", _kwh(row["energy_kwh"]), f"{row['migrations']:,}", *["-"] * blanks)
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
            *([_percent(row["memory_overload"], 3)] if report.memory_vms else []),
        )
    return table


def _percent(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _kwh(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"
