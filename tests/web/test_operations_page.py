"""The dashboard's operations page: the numbers of /api/v1/operations, and a chart that draws in Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.settings import Settings
from tests.bus_store import write_bus_store
from tests.cli.test_serve import wait_until_up
from tests.conftest import ADMIN
from tests.rabbitmq_server import free_port, unavailable

HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def bus_path(tmp_path_factory) -> str:
    return write_bus_store(tmp_path_factory.mktemp("page"), 150)


@pytest.fixture(scope="module")
def client(bus_path):
    with TestClient(create_app(Settings(store=bus_path), tokens=(Token.of(ADMIN, "admin"),))) as test_client:
        yield test_client


def cells(html: str, field: str) -> list[int]:
    return [int(value) for value in re.findall(rf'data-field="{field}" data-value="(\d+)"', html)]


@pytest.mark.parametrize("query", ["timescale=1d", "timescale=1h&operation=create", "timescale=1d&by=flavor"])
def test_the_page_shows_the_api_numbers(client, query):
    page = client.get(f"/operations?{query}", headers=HEADERS)
    api = client.get(f"/api/v1/operations?{query}", headers=HEADERS).json()
    assert page.status_code == 200
    for field in ("count", "success", "error", "timed_out", "without_start"):
        assert cells(page.text, field) == [row[field] for row in api["stats"]], field
    assert f"{api['operations']} operations from the notification bus" in page.text


def test_the_charts_lead_for_one_operation_and_for_all(client):
    for query in ("timescale=1h&operation=reboot", "timescale=1h"):
        page = client.get(f"/operations?{query}", headers=HEADERS).text
        assert 'id="operation-data"' in page and "/static/operations.js" in page
        assert page.index('id="charts"') < page.index('id="operations"')  # charts first, the table below
    # Grouped rows get no chart (a line per host would be unreadable); the page says how to see them.
    grouped = client.get("/operations?timescale=1d&by=flavor", headers=HEADERS).text
    assert 'id="operation-data"' not in grouped and "without grouping" in grouped


def test_bad_choices_are_explained(client):
    page = client.get("/operations?by=colour", headers=HEADERS)
    assert page.status_code == 422 and "cannot group" in page.text


def test_the_page_needs_a_token(client):
    assert client.get("/operations").status_code == 401


@pytest.mark.integration
def test_the_chart_draws_in_chromium(tmp_path):
    browser_path = shutil.which("chromium")
    if browser_path is None:
        unavailable("chromium is not installed")
    from playwright.sync_api import sync_playwright

    bus_path = write_bus_store(tmp_path, 60)  # its own file: the module's app holds the other open
    tokens = tmp_path / "tokens.txt"
    tokens.write_text(f"{ADMIN} admin\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from stackmeter.cli import app; app()", "serve", "--store", bus_path,
               "--port", str(port), "--tokens-file", str(tokens)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(base + "/login", server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=browser_path,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                      "--disable-component-update", "--disable-sync", "--no-first-run"],
            )  # fmt: skip
            page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/login?next=/operations")
            page.fill("#token", ADMIN)
            page.click("#sign-in")
            page.wait_for_url(f"{base}/operations")
            page.select_option("#operation", "reboot")  # applies at once
            page.wait_for_selector("body[data-charts-drawn='2']")  # durations, and failure rate with CPU
            assert page.locator("#operation-chart canvas").count() == 1
            assert page.locator("#operations tbody tr").count() >= 1
            assert errors == []
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
