"""A replay over a store whose VMs have memory samples (Bitbrains): the memory read back per window
against numpy over the raw files, and memory overload in the CLI's JSON, CSV and table."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from stackmeter.cli import app
from stackmeter.operations.replay import read_demand
from stackmeter.store import open_store
from tests.analysis.test_replay_memory import MONTH, raw_month

runner = CliRunner()

# Three hosts of 16 cores and 16 GiB, memory unbounded by Placement (ratio inf); the VMs get one
# size, 8 cores of 2600 MHz and 20 GiB (the fixture's largest).
FLEET = """\
name = "bitbrains-test"
host_order = "grouped"
vm_assignment = "round-robin"

[[hosts]]
name = "x3550"
count = 3
pes = 16
mips_per_pe = 3066
ram_mb = 16384
ram_allocation_ratio = inf
bandwidth_mbit_s = 10000
power_w = [58.4, 98, 109, 118, 128, 140, 153, 170, 189, 205, 222]

[[vm_types]]
name = "vm"
mips_per_pe = 2600
pes = 8
ram_mb = 20480
bandwidth_mbit_s = 1000
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("bitbrains") / "bitbrains.duckdb")
    result = invoke("ingest", "bitbrains", MONTH, "--store", path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("fleet") / "bitbrains-test.toml"
    path.write_text(FLEET)
    return str(path)


def test_the_memory_read_back_is_the_raw_files_mean_per_window(store):
    cpu, memory, _ = raw_month()
    with open_store(store, create=False) as opened:
        demand = read_demand(opened)
    assert demand.entities == tuple(sorted(p.name.removesuffix(".csv.gz") for p in MONTH.glob("*.csv.gz")))
    assert demand.memory_vms == 4
    assert demand.memory_mb.shape == memory.shape
    np.testing.assert_allclose(demand.memory_mb, memory, rtol=1e-9)
    assert demand.utilization.shape == cpu.shape


def test_memory_overload_is_reported_beside_the_other_figures(store, fleet):
    args = ("replay", "--store", store, "--fleet", fleet, "--semantics", "stackmeter")
    policies = ("--policy", "lr-mmt-1.2", "--policy", "lr-mmt-1.2-mem")
    result = invoke(*args, *policies, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["memory_vms"] == 4
    cpu_only, aware = report["policies"]
    assert aware["policy"] == "lr-mmt-1.2-mem"
    assert 0 < cpu_only["memory_overload"] < 1
    assert aware["memory_overload"] < cpu_only["memory_overload"]
    assert all(isinstance(row["host_wakes"], int) and row["host_wakes"] >= 0 for row in (cpu_only, aware))
    rows = list(csv.DictReader(io.StringIO(invoke(*args, *policies, "--csv").stdout)))
    assert [float(row["memory_overload"]) for row in rows] == pytest.approx(
        [cpu_only["memory_overload"], aware["memory_overload"]]
    )
    table = invoke(*args, *policies).stdout
    assert "memory overload" in table and "Memory in use of 4 VMs replayed" in table
    assert f"{100 * cpu_only['memory_overload']:.3f}%" in table


def test_a_store_without_memory_reports_none(tmp_path, fleet):
    path = tmp_path / "cpu-only.duckdb"
    planetlab = MONTH.parents[1] / "planetlab"
    day = next(p for p in sorted(planetlab.iterdir()) if p.is_dir())
    assert invoke("ingest", "planetlab", day, "--store", path).exit_code == 0
    result = invoke("replay", "--store", path, "--policy", "thr-mmt-0.8", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["memory_vms"] == 0 and report["policies"][0]["memory_overload"] is None
    assert "memory overload" not in invoke("replay", "--store", path, "--policy", "thr-mmt-0.8").stdout
