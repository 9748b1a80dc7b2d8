"""Settings: defaults < ``stackmeter.toml`` < ``STACKMETER_*`` environment < command-line flags."""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from stackmeter.analysis.windows import parse_timescales
from stackmeter.errors import ConfigError
from stackmeter.models import (
    DEFAULT_BACK_WINDOW_S,
    DEFAULT_SHARE,
    DEFAULT_THRESHOLDS,
    DEFAULT_TIMESCALES,
    DEFAULT_TOP,
    MAX_THRESHOLD,
    MAX_TOP,
    RAW,
    RESOURCES,
    ROLLUP_LEVELS,
    TIMESCALES,
)
from stackmeter.units import parse_duration_seconds

__all__ = [
    "MAX_TOP",
    "SETTINGS",
    "SETTINGS_BY_NAME",
    "Setting",
    "Settings",
    "environment_variable",
    "help_for",
    "load_settings",
    "parse_back_window",
    "parse_retention",
    "parse_rollup_levels",
    "parse_thresholds",
]


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


def parse_rollup_levels(text: str) -> tuple[str, ...]:
    """Return rollup levels from ``"5m,1h,1d"`` (any of the timescales; empty for none)."""
    return parse_timescales(text) if text.strip() else ()


def parse_back_window(text: str) -> float | None:
    """Return a back window in seconds from ``"7d"``; ``"none"`` (or nothing) means no limit."""
    return None if text.strip().lower() in ("", "none") else parse_duration_seconds(text)


def parse_retention(text: str) -> dict[str, float]:
    """Return seconds kept per ``raw`` and rollup level, from ``"raw=14d,5m=35d,1h=400d,1d=3650d"``."""
    retention = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, duration = item.partition("=")
        name = name.strip()
        if not sep or name not in (RAW, *TIMESCALES):
            raise ConfigError(
                f"retention {item!r} should read NAME=DURATION with NAME raw or one of {', '.join(TIMESCALES)}"
            )
        retention[name] = parse_duration_seconds(duration)
    return retention


def _share(raw: str | float) -> float:
    value = float(raw)
    if not 0 < value <= 1:
        raise ValueError(f"share must be above 0 and at most 1, got {value}")
    return value


def _bounded_int(low: int, high: int) -> Callable[[str | int], int]:
    def parse(raw: str | int) -> int:
        if isinstance(raw, float) or isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a whole number")
        value = int(str(raw).strip())
        if not low <= value <= high:
            raise ValueError(f"{value} is not between {low} and {high}")
        return value

    return parse


class Setting(NamedTuple):
    """One setting: its name, its default as text, how its text is read, and what it means.

    ``parse(text)`` returns the typed value; with ``takes_numbers`` it also takes numbers (from TOML
    or a typed flag) and checks them as such. A ``secret`` never appears in a ``repr`` (its field
    in :class:`Settings` has ``repr=False``; a test holds the two together).
    """

    name: str
    default_text: str
    parse: Callable[[Any], Any]
    help: str
    secret: bool = False
    takes_numbers: bool = False


SETTINGS = (
    Setting("store", "stackmeter.duckdb", str, "Store location: a DuckDB file, or `:memory:`"),
    Setting(
        "thresholds",
        ",".join(f"{name}={value:g}" for name, value in DEFAULT_THRESHOLDS.items()),
        parse_thresholds,
        "Utilization θ per resource",
    ),
    Setting(
        "share",
        f"{DEFAULT_SHARE:g}",
        _share,
        "Share *s* of a window's samples at or above θ that makes it overloaded",
        takes_numbers=True,
    ),
    Setting("timescales", DEFAULT_TIMESCALES, parse_timescales, "Timescales of the overload report"),
    Setting(
        "top",
        str(DEFAULT_TOP),
        _bounded_int(0, MAX_TOP),
        "How many worst entities a report lists",
        takes_numbers=True,
    ),
    Setting(
        "tokens_file",
        "",
        str,
        "File of API tokens, one `TOKEN ROLE [PROJECT]` a line, role `admin` or `read`",
    ),
    Setting(
        "tokens", "", str, "API tokens inline, in the tokens file format, lines separated by `;`", secret=True
    ),
    Setting(
        "report_cache",
        "64",
        _bounded_int(0, 1_000_000),
        "How many reports the server keeps until the store changes, 0 for none",
        takes_numbers=True,
    ),
    Setting(
        "rollup_levels",
        ",".join(ROLLUP_LEVELS),
        parse_rollup_levels,
        "Rollup levels of the store, empty for none; the commands that write samples or compact build the new ones and drop the others",
    ),
    Setting(
        "back_window",
        f"{DEFAULT_BACK_WINDOW_S // 86_400}d",
        parse_back_window,
        "How much older than its series' latest sample a sample of `collect` or `ingest prometheus` may be; `none` for no limit",
    ),
    Setting(
        "retention",
        "raw=14d,5m=35d,1h=400d,1d=3650d",
        parse_retention,
        "What `stackmeter compact` keeps of raw samples and of each level, counted back from the newest sample",
    ),
    Setting(
        "prometheus_token",
        "",
        str,
        "Bearer token sent to the Prometheus-compatible server of `stackmeter ingest prometheus`",
        secret=True,
    ),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}


def _default(name: str) -> Any:
    setting = SETTINGS_BY_NAME[name]
    return setting.parse(setting.default_text)


def _default_mapping(name: str) -> Callable[[], Mapping[str, float]]:
    return lambda: _default(name)


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a command needs to know, resolved once at the edge and passed down; values are
    parsed (times in seconds, ``back_window`` ``None`` for no limit).

    ``Settings(store=":memory:", share=0.1)``
    """

    store: str = _default("store")
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=_default_mapping("thresholds"))
    share: float = _default("share")
    timescales: tuple[str, ...] = _default("timescales")
    top: int = _default("top")
    tokens_file: str = _default("tokens_file")
    tokens: str = dataclasses.field(default=_default("tokens"), repr=False)
    report_cache: int = _default("report_cache")
    rollup_levels: tuple[str, ...] = _default("rollup_levels")
    back_window: float | None = _default("back_window")
    retention: Mapping[str, float] = dataclasses.field(default_factory=_default_mapping("retention"))
    prometheus_token: str = dataclasses.field(default=_default("prometheus_token"), repr=False)


def environment_variable(name: str) -> str:
    """Return the environment variable of a setting: ``STACKMETER_`` and its name in capitals."""
    return f"STACKMETER_{name.upper()}"


def help_for(name: str, help: str | None = None, environment: bool = False) -> str:
    """Return the help of a setting (or ``help``, an option's own wording of it) with its default:
    ``"<help> [default: <default>]"``; ``environment`` adds the variable that sets it.
    """
    setting = SETTINGS_BY_NAME[name]
    default = [setting.default_text] if setting.default_text else []
    if environment:
        default.append(("or " if default else "") + environment_variable(name))
    return f"{setting.help if help is None else help} [default: {', '.join(default) or 'none'}]"


_NO_ENVIRONMENT: Mapping[str, str] = MappingProxyType({})


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] = _NO_ENVIRONMENT, **flags: object
) -> Settings:
    """Return settings merged from defaults, the TOML ``config_file``, ``STACKMETER_*`` variables of
    ``environ`` and command-line ``flags``; a flag whose value is ``None`` was not given.

    Nothing is read implicitly: the command line passes ``stackmeter.toml`` (when it exists) and
    ``os.environ``. ``load_settings(Path("stackmeter.toml"), os.environ, store="cloud.duckdb")``
    """
    values: dict[str, object] = {}
    if config_file is not None:
        try:
            values.update(tomllib.loads(config_file.read_text()))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {config_file}: {exc}") from exc
    for setting in SETTINGS:
        if environment_variable(setting.name) in environ:
            values[setting.name] = environ[environment_variable(setting.name)]
    unknown = (set(values) | set(flags)) - set(SETTINGS_BY_NAME)
    if unknown:
        valid = ", ".join(setting.name for setting in SETTINGS)
        raise ConfigError(f"unknown setting(s) {', '.join(sorted(unknown))}; valid: {valid}")
    typed: dict[str, Any] = {
        name: _parsed(name, raw) for name, raw in values.items() if name not in flags or flags[name] is None
    }
    # A flag's own message already names it, so its ConfigError is not wrapped.
    typed.update({name: _parsed(name, raw, wrap=False) for name, raw in flags.items() if raw is not None})
    return dataclasses.replace(Settings(), **typed)


def _listed(value: object) -> object:
    """A TOML list or table as the comma-separated text the command line takes."""
    if isinstance(value, Mapping):
        return ",".join(f"{key}={item}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return value


def _parsed(name: str, raw: object, wrap: bool = True) -> object:
    """Return the value of setting ``name`` read from ``raw``; a failure names the setting."""
    setting = SETTINGS_BY_NAME[name]
    text = _listed(raw)
    if not isinstance(text, str) and not setting.takes_numbers:
        text = str(text)
    try:
        return setting.parse(text)
    except ConfigError as exc:
        if not wrap:
            raise
        raise ConfigError(f"invalid setting {name}: {exc}", name) from exc
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid setting {name}: {raw!r}: {exc}", name) from exc
