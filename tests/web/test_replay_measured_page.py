"""The replay page beside a real consolidated cloud: the run's own figures from its raw records,
and the policies replayed over its window on its fleet, as `stackmeter replay` gives them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from stackmeter import operations
from stackmeter.api import create_app
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.analysis.test_measured import PUBLISHED, RUN, reference_metrics
from tests.conftest import ADMIN, ALPHA, TOKENS

POLICIES = ("dvfs", "thr-mmt-0.8")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("neat-page") / "neat.duckdb")
    with open_store(path) as store:
        operations.ingest_neat(store, RUN)
        expected = operations.replay_store(
            store, POLICIES, "neat-testbed-4", start=operations.measured_run(store).window_start,
            end=operations.measured_run(store).window_end,
        )  # fmt: skip
        with TestClient(create_app(Settings(store=path), store=store, tokens=TOKENS)) as client:
            yield client, expected


def page(client, token: str, query: str) -> str:
    response = client.get(f"/replay?{query}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.text


def cells(html: str, table: str) -> dict[str, list[str]]:
    """The data-value of each data-field in a table's body rows, by field."""
    body = html[html.index(f'<table id="{table}"') :]
    body = body[: body.index("</table>")]
    found: dict[str, list[str]] = {}
    for field, value in re.findall(r'data-field="([a-z_]+)" data-value="([^"]*)"', body):
        found.setdefault(field, []).append(value)
    return found


def test_the_page_shows_the_runs_own_figures_beside_the_replay(served):
    client, expected = served
    html = page(client, ADMIN, "fleet=neat-testbed-4&policy=dvfs&policy=thr-mmt-0.8")
    reference = reference_metrics(RUN, PUBLISHED["thr-0.8-1"][0])
    measured = cells(html, "measured")
    assert float(measured["aitf"][0]) == pytest.approx(reference.aitf, abs=1e-12)
    assert float(measured["aotf"][0]) == pytest.approx(reference.aotf, abs=1e-12)
    assert int(measured["migrations"][0]) == reference.migrations == PUBLISHED["thr-0.8-1"][3]
    # The replay covers the run's window on the chosen fleet: the same numbers as the operation.
    replayed = cells(html, "replay")
    assert [float(v) for v in replayed["energy_kwh"]] == pytest.approx(
        [r.energy_kwh for r in expected.results]
    )
    assert [int(v) for v in replayed["migrations"]] == [r.migrations for r in expected.results]
    assert '<option value="neat-testbed-4" selected>' in html


def test_a_projects_reader_sees_no_run(served):
    client, _ = served
    html = page(client, ALPHA, "fleet=neat-testbed-4")
    assert 'id="measured"' not in html


def test_an_unknown_run_is_a_404_page(served):
    client, _ = served
    response = client.get("/replay?run=nope", headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 404
    assert "no run &#39;nope&#39; in the store" in response.text
