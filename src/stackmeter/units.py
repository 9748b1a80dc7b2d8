"""Human units: rates such as ``100MiB/s``, durations such as ``15s`` and UTC times into base units."""

from __future__ import annotations

import math
import re
import warnings
from datetime import UTC, datetime, timedelta

import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models.domain import MAX_DURATION_S, TIME_DOMAIN, TIME_MAX_NS, TIME_MIN_NS

_BYTE_PREFIXES = {
    "": 1,
    "k": 1e3,
    "K": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}
_RATE = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?)\s*([kKMGT]i?)?(B|bit|b)(/s|ps)\s*$")
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

RATE_EXAMPLES = "100MiB/s, 250MB/s, 1Gbit/s, 10Gbps, 125000000B/s"


def parse_bytes_per_second(text: str) -> float:
    """Return a data rate in bytes per second.

    ``B`` is a byte and ``bit``/``b`` a bit; ``k M G T`` are powers of 1000, ``Ki Mi Gi Ti`` of 1024:
    ``parse_bytes_per_second("1Gbit/s") == 125e6``, ``parse_bytes_per_second("100MiB/s") == 104857600``.
    """
    match = _RATE.match(text)
    if not match:
        raise ConfigError(f"cannot read {text!r} as a data rate; examples: {RATE_EXAMPLES}")
    number, prefix, unit, _ = match.groups()
    value = float(number) * _BYTE_PREFIXES[prefix or ""]
    if unit in ("bit", "b"):
        value /= 8
    if not 0 < value < math.inf:
        raise ConfigError(f"data rate {text!r} must be above zero and finite")
    return value


def parse_duration_seconds(text: str) -> float:
    """Return a duration such as ``15s``, ``10m``, ``1h``, ``2d`` or ``500ms`` in seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"cannot read {text!r} as a duration; examples: 500ms, 15s, 10m, 1h, 2d, 1w")
    seconds = float(match.group(1)) * _DURATION_SECONDS[match.group(2)]
    if seconds > MAX_DURATION_S:
        raise ConfigError(f"duration {text!r} is longer than the times stackmeter accepts ({TIME_DOMAIN})")
    return seconds


_UNIX_SECONDS = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
# Four or eight digits are a year or a day (2013, 20130801), not seconds.
_CALENDAR_DIGITS = re.compile(r"^(?:[0-9]{4}|[0-9]{8})$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIME_EXAMPLES = "2013-08-01, 2013-08-01T12:00, 2013-08-01T12:00:00Z, 2013-08-01T14:00+02:00, 1375358400"


def parse_utc_time(text: str | None, name: str) -> np.datetime64 | None:
    """Return a time as UTC ``datetime64[ns]`` (``None`` stays ``None``).

    Takes ISO 8601 (``2013-08-01``, ``20130801``, ``2013-08``, ``2013``, ``2013-08-01T12:00``,
    ``…Z`` or ``…+02:00``; without an offset it is UTC) or Unix seconds (``1375358400``, as the
    Prometheus API does; four or eight digits are a year or a day instead). Every
    time must lie in the domain stackmeter accepts (:data:`~stackmeter.models.domain.TIME_DOMAIN`).

    :param name: the option or parameter the text came from, named in the error
    :raises ConfigError: naming ``name`` when the text is not a time or lies outside the domain
    """
    if text is None:
        return None
    ns = _utc_ns(text.strip(), name)
    if not TIME_MIN_NS <= ns < TIME_MAX_NS:
        raise ConfigError(f"{name}: {text!r} is outside the times stackmeter accepts ({TIME_DOMAIN})", name)
    return np.datetime64(ns, "ns")


def _utc_ns(text: str, name: str) -> int:
    if _UNIX_SECONDS.match(text) and not _CALENDAR_DIGITS.match(text):
        unix_s = float(text)
        if not math.isfinite(unix_s) or abs(unix_s) > 1e12:
            raise ConfigError(
                f"{name}: {text!r} is outside the times stackmeter accepts ({TIME_DOMAIN})", name
            )
        return round(unix_s * 1e9)
    moment: datetime | None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is not None:
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
        return (moment - _EPOCH) // timedelta(microseconds=1) * 1000
    seconds: np.datetime64 | None
    try:
        # numpy reads what fromisoformat does not (a month, ``2013-08``); seconds never wrap. It
        # would take an offset it then ignores, with a warning: a time with one is refused here.
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            seconds = np.datetime64(text.removesuffix("Z"), "s")
    except (ValueError, OverflowError, UserWarning, DeprecationWarning):
        seconds = None
    if seconds is None or np.isnat(seconds):
        raise ConfigError(f"{name}: {text!r} is not a time such as {TIME_EXAMPLES}", name) from None
    return int(seconds.astype(np.int64)) * 10**9


def checked_time(value: np.datetime64, name: str) -> np.datetime64:
    """Return ``value`` as UTC ``datetime64[ns]`` if it lies in the time domain, else raise
    :class:`ConfigError` naming ``name``. A coarse unit (a year 1600 in days) is checked before it
    becomes nanoseconds, where it would wrap around."""
    seconds = np.datetime64(value).astype("datetime64[s]")
    if np.isnat(seconds) or not TIME_MIN_NS // 10**9 <= int(seconds.astype(np.int64)) < TIME_MAX_NS // 10**9:
        raise ConfigError(f"{name} {value} is outside the times stackmeter accepts ({TIME_DOMAIN})", name)
    return np.datetime64(value).astype("datetime64[ns]")


def format_utc(ts: np.datetime64) -> str:
    """``2013-08-01T00:00:00Z``: a time in messages, to the second."""
    return str(np.datetime_as_string(np.datetime64(ts).astype("datetime64[s]"), unit="s")) + "Z"
