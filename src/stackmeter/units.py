"""Human units: rates such as ``100MiB/s``, durations such as ``15s`` and UTC times into base units."""

from __future__ import annotations

import re

import numpy as np

from stackmeter.errors import ConfigError

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
    if value <= 0:
        raise ConfigError(f"data rate {text!r} must be above zero")
    return value


def parse_duration_seconds(text: str) -> float:
    """Return a duration such as ``15s``, ``10m``, ``1h``, ``2d`` or ``500ms`` in seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"cannot read {text!r} as a duration; examples: 500ms, 15s, 10m, 1h, 2d, 1w")
    return float(match.group(1)) * _DURATION_SECONDS[match.group(2)]


def parse_utc_time(text: str | None, name: str) -> np.datetime64 | None:
    """Return a UTC time such as ``2013-08-01`` or ``2013-08-01T12:00Z`` (``None`` stays ``None``).

    :param name: the option or parameter the text came from, named in the error
    """
    if text is None:
        return None
    try:
        return np.datetime64(text.removesuffix("Z"), "ns")
    except ValueError as exc:
        raise ConfigError(f"{name}: {text!r} is not a time such as 2013-08-01 or 2013-08-01T12:00") from exc
