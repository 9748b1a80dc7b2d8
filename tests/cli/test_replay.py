"""`stackmeter replay` over a store: the bundled PlanetLab day, ingested, replayed on the paper's
800 hosts, gives CloudSim 3.0's own figures (recorded peer runs); bad input exits 2 naming it."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import stackmeter
from stackmeter.cli import app

runner = CliRunner()
DAY = Path(stackmeter.__file__).parent / "samples" / "planetlab" / "20110303"
# CloudSim 3.0 (paper-compatible mode, trace files sorted by name) on 20110303: DVFS energy, the
# VMs that vanish once their demand is zero, and the hosts switched off; NPA is every host at
# full power from the first step to the last (86,100.1 s).
CLOUDSIM_DVFS_KWH, CLOUDSIM_VMS_REMOVED, CLOUDSIM_SHUTDOWNS, CLOUDSIM_NPA_KWH = 626.27, 749, 563, 2410.80


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("replay") / "planetlab.duckdb")
    assert invoke("ingest", "planetlab", DAY, "--store", path).exit_code == 0
    return path


def test_the_day_replayed_gives_cloudsims_figures(store):
    result = invoke("replay", "--store", store, "--policy", "npa", "--policy", "dvfs", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["vms"], report["windows"], report["first_window"]) == (1052, 288, "2011-03-03T00:00:00Z")
    assert report["gaps_filled"] == 0
    npa, dvfs = report["policies"]
    assert (npa["policy"], dvfs["policy"]) == ("npa", "dvfs")
    assert npa["energy_kwh"] == pytest.approx(CLOUDSIM_NPA_KWH, abs=0.01)
    assert dvfs["energy_kwh"] == pytest.approx(CLOUDSIM_DVFS_KWH, abs=0.01)
    assert (dvfs["vms_removed"], dvfs["host_shutdowns"], dvfs["migrations"]) == (
        CLOUDSIM_VMS_REMOVED, CLOUDSIM_SHUTDOWNS, 0,
    )  # fmt: skip
    for name in ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv", "host_shutdowns"):
        assert name in dvfs


def test_csv_and_table_carry_the_same_numbers(store):
    whole = json.loads(invoke("replay", "--store", store, "--policy", "dvfs", "--json").stdout)
    rows = list(
        csv.DictReader(io.StringIO(invoke("replay", "--store", store, "--policy", "dvfs", "--csv").stdout))
    )
    assert float(rows[0]["energy_kwh"]) == pytest.approx(whole["policies"][0]["energy_kwh"])
    table = invoke("replay", "--store", store, "--policy", "dvfs").stdout
    assert f"{whole['policies'][0]['energy_kwh']:,.2f}" in table and "1,052 VMs over 288 windows" in table


def test_a_span_replays_only_its_windows(store):
    result = invoke("replay", "--store", store, "--policy", "dvfs", "--from", "2011-03-03T06:00",
                    "--to", "2011-03-03T12:00", "--json")  # fmt: skip
    report = json.loads(result.stdout)
    assert (report["windows"], report["first_window"]) == (72, "2011-03-03T06:00:00Z")


@pytest.mark.parametrize(
    "args, code, message",
    [
        (["--policy", "bogus-mmt-1"], 2, "unknown policy"),
        (["--policy", "dvfs", "--fleet", "no-such-fleet"], 2, "no fleet 'no-such-fleet'"),
        (["--policy", "dvfs", "--semantics", "mine"], 2, "unknown semantics"),
        (["--policy", "dvfs", "--from", "yesterday"], 2, "--from"),
        (["--policy", "dvfs", "--from", "2030-01-01"], 1, "nothing to replay"),
    ],
)
def test_bad_input_exits_naming_it(store, args, code, message):
    result = invoke("replay", "--store", store, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr


def test_a_bad_fleet_file_is_named_with_its_line(store, tmp_path):
    fleet = tmp_path / "lab.toml"
    fleet.write_text('name = "lab"\nhost_order = "sideways"\n')
    result = invoke("replay", "--store", store, "--policy", "dvfs", "--fleet", fleet)
    assert result.exit_code == 1, result.output  # bad input data, as a bad trace file is
    assert str(fleet) in result.stderr and "missing vm_assignment" in result.stderr


def test_a_migrating_policy_replayed_from_the_store_gives_cloudsims_figures(store):
    """LR-MMT-1.2 on 20110303, CloudSim 3.0 paper-compatible (recorded peer run): 93.23 kWh,
    10,808 migrations, SLATAH 3.06 %, PDM 0.05 % — from the ingested day, through the rollups."""
    report = json.loads(invoke("replay", "--store", store, "--policy", "lr-mmt-1.2", "--json").stdout)
    (lr,) = report["policies"]
    assert round(lr["energy_kwh"], 2) == 93.23
    assert lr["migrations"] == 10808
    assert round(100 * lr["slatah"], 2) == 3.06 and round(100 * lr["pdm"], 2) == 0.05


def test_stackmeters_policy_beside_lr_mmt_on_the_same_day(store):
    """lr-fit-1.1-cap0.75 (stackmeter's recommended policy) against LR-MMT-1.2 on the bundled day:
    fewer migrations, less energy and a lower ESV, both in one table, each under its own label."""
    report = json.loads(
        invoke(
            "replay", "--store", store, "--policy", "lr-mmt-1.2", "--policy", "lr-fit-1.1-cap0.75", "--json"
        ).stdout
    )
    lr, ours = report["policies"]
    assert (lr["policy"], ours["policy"]) == ("lr-mmt-1.2", "lr-fit-1.1-cap0.75")
    assert ours["migrations"] < lr["migrations"] / 2
    assert ours["energy_kwh"] < lr["energy_kwh"] and ours["esv"] < lr["esv"]
    # The ESV each reports is its own energy × SLATAH × PDM.
    for row in (lr, ours):
        assert row["esv"] == pytest.approx(row["energy_kwh"] * row["slatah"] * row["pdm"], rel=1e-12)


@pytest.mark.parametrize("policy", ["lr-fit-1.1-cap0", "lr-fit-1.1-cap2", "dvfs-cap0.5", "lr-fit"])
def test_a_bad_evacuation_cap_or_selection_is_refused(store, policy):
    result = invoke("replay", "--store", store, "--policy", policy)
    assert result.exit_code == 2, result.output
    assert "unknown policy" in result.stderr and "lr-fit-1.1-cap0.75" in result.stderr
