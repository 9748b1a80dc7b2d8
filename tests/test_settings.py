"""Settings merge defaults < TOML < environment < flags, and refuse what they cannot read."""

from __future__ import annotations

import pytest

from stackmeter.errors import ConfigError
from stackmeter.settings import Settings, load_settings, parse_thresholds


def test_defaults():
    settings = load_settings(environ={})
    assert settings == Settings()
    assert settings.thresholds == {"cpu": 0.8, "memory": 0.9, "disk": 0.8, "network": 0.8}


def test_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "stackmeter.toml"
    config.write_text('store = "a.duckdb"\nshare = 0.1\ntop = 3\n[thresholds]\ncpu = 0.9\n')
    settings = load_settings(
        config, environ={"STACKMETER_SHARE": "0.2", "STACKMETER_STORE": "b.duckdb"}, store="c.duckdb"
    )
    assert (settings.store, settings.share, settings.top) == ("c.duckdb", 0.2, 3)
    assert settings.thresholds["cpu"] == 0.9 and settings.thresholds["memory"] == 0.9


def test_unknown_setting_names_the_valid_ones(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text("colour = 'blue'\n")
    with pytest.raises(ConfigError, match="colour.*valid: store"):
        load_settings(config, environ={})


def test_broken_toml_names_the_file(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text("store = \n")
    with pytest.raises(ConfigError, match="s.toml"):
        load_settings(config, environ={})


def test_thresholds_override_only_what_they_name():
    assert parse_thresholds("memory=0.95", {"cpu": 0.7, "memory": 0.9}) == {"cpu": 0.7, "memory": 0.95}


@pytest.mark.parametrize("text", ["cpu", "cpu=", "cpu=x", "gpu=0.5", "cpu=0", "cpu=-1", "cpu=inf"])
def test_bad_thresholds(text):
    with pytest.raises(ConfigError):
        parse_thresholds(text)


def test_rollup_settings_take_toml_lists_and_tables(tmp_path):
    config = tmp_path / "stackmeter.toml"
    config.write_text(
        'rollup_levels = ["1h", "1d"]\nback_window = "none"\n[retention]\nraw = "30d"\n1h = "400d"\n'
    )
    settings = load_settings(config, environ={"STACKMETER_BACK_WINDOW": "2d"})
    assert (settings.rollup_levels, settings.back_window, settings.retention) == (
        "1h,1d",
        "2d",
        "raw=30d,1h=400d",
    )
    assert load_settings(config, environ={}).back_window == "none"
