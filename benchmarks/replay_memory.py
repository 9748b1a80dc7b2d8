"""Memory in consolidation: Bitbrains (cpu + memory, three months) replayed CPU-only and memory-aware.

Run from the repository root with ../shared beside it (or STACKMETER_DATA pointing at its data):

    python benchmarks/replay_memory.py                          # prints the table
    python benchmarks/replay_memory.py --write BENCHMARKS.md    # and writes (or replaces) its section

The 100 VMs of Bitbrains "Rnd" (July to September 2013, 5-minute samples of CPU MHz and memory
in use) are replayed on a fleet of IBM x3550 M3 servers under the ``stackmeter`` semantics (no VM
vanishes when its CPU is idle, and 21 % of the samples are). Each VM keeps its own size: its
cores, its provisioned MHz and its provisioned memory. July gives each VM's memory demand (the
95th percentile of its memory in use); August and September are replayed, so the memory-aware
policy is judged on months it has not seen.

- **CPU-only**: the hosts accept any RAM (``ram_allocation_ratio = inf``), as CloudSim's
  policies do after creation: LR-MMT-1.2 packs by CPU alone.
- **Memory-aware**: the same fleet; ``-mem`` policies place a VM only where the hosts' VMs'
  memory demand stays within 90 % of the host's RAM.
- **Flavor RAM**: ratio 1.0, Nova's default: a VM needs its provisioned RAM free on its target.

THR-MMT-0.6 is the control: a CPU-only policy that keeps about as many hosts on as the
memory-aware ones, so that what memory awareness buys is not just more hosts.

``memory_overload`` is the share of active host time during which the VMs' memory in use
exceeded the host's RAM.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.overload import DATA, machine  # noqa: E402
from benchmarks.replay import write_section  # noqa: E402
from stackmeter.analysis.replay import parse_policy, replay  # noqa: E402
from stackmeter.models.replay import Fleet, HostGroup, HostType, PowerCurve, VmType, VmTypes  # noqa: E402
from stackmeter.sources.bitbrains import load_bitbrains_file  # noqa: E402

SECTION = "## Consolidation replay: memory (Bitbrains, cpu + memory)"
SOURCE = DATA / "bitbrains_rnd"
INTERVAL_S = 300
MB = 2**20
TRAIN = ("2013-7",)
REPLAYED = ("2013-8", "2013-9")
SEMANTICS = "stackmeter"
# IBM System x3550 M3, 2 × Xeon X5675 (6 cores, 3066 MHz): SPECpower_ssj2008, as CloudSim holds it.
X3550_M3 = HostType(
    name="IBM x3550 M3 (2 × Xeon X5675)",
    pes=12,
    mips_per_pe=3066,
    ram_mb=64 * 1024,
    bandwidth_mbit_s=10_000,
    power=PowerCurve((58.4, 98, 109, 118, 128, 140, 153, 170, 189, 205, 222)),
)
HOSTS = 40
# The fleet's RAM rule: what a host accepts, as Placement's RAM allocation ratio.
RATIOS = {"CPU-only": float("inf"), "memory-aware": float("inf"), "flavor RAM": 1.0}
# (host RAM in GiB, RAM rule, policy). With 48 GiB the largest VM (63.7 GiB provisioned) fits
# no host at its flavor's RAM, so that rule is replayed on 64 GiB only.
RUNS = (
    (64, "CPU-only", "dvfs"),
    (64, "CPU-only", "lr-mmt-1.2"),
    (64, "memory-aware", "lr-mmt-1.2-mem"),
    (64, "CPU-only", "lr-fit-1.1-cap0.75"),
    (64, "memory-aware", "lr-fit-1.1-cap0.75-mem"),
    (64, "CPU-only", "thr-mmt-0.6"),
    (64, "flavor RAM", "lr-mmt-1.2"),
    (64, "flavor RAM", "lr-fit-1.1-cap0.75"),
    (48, "CPU-only", "lr-mmt-1.2"),
    (48, "memory-aware", "lr-mmt-1.2-mem"),
    (48, "CPU-only", "lr-fit-1.1-cap0.75"),
    (48, "memory-aware", "lr-fit-1.1-cap0.75-mem"),
    (48, "CPU-only", "thr-mmt-0.6"),
)


class Traces(NamedTuple):
    """VMs × 5-minute windows of a span, and each VM's size."""

    vms: tuple[str, ...]
    start_s: int
    cpu_mhz: np.ndarray
    memory_mb: np.ndarray
    cores: np.ndarray
    capacity_mhz: np.ndarray
    ram_mb: np.ndarray
    gaps_filled: int


def load(months: tuple[str, ...], vms: tuple[str, ...] | None = None) -> Traces:
    """Each VM's mean CPU MHz and memory MB per 5-minute window over ``months``.

    A window with no sample holds the VM's previous window (its first ones, the next known);
    sizes are the largest cores, MHz and memory provisioned the VM ever had in these months.
    """
    files: dict[str, list[Path]] = {}
    for month in months:
        for path in sorted((SOURCE / month).glob("*.csv.gz")):
            files.setdefault(path.name.removesuffix(".csv.gz"), []).append(path)
    names = tuple(sorted(files, key=int)) if vms is None else vms
    parsed = {name: [load_bitbrains_file(path) for path in files[name]] for name in names}
    times = [
        part.samples.ts.astype("datetime64[s]").astype(np.int64)
        for parts in parsed.values()
        for part in parts
    ]
    start = int(min(t.min() for t in times)) // INTERVAL_S * INTERVAL_S
    end = int(max(t.max() for t in times)) // INTERVAL_S * INTERVAL_S + INTERVAL_S
    windows = (end - start) // INTERVAL_S
    cpu = np.full((len(names), windows), np.nan)
    memory = np.full((len(names), windows), np.nan)
    capacity = np.zeros(len(names))
    ram = np.zeros(len(names))
    for row, name in enumerate(names):
        samples = [part.samples for part in parsed[name]]
        for resource, target in (("cpu", cpu), ("memory", memory)):
            ts = np.concatenate([s.ts[s.resource == resource] for s in samples]).astype("datetime64[s]")
            used = np.concatenate([s.used[s.resource == resource] for s in samples])
            cap = np.concatenate([s.capacity[s.resource == resource] for s in samples])
            window = (ts.astype(np.int64) - start) // INTERVAL_S
            sums = np.bincount(window, weights=used, minlength=windows)
            counts = np.bincount(window, minlength=windows)
            with np.errstate(invalid="ignore"):
                target[row] = sums / counts
            if resource == "cpu":
                capacity[row] = cap.max()
            else:
                target[row] /= MB
                ram[row] = cap.max() / MB
    gaps = int(np.isnan(cpu).sum() + np.isnan(memory).sum())
    for matrix in (cpu, memory):
        _hold(matrix)
    cores = np.array([_cores(name, months) for name in names])
    return Traces(names, start, cpu, memory, cores, capacity, ram, gaps)


def _hold(matrix: np.ndarray) -> None:
    """Fill NaNs in place with the row's previous value (the first ones with the next known)."""
    for row in matrix:
        known = np.flatnonzero(~np.isnan(row))
        if known.size == 0:
            row[:] = 0.0
            continue
        index = np.maximum.accumulate(np.where(np.isnan(row), 0, np.arange(row.size)))
        index[: known[0]] = known[0]
        row[:] = row[index]


def _cores(name: str, months: tuple[str, ...]) -> int:
    """The most cores the VM had (the trace's second column)."""
    most = 0
    for month in months:
        path = SOURCE / month / f"{name}.csv.gz"
        if path.exists():
            column = np.loadtxt(path, delimiter=";", skiprows=1, usecols=1)
            most = max(most, int(np.nanmax(column)) if column.size else 0)
    return most


def sized(traces: Traces) -> tuple[np.ndarray, VmTypes]:
    """The VMs that have cores, MHz and memory, and a VM type of their own for each."""
    keep = np.flatnonzero((traces.cores > 0) & (traces.capacity_mhz > 0) & (traces.ram_mb > 0))
    types = tuple(
        VmType(
            name=traces.vms[i],
            mips_per_pe=float(traces.capacity_mhz[i] / traces.cores[i]),
            pes=int(traces.cores[i]),
            ram_mb=float(traces.ram_mb[i]),
            bandwidth_mbit_s=1000,
        )
        for i in keep
    )
    return keep, VmTypes(types, "round-robin")


def fleet(ram_gib: int, ratio: float) -> Fleet:
    """The benchmark's hosts with that much RAM and a RAM allocation ratio."""
    host = X3550_M3._replace(ram_mb=ram_gib * 1024, ram_allocation_ratio=ratio)
    return Fleet(f"x3550-m3-{HOSTS}", (HostGroup(host, HOSTS),), "grouped")


def run() -> dict[str, Any]:
    """Load the traces, replay every (setup, policy) and return the figures."""
    started = time.perf_counter()
    replayed = load(REPLAYED)
    train = load(TRAIN, replayed.vms)
    load_s = time.perf_counter() - started
    keep, vm_types = sized(replayed)
    utilization = replayed.cpu_mhz[keep] / replayed.capacity_mhz[keep, None]
    memory_mb = replayed.memory_mb[keep]
    demand_mb = np.quantile(train.memory_mb[keep], 0.95, axis=1)
    rows = []
    for ram_gib, setup, policy in RUNS:
        began = time.perf_counter()
        result = replay(
            utilization,
            fleet(ram_gib, RATIOS[setup]),
            vm_types,
            parse_policy(policy),
            SEMANTICS,
            INTERVAL_S,
            memory_mb=memory_mb,
            memory_demand_mb=demand_mb,
        )
        seconds = time.perf_counter() - began
        rows.append((ram_gib, setup, policy, result, seconds))
        print(
            f"{ram_gib} GiB {setup:13} {policy:24} {result.energy_kwh:9.1f} kWh {result.migrations:6d} migrations "
            f"memory overload {result.memory_overload:.4%} SLATAH {result.slatah:.4%} "
            f"hosts {result.step_hosts_active.mean():.2f} ({seconds:.1f} s)",
            flush=True,
        )
    return {
        "rows": rows,
        "vms": len(keep),
        "dropped": len(replayed.vms) - len(keep),
        "windows": utilization.shape[1],
        "gaps": replayed.gaps_filled,
        "load_s": load_s,
        "memory_use_gb": float(memory_mb.sum(axis=0).mean() / 1024),
        "memory_provisioned_gb": float(replayed.ram_mb[keep].sum() / 1024),
        "demand_gb": float(demand_mb.sum() / 1024),
        "start": np.datetime64(replayed.start_s, "s"),
    }


def markdown(figures: dict[str, Any]) -> str:
    """The section for BENCHMARKS.md."""
    lines = [
        f"{SECTION} ({datetime.date.today().isoformat()})",
        "",
        f"Machine: {machine()}. Date: {datetime.date.today().isoformat()}. Dataset: Bitbrains GWA-T-12 "
        f'"Rnd", {figures["vms"]} VMs ({figures["dropped"]} without cores or memory left out), '
        f"{figures['windows']:,} windows of 5 min from {figures['start']}Z (August and September 2013; "
        f"{figures['gaps']:,} empty windows held from the one before), memory demand from July. "
        f"{HOSTS} × {X3550_M3.name}, {X3550_M3.pes} cores × {X3550_M3.mips_per_pe} MHz, 64 or 48 GiB, "
        f"10 Gbit/s; semantics `{SEMANTICS}`. "
        f"Produced by `python benchmarks/replay_memory.py`.",
        "",
        f"The VMs use {figures['memory_use_gb']:.0f} GiB of memory on average, of "
        f"{figures['memory_provisioned_gb']:.0f} GiB provisioned; their July 95th percentiles sum to "
        f"{figures['demand_gb']:.0f} GiB. Reading the three months of files with stackmeter's Bitbrains "
        f"parser took {figures['load_s']:.1f} s.",
        "",
        "| host RAM | RAM rule | policy | energy kWh | migrations | mean hosts on | memory overload "
        "| host-hours out of memory | SLATAH | PDM | replay s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for ram_gib, setup, policy, result, seconds in figures["rows"]:
        active_h = float(result.step_hosts_active.sum()) * INTERVAL_S / 3600
        lines.append(
            f"| {ram_gib} GiB | {setup} | {policy} | {result.energy_kwh:,.1f} | {result.migrations:,} | "
            f"{result.step_hosts_active.mean():.2f} | {result.memory_overload:.3%} | "
            f"{result.memory_overload * active_h:,.1f} | {result.slatah:.3%} | {result.pdm:.4%} | {seconds:.1f} |"
        )
    lines += ["", *findings(figures["rows"])]
    return "\n".join(lines) + "\n"


def findings(rows: list[tuple[int, str, str, Any, float]]) -> list[str]:
    """Each memory-aware policy against the same policy counting CPU only, and against the control."""
    by_key = {(ram, setup, policy): result for ram, setup, policy, result, _ in rows}
    lines = []
    for (ram, setup, policy), aware in by_key.items():
        if setup != "memory-aware":
            continue
        base = by_key[(ram, "CPU-only", policy.removesuffix("-mem"))]
        control = by_key.get((ram, "CPU-only", "thr-mmt-0.6"))
        line = (
            f"- {ram} GiB, `{policy}` against `{policy.removesuffix('-mem')}`: memory overload "
            f"{aware.memory_overload / base.memory_overload:.3f}× ({aware.memory_overload:.3%} against "
            f"{base.memory_overload:.3%}), energy {aware.energy_kwh / base.energy_kwh:.3f}×, migrations "
            f"{aware.migrations / base.migrations:.3f}×, SLATAH {aware.slatah / base.slatah:.3f}×"
        )
        if control is not None:
            line += (
                f"; against the control `thr-mmt-0.6`, memory overload "
                f"{aware.memory_overload / control.memory_overload:.3f}× at {aware.energy_kwh / control.energy_kwh:.3f}× its energy"
            )
        lines.append(line + ".")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", type=Path, help="write the section into this markdown file")
    args = parser.parse_args()
    figures = run()
    text = markdown(figures)
    print(text)
    if args.write:
        write_section(args.write, text, (SECTION,))


if __name__ == "__main__":
    main()
