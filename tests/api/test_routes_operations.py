"""``/api/v1/operations``: the numbers of ``stackmeter operations``, scoped to a token's project."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.auth import Token
from stackmeter.settings import Settings
from tests.bus_store import write_bus_store
from tests.conftest import ADMIN, cli_json

PROJECT_TOKEN = "project3-0123456789abcdef"


@pytest.fixture(scope="module")
def bus_path(tmp_path_factory) -> str:
    return write_bus_store(tmp_path_factory.mktemp("bus"), 200, seed=4, malformed=10)


@pytest.fixture(scope="module")
def client(bus_path):
    tokens = (Token.of(ADMIN, "admin"), Token.of(PROJECT_TOKEN, "read", "project-3"))
    with TestClient(create_app(Settings(store=bus_path), tokens=tokens)) as test_client:
        yield test_client


def get(client, url, token=ADMIN):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_same_numbers_as_the_cli(client, bus_path):
    response = get(client, "/api/v1/operations?timescale=1d&by=host")
    assert response.status_code == 200
    cli = cli_json("operations", "--store", bus_path, "--timescale", "1d", "--by", "host")
    assert response.json() == cli
    assert response.json()["operations"] > 200


def test_csv(client):
    response = get(client, "/api/v1/operations?timescale=1h&operation=create&format=csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert response.headers["content-type"].startswith("text/csv")
    assert rows and {row["operation"] for row in rows} == {"create"}


def test_a_project_token_sees_its_project_operations_only(client):
    everyone = get(client, "/api/v1/operations?timescale=1d&by=project").json()["stats"]
    mine = [row for row in everyone if row["project"] == "project-3"]
    scoped = get(client, "/api/v1/operations?timescale=1d", PROJECT_TOKEN).json()["stats"]
    assert mine and len(mine) < len(everyone)
    for column in ("count", "success", "error", "timed_out", "without_start", "max_s"):
        assert [row[column] for row in scoped] == [row[column] for row in mine], column


def test_bad_options_are_refused_with_the_reason(client):
    for query, reason in (("by=colour", "cannot group"), ("timescale=2h", "unknown timescale")):
        response = get(client, f"/api/v1/operations?{query}")
        assert response.status_code == 422 and reason in response.text
