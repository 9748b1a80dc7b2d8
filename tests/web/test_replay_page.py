"""The replay page in headless Chromium: its table and timelines are `stackmeter replay`'s numbers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.cli.test_replay import CLOUDSIM_DVFS_KWH, DAY
from tests.conftest import ADMIN
from tests.web.browser import WatchedPage, chromium, served

pytestmark = pytest.mark.integration

READ_PAGE = """() => ({
  rows: [...document.querySelectorAll("#replay tbody tr[data-policy]")].map((tr) => ({
    policy: tr.dataset.policy,
    energy_kwh: Number(tr.querySelector("[data-field=energy_kwh]").dataset.value),
    migrations: Number(tr.querySelector("[data-field=migrations]").dataset.value),
    host_shutdowns: Number(tr.querySelector("[data-field=host_shutdowns]").dataset.value),
    vms_removed: Number(tr.querySelector("[data-field=vms_removed]").dataset.value),
    energy_text: tr.querySelector("[data-field=energy_kwh]").innerText.trim(),
  })),
  hosts: window.stackmeterReplayPlots.hosts_active.data,
  energy: window.stackmeterReplayPlots.energy_kwh.data,
})"""


def cli(*args: str) -> dict:
    run = subprocess.run([sys.executable, "-c", "from stackmeter.cli import app; app()", *args, "--json"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The bundled PlanetLab day in a store, and the CLI's replay of it (read before the server opens it)."""
    path = str(tmp_path_factory.mktemp("replay-page") / "day.duckdb")
    subprocess.run([sys.executable, "-c", "from stackmeter.cli import app; app()", "ingest", "planetlab", str(DAY),
                    "--store", path], check=True, capture_output=True, timeout=300)  # fmt: skip
    return path, cli("replay", "--store", path, "--policy", "npa", "--policy", "dvfs")


def test_the_replay_page_shows_the_cli_replay(day):
    path, expected = day
    with open_store(path) as store, served(create_app(Settings(store=path), store=store, tokens=(Token.of(ADMIN, "admin"),))) as url, chromium() as browser:  # fmt: skip
        context = browser.new_context(viewport={"width": 1280, "height": 900}, extra_http_headers={"Authorization": f"Bearer {ADMIN}"})  # fmt: skip
        watched = WatchedPage(context)
        watched.page.goto(f"{url}/replay?policy=npa&policy=dvfs")
        watched.page.wait_for_selector("body[data-replay-drawn]")
        shown = watched.page.evaluate(READ_PAGE)
        watched.screenshot("replay-1280")
        assert [row["policy"] for row in shown["rows"]] == ["npa", "dvfs"]
        for row, policy in zip(shown["rows"], expected["policies"], strict=True):
            for field in ("energy_kwh", "migrations", "host_shutdowns", "vms_removed"):
                assert row[field] == pytest.approx(policy[field]), field
            assert row["energy_text"] == f"{policy['energy_kwh']:,.2f} kWh"
        assert shown["rows"][1]["energy_kwh"] == pytest.approx(CLOUDSIM_DVFS_KWH, abs=0.01)
        # The timelines: every step of each policy, and the energy per step sums to its total.
        assert len(shown["hosts"][0]) == 287
        assert set(shown["hosts"][1]) == {800}  # NPA keeps every host on
        for series, policy in zip(shown["energy"][1:], expected["policies"], strict=True):
            assert sum(v for v in series if v is not None) == pytest.approx(policy["energy_kwh"], rel=1e-9)
        watched.page.set_viewport_size({"width": 1920, "height": 900})
        watched.page.reload()
        watched.page.wait_for_selector("body[data-replay-drawn]")
        watched.screenshot("replay-1920")
        watched.assert_clean()
        context.close()
