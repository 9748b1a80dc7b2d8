"""Settings: defaults < ``stackmeter.toml`` < ``STACKMETER_*`` environment < command-line flags."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

from stackmeter.errors import ConfigError
from stackmeter.models import DEFAULT_SHARE, DEFAULT_THRESHOLDS, MAX_THRESHOLD, RESOURCES


class Setting(NamedTuple):
    name: str
    default: object
    help: str


SETTINGS = (
    Setting("store", "stackmeter.duckdb", "Store location: a DuckDB file, or :memory:"),
    Setting("thresholds", "cpu=0.8,memory=0.9,disk=0.8,network=0.8", "Utilization θ per resource"),
    Setting("share", DEFAULT_SHARE, "Share s of a window's samples at or above θ that makes it overloaded"),
    Setting("timescales", "5m,1h,1d,1w,1mo", "Timescales of the overload report"),
    Setting("top", 10, "How many worst entities a report lists"),
    Setting("tokens_file", "", "File of API tokens, one 'TOKEN ROLE [PROJECT]' a line (role admin or read)"),
    Setting("tokens", "", "API tokens inline, in the tokens file format, lines separated by ';'"),
    Setting("report_cache", 64, "How many reports the server keeps until the store changes (0: none)"),
    Setting(
        "rollup_levels",
        "5m,1h,1d",
        "Rollup levels of the store (empty for none); commands that write samples or compact apply them",
    ),
    Setting(
        "back_window",
        "7d",
        "How much older than its series' latest sample a live sample (collect, ingest prometheus) may be; 'none' for no limit",
    ),
    Setting(
        "retention",
        "raw=14d,5m=35d,1h=400d,1d=3650d",
        "What `compact` keeps: raw samples and each rollup level, counted back from the newest sample",
    ),
)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once at the edge and passed down.

    ``Settings(store=":memory:", share=0.1)``
    """

    store: str = "stackmeter.duckdb"
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    share: float = DEFAULT_SHARE
    timescales: str = "5m,1h,1d,1w,1mo"
    top: int = 10
    tokens_file: str = ""
    tokens: str = dataclasses.field(default="", repr=False)
    report_cache: int = 64
    rollup_levels: str = "5m,1h,1d"
    back_window: str = "7d"
    retention: str = "raw=14d,5m=35d,1h=400d,1d=3650d"


def parse_thresholds(text: str, base: Mapping[str, float] | None = None) -> dict[str, float]:
    """Return thresholds from ``"cpu=0.8,memory=0.9"`` over ``base`` (the defaults when omitted)."""
    thresholds = dict(DEFAULT_THRESHOLDS if base is None else base)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in RESOURCES:
            raise ConfigError(
                f"threshold {item!r} should read RESOURCE=VALUE with RESOURCE in {', '.join(RESOURCES)}",
                "threshold",
            )
        try:
            thresholds[name] = float(value)
        except ValueError as exc:
            raise ConfigError(f"threshold {item!r}: {value!r} is not a number", "threshold") from exc
        if not 0 < thresholds[name] <= MAX_THRESHOLD:
            raise ConfigError(
                f"threshold {item!r} must be a utilization above 0 and at most {MAX_THRESHOLD:g}, such as 0.8",
                "threshold",
            )
    return thresholds


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None, **overrides
) -> Settings:
    """Return settings merged from defaults, a TOML file, ``STACKMETER_*`` variables and ``overrides``.

    ``config_file`` defaults to ``stackmeter.toml`` in the current folder when that exists;
    ``overrides`` whose value is ``None`` are ignored (a flag that was not given).
    """
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    path = config_file or (Path("stackmeter.toml") if Path("stackmeter.toml").exists() else None)
    if path is not None:
        try:
            values.update(tomllib.loads(path.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from exc
    for setting in SETTINGS:
        key = f"STACKMETER_{setting.name.upper()}"
        if key in environ:
            values[setting.name] = environ[key]
    values.update({name: value for name, value in overrides.items() if value is not None})
    unknown = set(values) - {setting.name for setting in SETTINGS}
    if unknown:
        valid = ", ".join(setting.name for setting in SETTINGS)
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}; valid: {valid}")
    return _typed(values)


def _listed(value: object) -> str:
    """A TOML list or table as the comma-separated text the command line takes."""
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


# How each setting's value is read; a failure names the setting.
_READERS = {
    "store": str,
    "thresholds": lambda raw: parse_thresholds(
        ",".join(f"{k}={v}" for k, v in raw.items()) if isinstance(raw, Mapping) else str(raw)
    ),
    "share": lambda raw: _share(float(raw)),
    "timescales": str,
    "top": lambda raw: _bounded_int(raw, 0, MAX_TOP),
    "tokens_file": str,
    "tokens": str,
    "report_cache": lambda raw: _bounded_int(raw, 0, 1_000_000),
    "rollup_levels": _listed,
    "back_window": _listed,
    "retention": _listed,
}
# The most worst entities a report lists.
MAX_TOP = 10_000_000


def _share(value: float) -> float:
    if not 0 < value <= 1:
        raise ValueError(f"share must be above 0 and at most 1, got {value}")
    return value


def _bounded_int(raw: object, low: int, high: int) -> int:
    if isinstance(raw, float) or isinstance(raw, bool):
        raise ValueError(f"{raw!r} is not a whole number")
    value = int(str(raw).strip())
    if not low <= value <= high:
        raise ValueError(f"{value} is not between {low} and {high}")
    return value


def _typed(values: dict[str, object]) -> Settings:
    typed = {}
    for name, raw in values.items():
        try:
            typed[name] = _READERS[name](raw)
        except ConfigError as exc:
            raise ConfigError(f"invalid setting {name}: {exc}", name) from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"invalid setting {name}: {raw!r}: {exc}", name) from exc
    return dataclasses.replace(Settings(), **typed)
