"""Fleet files (TOML): the host types, counts and id order of a replay, and its VM types."""

from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path
from typing import Any

from stackmeter.errors import ParseError, SourceUnavailable
from stackmeter.models.replay import (
    HOST_ORDERS,
    POWER_CURVE_POINTS,
    VM_ASSIGNMENTS,
    Fleet,
    FleetFile,
    HostGroup,
    HostType,
    PowerCurve,
    VmType,
    VmTypes,
)
from stackmeter.sources.tables import path_text

TOP_KEYS = ("name", "host_order", "vm_assignment", "hosts", "vm_types")
HOST_KEYS = ("name", "count", "pes", "mips_per_pe", "ram_mb", "bandwidth_mbit_s", "power_w")
# Keys a [[hosts]] table may leave out: Placement's RAM allocation ratio (1.0 by default) and
# the seconds a host takes to wake (0 by default).
HOST_OPTIONAL_KEYS = ("ram_allocation_ratio", "wake_s")
VM_TYPE_KEYS = ("name", "mips_per_pe", "pes", "ram_mb", "bandwidth_mbit_s")

# The fleet files shipped with stackmeter (the paper's 800 PlanetLab hosts among them).
SHIPPED_FLEETS = Path(__file__).parents[1] / "fleets"

_TOML_LINE = re.compile(r"\(at line (\d+), column \d+\)")


def load_fleet(path: Path) -> FleetFile:
    """Read a fleet file (see the shipped ``stackmeter/fleets/planetlab-800.toml``).

    :raises SourceUnavailable: when the file cannot be read
    :raises ParseError: naming the file, the line when it can be found, and the table and key at
        fault (``field``, e.g. ``hosts[2].power_w`` for the second ``[[hosts]]`` table)
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceUnavailable(f"{path_text(path)}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ParseError("a fleet file must be UTF-8 text", path_text(path), line) from exc
    return parse_fleet(text, path_text(path))


def parse_fleet(text: str, path: str = "") -> FleetFile:
    """Return the fleet and VM types a fleet file's text describes; ``path`` names it in errors.

    :raises ParseError: for TOML that does not parse, a missing or unknown key, a value of the
        wrong kind or out of range, a power curve that is not 11 watts rising with load, or two
        host or VM types of one name
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _TOML_LINE.search(str(exc))
        message = _TOML_LINE.sub("", str(exc)).strip()
        raise ParseError(f"not valid TOML: {message}", path, int(found.group(1)) if found else None) from exc
    fail = _Failer(text, path)
    _check_keys(document, TOP_KEYS, TOP_KEYS, None, fail)
    name = _string(document["name"], None, "name", fail)
    groups = tuple(
        _host_group(table, index, fail)
        for index, table in enumerate(_tables(document["hosts"], "hosts", fail), start=1)
    )
    vm_types = tuple(
        _vm_type(table, index, fail)
        for index, table in enumerate(_tables(document["vm_types"], "vm_types", fail), start=1)
    )
    _unique_names([g.host_type.name for g in groups], "hosts", fail)
    _unique_names([t.name for t in vm_types], "vm_types", fail)
    fleet = Fleet(name, groups, _choice(document["host_order"], HOST_ORDERS, None, "host_order", fail))
    assignment = _choice(document["vm_assignment"], VM_ASSIGNMENTS, None, "vm_assignment", fail)
    return FleetFile(fleet, VmTypes(vm_types, assignment))


# A table of an array of tables: its name ("hosts") and 1-based position; None for the top level.
_Table = tuple[str, int] | None


class _Failer:
    """Raises ParseErrors that name the file, the line of the key when it can be found, and the key."""

    def __init__(self, text: str, path: str):
        self.lines = text.splitlines()
        self.path = path

    def __call__(self, table: _Table, key: str | None, message: str) -> ParseError:
        field = _field(table, key)
        where = field if table is None else f"{field} (the [[{table[0]}]] table number {table[1]})"
        return ParseError(
            f"{where}: {message}" if where else message, self.path, self._line(table, key), field or None
        )

    def _line(self, table: _Table, key: str | None) -> int | None:
        """The line of ``key`` in ``table`` (or of the table's header), found by scanning the text."""
        start, seen = 0, 0
        if table is not None:
            header = re.compile(rf"^\s*\[\[\s*{re.escape(table[0])}\s*\]\]")
            for number, line in enumerate(self.lines):
                if header.match(line):
                    seen += 1
                    if seen == table[1]:
                        start = number
                        break
            else:
                return None
        if key is None:
            return start + 1 if table is not None else None
        assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start + (table is not None), len(self.lines)):
            line = self.lines[number]
            if line.lstrip().startswith("["):
                return None
            if assignment.match(line):
                return number + 1
        return None


def _field(table: _Table, key: str | None) -> str:
    """``hosts[2].power_w``, ``hosts[2]`` or ``name``."""
    if table is None:
        return key or ""
    prefix = f"{table[0]}[{table[1]}]"
    return f"{prefix}.{key}" if key else prefix


def _check_keys(
    table: dict[str, Any], allowed: tuple[str, ...], required: tuple[str, ...], where: _Table, fail: _Failer
) -> None:
    """Refuse unknown keys and missing ones, listing what is allowed."""
    unknown = [key for key in table if key not in allowed]
    if unknown:
        raise fail(where, unknown[0], f"unknown key; the keys are {', '.join(allowed)}")
    missing = [key for key in required if key not in table]
    if missing:
        keys = ", ".join(missing)
        raise fail(where, None, f"missing {keys} (every one of {', '.join(required)} is needed)")


def _tables(value: Any, key: str, fail: _Failer) -> list[dict[str, Any]]:
    """The tables of a non-empty array of tables (``[[key]]``)."""
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        raise fail(None, key, f"must be one or more [[{key}]] tables")
    return value


def _host_group(table: dict[str, Any], index: int, fail: _Failer) -> HostGroup:
    """One ``[[hosts]]`` table."""
    where: _Table = ("hosts", index)
    _check_keys(table, HOST_KEYS + HOST_OPTIONAL_KEYS, HOST_KEYS, where, fail)
    host_type = HostType(
        name=_string(table["name"], where, "name", fail),
        pes=_integer(table["pes"], 1, where, "pes", fail),
        mips_per_pe=_positive(table["mips_per_pe"], where, "mips_per_pe", fail),
        ram_mb=_positive(table["ram_mb"], where, "ram_mb", fail),
        bandwidth_mbit_s=_positive(table["bandwidth_mbit_s"], where, "bandwidth_mbit_s", fail),
        power=PowerCurve(_watts(table["power_w"], where, fail)),
        ram_allocation_ratio=_ratio(table.get("ram_allocation_ratio", 1.0), where, fail),
        wake_s=_seconds(table.get("wake_s", 0.0), where, "wake_s", fail),
    )
    return HostGroup(host_type, hosts=_integer(table["count"], 1, where, "count", fail))


def _vm_type(table: dict[str, Any], index: int, fail: _Failer) -> VmType:
    """One ``[[vm_types]]`` table."""
    where: _Table = ("vm_types", index)
    _check_keys(table, VM_TYPE_KEYS, VM_TYPE_KEYS, where, fail)
    return VmType(
        name=_string(table["name"], where, "name", fail),
        mips_per_pe=_positive(table["mips_per_pe"], where, "mips_per_pe", fail),
        pes=_integer(table["pes"], 1, where, "pes", fail),
        ram_mb=_positive(table["ram_mb"], where, "ram_mb", fail),
        bandwidth_mbit_s=_positive(table["bandwidth_mbit_s"], where, "bandwidth_mbit_s", fail),
    )


def _string(value: Any, where: _Table, key: str, fail: _Failer) -> str:
    """A non-blank string."""
    if not isinstance(value, str) or not value.strip():
        raise fail(where, key, f"must be a non-empty string, not {value!r}")
    return value.strip()


def _integer(value: Any, minimum: int, where: _Table, key: str, fail: _Failer) -> int:
    """A whole number ≥ ``minimum`` (TOML's booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(where, key, f"must be a whole number ≥ {minimum}, not {value!r}")
    return value


def _is_number(value: Any) -> bool:
    """Whether ``value`` is a finite TOML integer or float (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _positive(value: Any, where: _Table, key: str, fail: _Failer) -> float:
    """A finite number > 0."""
    if not _is_number(value) or value <= 0:
        raise fail(where, key, f"must be a number > 0, not {value!r}")
    return float(value)


def _seconds(value: Any, where: _Table, key: str, fail: _Failer) -> float:
    """A finite number of seconds ≥ 0."""
    if not _is_number(value) or value < 0:
        raise fail(where, key, f"must be a number of seconds ≥ 0, not {value!r}")
    return float(value)


def _ratio(value: Any, where: _Table, fail: _Failer) -> float:
    """An allocation ratio: a number > 0, or ``inf`` (RAM never refuses a VM)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise fail(where, "ram_allocation_ratio", f"must be a number > 0 or inf, not {value!r}")
    return float(value)


def _watts(value: Any, where: _Table, fail: _Failer) -> tuple[float, ...]:
    """Eleven finite watts ≥ 0 at 0 %, 10 %, …, 100 % load that never fall as load rises."""
    points = f"{POWER_CURVE_POINTS} numbers: the watts at 0 %, 10 %, …, 100 % CPU load"
    if not isinstance(value, list) or len(value) != POWER_CURVE_POINTS:
        count = f"{len(value)} values" if isinstance(value, list) else repr(value)
        raise fail(where, "power_w", f"must be {points}, not {count}")
    for position, watts in enumerate(value):
        if not _is_number(watts) or watts < 0:
            problem = f"{watts!r} at {position * 10} % is not watts ≥ 0"
            raise fail(where, "power_w", f"must be {points}; {problem}")
    for position in range(1, POWER_CURVE_POINTS):
        if value[position] < value[position - 1]:
            raise fail(
                where,
                "power_w",
                f"must not fall as load rises: {value[position - 1]} W at {(position - 1) * 10} % is "
                f"followed by {value[position]} W at {position * 10} %",
            )
    if value[-1] <= 0:
        raise fail(where, "power_w", "a host must draw some power at full load")
    return tuple(float(watts) for watts in value)


def _choice(value: Any, choices: tuple[str, ...], where: _Table, key: str, fail: _Failer) -> str:
    """One of ``choices``."""
    if value not in choices:
        raise fail(where, key, f"must be {' or '.join(repr(c) for c in choices)}, not {value!r}")
    return str(value)


def _unique_names(names: list[str], key: str, fail: _Failer) -> None:
    """Refuse two tables of one name: reports and errors name types by it."""
    seen: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if name in seen:
            raise fail(
                (key, index), "name", f"{name!r} is already the name of [[{key}]] table number {seen[name]}"
            )
        seen[name] = index
