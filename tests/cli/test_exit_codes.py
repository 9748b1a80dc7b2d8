"""Exit codes come from one place: 2 for an invalid option or setting, 1 for what the store refuses."""

from __future__ import annotations

from typer.testing import CliRunner

from stackmeter.cli import app
from tests.reference import FIXTURES

BITBRAINS_AUGUST = str(FIXTURES / "bitbrains" / "2013-8")


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), env=env)


def test_a_level_the_store_can_no_longer_build_exits_1_not_2(tmp_path):
    store = str(tmp_path / "s.duckdb")
    assert invoke("ingest", "bitbrains", BITBRAINS_AUGUST, "--store", store).exit_code == 0
    env = {"STACKMETER_RETENTION": "raw=5d"}
    assert invoke("compact", "--store", store, env=env).exit_code == 0
    # Compaction dropped raw samples: a 1w level cannot be built any more. The option is valid;
    # the store refuses, so this is exit 1 with the store's reason.
    refused = invoke("compact", "--store", store, env={**env, "STACKMETER_ROLLUP_LEVELS": "5m,1h,1d,1w"})
    assert refused.exit_code == 1, refused.output
    assert "Error: rollup level 1w cannot be added" in refused.output


def test_an_invalid_setting_exits_2_naming_it(tmp_path):
    result = invoke("entities", "--store", str(tmp_path / "s.duckdb"), env={"STACKMETER_TOP": "many"})
    assert result.exit_code == 2
    assert "invalid setting top" in result.output
