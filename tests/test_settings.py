"""Settings merge defaults < TOML < environment < flags, and refuse what they cannot read."""

from __future__ import annotations

import dataclasses

import pytest

from stackmeter.errors import ConfigError
from stackmeter.settings import (
    SETTINGS,
    Settings,
    help_for,
    load_settings,
    parse_back_window,
    parse_retention,
    parse_rollup_levels,
    parse_thresholds,
)


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
    # the values are parsed: the same as the command line's "1h,1d", "2d" and "raw=30d,1h=400d"
    assert (settings.rollup_levels, settings.back_window, settings.retention) == (
        parse_rollup_levels("1h,1d"),
        parse_back_window("2d"),
        parse_retention("raw=30d,1h=400d"),
    )
    assert load_settings(config, environ={}).back_window == parse_back_window("none")


def test_settings_defaults_are_the_table_parsed():
    assert Settings() == Settings(
        **{setting.name: setting.parse(setting.default_text) for setting in SETTINGS}
    )
    assert Settings().timescales == ("5m", "1h", "1d", "1w", "1mo") and Settings().back_window == 7 * 86_400


def test_the_settings_fields_are_the_table_rows():
    fields = dataclasses.fields(Settings)
    assert [field.name for field in fields] == [setting.name for setting in SETTINGS]
    assert {field.name for field in fields if not field.repr} == {s.name for s in SETTINGS if s.secret}


def test_help_gives_the_default_and_the_variable():
    assert help_for("share") == (
        "Share *s* of a window's samples at or above θ that makes it overloaded [default: 0.05]"
    )
    assert help_for("store", "Store file.", environment=True) == (
        "Store file. [default: stackmeter.duckdb, or STACKMETER_STORE]"
    )
    assert help_for("tokens_file", "Tokens.", environment=True) == "Tokens. [default: STACKMETER_TOKENS_FILE]"


def test_secrets_stay_out_of_the_repr():
    settings = load_settings(
        environ={"STACKMETER_PROMETHEUS_TOKEN": "s3cret-token", "STACKMETER_TOKENS": "t0k"}
    )
    assert settings.prometheus_token == "s3cret-token"
    assert "s3cret-token" not in repr(settings) and "t0k" not in repr(settings)


@pytest.mark.parametrize(
    "environ, flags, message",
    [
        ({"STACKMETER_SHARE": "2"}, {}, "invalid setting share: '2': share must be above 0"),
        ({}, {"share": 0.0}, "invalid setting share: 0.0: share must be above 0"),
        ({"STACKMETER_TOP": "many"}, {}, "invalid setting top"),
        ({"STACKMETER_TIMESCALES": "2h"}, {}, "invalid setting timescales: unknown timescale '2h'"),
        ({"STACKMETER_RETENTION": "x=1d"}, {}, "invalid setting retention: retention 'x=1d' should read"),
        # a flag's message names the flag already
        ({}, {"timescales": "2h"}, "^unknown timescale '2h'"),
        ({}, {"back_window": "soon"}, "^cannot read 'soon' as a duration"),
    ],
)
def test_bad_values_name_the_setting(environ, flags, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(environ=environ, **flags)


def test_a_flag_overrides_a_bad_variable():
    assert load_settings(environ={"STACKMETER_SHARE": "2"}, share=0.5).share == 0.5


def test_toml_numbers_are_checked_as_numbers(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text("top = 2.5\n")
    with pytest.raises(ConfigError, match="2.5 is not a whole number"):
        load_settings(config)
