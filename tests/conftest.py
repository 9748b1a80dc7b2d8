"""Shared fixtures: an empty store, the small fleet with projects in a store file, and tokens for each kind of access."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from stackmeter.api.auth import Token
from stackmeter.cli import app as cli_app
from stackmeter.store import open_store
from tests.fleet import PROJECTS, write_fleet

# Fuzz tests take their example counts from the profile: "default" is derandomized so that CI
# runs the same examples every time; `pytest --hypothesis-profile=long` runs a deep, random search.
_SLOW = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large]
settings.register_profile(
    "default", max_examples=200, deadline=None, derandomize=True, suppress_health_check=_SLOW
)
settings.register_profile("long", max_examples=5000, deadline=None, suppress_health_check=_SLOW)
settings.load_profile("default")

ADMIN, READ, ALPHA, BETA = (
    "admin-0123456789abcdef",
    "read-0123456789abcdef",
    "alpha-0123456789abcdef",
    "beta-0123456789abcdef",
)
TOKENS = (
    Token.of(ADMIN, "admin"),
    Token.of(READ, "read"),
    Token.of(ALPHA, "read", "alpha"),
    Token.of(BETA, "admin", "beta"),
)


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def cli_json(*args: str):
    return json.loads(run_cli(*args, "--json"))


@pytest.fixture
def store():
    """A fresh, empty store in memory."""
    with open_store(":memory:") as opened:
        yield opened


@pytest.fixture(scope="session")
def fleet_path(tmp_path_factory) -> str:
    """A store file holding the whole fleet (every project)."""
    path = str(tmp_path_factory.mktemp("fleet") / "fleet.duckdb")
    with open_store(path) as store:
        write_fleet(store)
    return path


@pytest.fixture(scope="session")
def alpha_only_path(tmp_path_factory) -> str:
    """A store file holding project alpha's VMs only: what an alpha token must see of the fleet."""
    path = str(tmp_path_factory.mktemp("alpha") / "alpha.duckdb")
    with open_store(path) as store:
        write_fleet(store, {e: p for e, p in PROJECTS.items() if p == "alpha"})
    return path
