"""stackmeter's own consolidation policy against LR-MMT-1.2, replayed by the same engine on the ten PlanetLab days.

Run from the repository root with ../shared beside it (or STACKMETER_DATA pointing at its data):

    python benchmarks/replay_beyond.py                          # prints the table
    python benchmarks/replay_beyond.py --write BENCHMARKS.md    # and writes (or replaces) its section

The issue's bar, against LR-MMT-1.2 on the same days, 800 hosts and semantics: median ESV at most
0.90 × LR-MMT-1.2's, median migrations no more, median energy within 1 %, and a lower ESV on at
least 8 of the 10 days. Beside the winner, the neighbours that show where its gain comes from.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import DATA, machine  # noqa: E402
from benchmarks.replay import FLEET, load_day, warm_up, write_section  # noqa: E402
from stackmeter.analysis.replay import parse_policy, replay  # noqa: E402
from stackmeter.sources.fleet import load_fleet  # noqa: E402

SECTION = "## Consolidation replay: stackmeter's policy against LR-MMT-1.2"
BASELINE = "lr-mmt-1.2"
WINNER = "lr-fit-1.1-cap0.75"
# The winner's neighbours: each takes one of its changes away (or keeps CloudSim's s = 1.2).
NEIGHBOURS = ("lr-mmt-1.1-cap0.75", "lr-fit-1.1", "lr-mmt-1.1", "lr-fit-1.2-cap0.85", "lr-fit-1.2")
SEMANTICS = "cloudsim-3.0-paper"
# RAM per host for the check under stackmeter's semantics where memory does not bind.
ROOMY_RAM_MB = 16 * 1024


def run(
    days: list[Path], policies: list[str], semantics: str = SEMANTICS, ram_mb: float | None = None
) -> dict[str, dict[str, Any]]:
    """Each policy's result and replay time on each day: ``{day: {policy: (result, seconds)}}``.

    ``ram_mb`` gives every host that much RAM instead of the paper's 4 GB.
    """
    paper = load_fleet(FLEET)
    if ram_mb is not None:
        groups = tuple(g._replace(host_type=g.host_type._replace(ram_mb=ram_mb)) for g in paper.fleet.groups)
        paper = paper._replace(fleet=paper.fleet._replace(groups=groups))
    rows: dict[str, dict[str, Any]] = {}
    for folder in days:
        utilization = load_day(folder)
        rows[folder.name] = {}
        for policy in policies:
            started = time.perf_counter()
            result = replay(utilization, paper.fleet, paper.vm_types, parse_policy(policy), semantics)
            rows[folder.name][policy] = (result, time.perf_counter() - started)
        print(
            folder.name,
            *(
                f"{p} {r.energy_kwh:.2f} kWh {r.migrations} esv {r.esv:.3e}"
                for p, (r, _) in rows[folder.name].items()
            ),
            flush=True,
        )
    return rows


def medians(rows: dict[str, dict[str, Any]], policy: str) -> dict[str, float]:
    """The ten-day medians of a policy's figures."""
    fields = ("energy_kwh", "migrations", "slatah", "pdm", "esv")
    return {field: median(getattr(day[policy][0], field) for day in rows.values()) for field in fields}


def _median_row(rows: dict[str, dict[str, Any]], policy: str) -> str:
    """A table row of a policy's ten-day medians: kWh, migrations, SLATAH %, PDM %, ESV × 10⁻³."""
    m = medians(rows, policy)
    return (
        f"| {policy} | {m['energy_kwh']:.2f} | {m['migrations']:,.1f} | {m['slatah'] * 100:.2f} "
        f"| {m['pdm'] * 100:.3f} | {m['esv'] * 1e3:.3f} |"
    )


def criteria(rows: dict[str, dict[str, Any]], policy: str) -> dict[str, Any]:
    """The issue's four tests of ``policy`` against the baseline."""
    ours, theirs = medians(rows, policy), medians(rows, BASELINE)
    lower = sum(1 for day in rows.values() if day[policy][0].esv < day[BASELINE][0].esv)
    return {
        "esv": ours["esv"] / theirs["esv"],
        "migrations": ours["migrations"] / theirs["migrations"],
        "energy": ours["energy_kwh"] / theirs["energy_kwh"],
        "slatah": ours["slatah"] / theirs["slatah"],
        "pdm": ours["pdm"] / theirs["pdm"],
        "lower_days": lower,
        "met": (
            ours["esv"] <= 0.90 * theirs["esv"]
            and ours["migrations"] <= theirs["migrations"]
            and ours["energy_kwh"] <= 1.01 * theirs["energy_kwh"]
            and lower >= 8
        ),
    }


def _cells(result: Any) -> str:
    return (
        f"{result.energy_kwh:.2f} | {result.migrations:,} | {result.slatah * 100:.2f} | {result.pdm * 100:.3f} "
        f"| {result.esv * 1e3:.3f}"
    )


def markdown(
    rows: dict[str, dict[str, Any]],
    described: str,
    own: dict[str, dict[str, Any]],
    roomy: dict[str, dict[str, Any]],
) -> str:
    """This benchmark's section of BENCHMARKS.md."""
    today = datetime.date.today().isoformat()
    n = len(rows)
    won = criteria(rows, WINNER)
    seconds = [seconds for day in rows.values() for _, seconds in day.values()]
    lines = [
        f"{SECTION} ({today})",
        "",
        f"Machine: {described}. `python benchmarks/replay_beyond.py --write BENCHMARKS.md`. Data: the {n} PlanetLab "
        "days, files in name order, on the 800 hosts of `stackmeter/fleets/planetlab-800.toml`, semantics "
        f"`{SEMANTICS}` for every policy (the profile under which LR-MMT-1.2 gives CloudSim's own figures).",
        "",
        f"**The policy, `{WINNER}`.** CloudSim's LR detector with safety parameter 1.1, and two rules of "
        "stackmeter's. *Selection `fit`*: a flagged host sheds the VM with the least RAM among those whose "
        "removal alone ends the overload (the detector asked of the host without that VM: its load, history "
        "and the largest RAM left), MMT when none does. *Evacuation cap 0.75*: underload consolidation "
        "(CloudSim's order, all of a host's VMs or none) places a VM only on a host whose load after it, "
        "counting what the step already placed there or took off, stays within 75 % of its capacity. "
        "Everything else is CloudSim's: PABFD, its costs, the detector's check on targets.",
        "",
        f"**Against the bar** (medians over the {n} days, ratio to LR-MMT-1.2): ESV {won['esv']:.3f}× "
        f"(≤ 0.90 asked), migrations {won['migrations']:.3f}× (≤ 1), energy {won['energy']:.4f}× (≤ 1.01), "
        f"ESV lower on {won['lower_days']} of {n} days (≥ 8); SLATAH {won['slatah']:.2f}×, PDM "
        f"{won['pdm']:.2f}×. {'All four are met.' if won['met'] else 'Not all four are met.'}",
        "",
        "| day | LR-MMT-1.2: kWh | migrations | SLATAH % | PDM % | ESV × 10⁻³ "
        f"| {WINNER}: kWh | migrations | SLATAH % | PDM % | ESV × 10⁻³ |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for day, results in rows.items():
        lines.append(f"| {day} | {_cells(results[BASELINE][0])} | {_cells(results[WINNER][0])} |")
    base, ours = medians(rows, BASELINE), medians(rows, WINNER)
    lines.append(
        f"| median | {base['energy_kwh']:.2f} | {base['migrations']:,.1f} | {base['slatah'] * 100:.2f} "
        f"| {base['pdm'] * 100:.3f} | {base['esv'] * 1e3:.3f} | {ours['energy_kwh']:.2f} | {ours['migrations']:,.1f} "
        f"| {ours['slatah'] * 100:.2f} | {ours['pdm'] * 100:.3f} | {ours['esv'] * 1e3:.3f} |"
    )
    lines += [
        "",
        "**Where the gain comes from** (ten-day medians, ratio to LR-MMT-1.2)",
        "",
        "| policy | ESV | migrations | energy | SLATAH | PDM | ESV lower on | all four met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for policy in (WINNER, *NEIGHBOURS):
        c = criteria(rows, policy)
        lines.append(
            f"| {policy} | {c['esv']:.3f} | {c['migrations']:.3f} | {c['energy']:.4f} | {c['slatah']:.2f} "
            f"| {c['pdm']:.2f} | {c['lower_days']}/{n} | {'yes' if c['met'] else 'no'} |"
        )
    lines += [
        "",
        "- Lowering LR's safety parameter alone (`lr-mmt-1.1`) saves energy but raises SLATAH and ESV. The "
        "evacuation cap keeps the hosts that take an evacuated host's VMs out of overload, so fewer VMs "
        "move on again at the next step; `fit` sheds one VM where MMT often sheds several. With both, "
        "s can come down to 1.1 for energy without the overload it costs alone. The cap works about "
        "0.1–0.15 below where LR flags a host (1/s); at CloudSim's s = 1.2, `fit` with or without the "
        "cap 0.85 also passes, by less.",
        "- The rule was chosen on these ten days, so the bar is met in-sample: a held-out check on other "
        "traces (Bitbrains, an operator's own history) is still to do.",
        f"- {len(seconds)} replays, {sum(seconds):.1f} s in all ({min(seconds):.2f}–{max(seconds):.2f} s each).",
        "",
        "**Under stackmeter's semantics** (`stackmeter`: VMs idle for a while stay, with their RAM, and "
        "their host stays on; a migration needs RAM left on its target; waking a host costs its wake "
        "time, which `planetlab-800` leaves at 0 s), ten-day medians:",
        "",
        "| policy | kWh | migrations | SLATAH % | PDM % | ESV × 10⁻³ | VMs vanished (median) | host wakes (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for policy in (BASELINE, WINNER):
        vanished = median(day[policy][0].vms_removed for day in own.values())
        wakes = median(day[policy][0].host_wakes for day in own.values())
        lines.append(f"{_median_row(own, policy)} {vanished:,.0f} | {wakes:,.1f} |")
    c = criteria(own, WINNER)
    lines += [
        "",
        f"Against LR-MMT-1.2 under the same semantics: ESV {c['esv']:.3f}×, migrations {c['migrations']:.3f}×, "
        f"energy {c['energy']:.4f}×, ESV lower on {c['lower_days']} of {len(own)} days. No VM vanishes, so "
        "every host carries the load CloudSim drops: energies are not comparable with the table above. "
        "Memory binds: the paper's hosts have 4 GB and its VMs 613–1,740 MB, so creation already fills "
        "each host's RAM with two to six VMs and few migrations find a target with RAM left; CloudSim's "
        "consolidation on this fleet packs hosts beyond their memory. With RAM counted, the paper's setup "
        "leaves a policy almost nothing to decide.",
        "",
        f"**The same hosts with {ROOMY_RAM_MB // 1024} GB of RAM each**, under stackmeter's semantics, "
        "ten-day medians:",
        "",
        "| policy | kWh | migrations | SLATAH % | PDM % | ESV × 10⁻³ |",
        "|---|---|---|---|---|---|",
    ]
    for policy in (BASELINE, WINNER):
        lines.append(_median_row(roomy, policy))
    c = criteria(roomy, WINNER)
    lines += [
        "",
        f"Against LR-MMT-1.2: ESV {c['esv']:.3f}×, migrations {c['migrations']:.3f}×, energy "
        f"{c['energy']:.4f}×, SLATAH {c['slatah']:.3f}×, ESV lower on {c['lower_days']} of {len(roomy)} days; "
        f"the issue's four tests {'met' if c['met'] else 'not all met'} under stackmeter's semantics.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=DATA / "planetlab", help="folder of PlanetLab day folders"
    )
    parser.add_argument("--write", type=Path, help="write (or replace) the section in this Markdown file")
    args = parser.parse_args()
    days = sorted(p for p in args.data.iterdir() if p.is_dir())
    # The compiled decision step is loaded (or, the first time, compiled) before any timed run.
    warm_up(days[0], load_fleet(FLEET))
    for policy in (WINNER, "lr-fit-1.2"):
        replay(
            load_day(days[0])[:40, :40],
            load_fleet(FLEET).fleet,
            load_fleet(FLEET).vm_types,
            parse_policy(policy),
        )
    rows = run(days, [BASELINE, WINNER, *NEIGHBOURS])
    own = run(days, [BASELINE, WINNER], "stackmeter")
    roomy = run(days, [BASELINE, WINNER], "stackmeter", ROOMY_RAM_MB)
    section = markdown(rows, machine(), own, roomy)
    print(section)
    if args.write:
        write_section(args.write, section, (SECTION,))


if __name__ == "__main__":
    main()
