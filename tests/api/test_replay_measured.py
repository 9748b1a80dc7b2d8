"""`GET /api/v1/replay?measured=true`: the CLI's measured run, alone and beside a policy; none for a project."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.settings import Settings
from tests.cli.test_replay_measured import RUN, cli_json, invoke
from tests.conftest import ADMIN, ALPHA, TOKENS


@pytest.fixture(scope="module")
def neat_store(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("neat-api") / "neat.duckdb")
    assert invoke("ingest", "neat", RUN, "--store", path).exit_code == 0
    return path


@pytest.fixture(scope="module")
def client(neat_store):
    with TestClient(create_app(Settings(store=neat_store), tokens=TOKENS)) as test_client:
        yield test_client


def get(client, url: str, token: str = ADMIN):
    return client.get(url, headers={"Authorization": f"Bearer {token}"})


def test_measured_equals_the_cli(client, neat_store):
    answer = get(client, "/api/v1/replay?measured=true")
    assert answer.status_code == 200, answer.text
    assert answer.json() == cli_json("replay", "--store", neat_store, "--measured")
    assert {"aitf", "aotf", "migrations", "energy_kwh"} <= set(answer.json())
    csv_text = get(client, "/api/v1/replay?measured=true&format=csv").text
    assert csv_text == invoke("replay", "--store", neat_store, "--measured", "--csv").stdout


def test_measured_beside_a_policy_equals_the_cli(client, neat_store):
    answer = get(client, "/api/v1/replay?measured=true&policy=thr-mmt-0.8&fleet=neat-testbed-4").json()
    assert answer == cli_json(
        "replay", "--store", neat_store, "--measured", "--policy", "thr-mmt-0.8", "--fleet", "neat-testbed-4"
    )
    assert answer["measured"]["run"] == "thr-0.8-1" and len(answer["policies"]) == 1


def test_a_project_sees_no_run_and_nothing_asked_is_a_422(client):
    refused = get(client, "/api/v1/replay?measured=true", ALPHA)
    assert refused.status_code == 404 and "no consolidation run" in refused.json()["detail"]
    nothing = get(client, "/api/v1/replay")
    assert nothing.status_code == 422 and nothing.json()["where"] == "policy"
    unknown = get(client, "/api/v1/replay?measured=true&run=nope")
    assert unknown.status_code == 404 and "no run 'nope'" in unknown.json()["detail"]
    alone = get(client, "/api/v1/replay?run=thr-0.8-1")
    assert alone.status_code == 422 and alone.json()["where"] == "run"


def test_openapi_documents_measured(client):
    operation = client.app.openapi()["paths"]["/api/v1/replay"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"measured", "run", "policy"} <= names
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"aitf", "aotf", "migrations", "energy_kwh"} <= set(schema["oneOf"][0]["properties"])
