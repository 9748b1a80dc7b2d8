"""PlanetLab day folders and Azure V1 CPU tables: per-VM CPU utilization samples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models import (
    EMPTY_FILE,
    IMPLAUSIBLE,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    OUT_OF_TIME_DOMAIN,
    TIME_DOMAIN,
    TIME_MAX_NS,
    TIME_MAX_S,
    TIME_MIN_NS,
    TIME_MIN_S,
    WRONG_FORMAT,
    Entity,
    Parsed,
    Rejection,
    concat_samples,
    describe_implausible,
    describe_out_of_domain_s,
    in_time_domain_s,
    make_samples,
    no_samples,
)
from stackmeter.sources.exposition import to_ns
from stackmeter.sources.tables import (
    check_order,
    check_used,
    first_of_equal,
    implausible_of,
    list_files,
    load_bytes,
    path_text,
    split_table,
)

PLANETLAB_STEP_S = 300
AZURE_STEP_S = 300
_DAY_FOLDER = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def find_planetlab_files(path: Path) -> list[Path]:
    """Return the VM files of a day folder, of a folder of day folders, or ``[path]`` for a file.

    :raises SourceUnavailable: when ``path`` does not exist or cannot be listed
    """
    return list_files(path, _day_files)


def _day_files(folder: Path) -> list[Path]:
    """The VM files of a folder, then those of its day folders, each in name order."""
    entries = sorted(folder.iterdir())
    files = [p for p in entries if p.is_file() and not p.name.startswith(".")]
    days = [p for p in entries if p.is_dir() and _DAY_FOLDER.match(p.name)]
    return files + [file for day in days for file in find_planetlab_files(day)]


def day_of(path: Path) -> np.datetime64 | None:
    """Return the day (``datetime64[D]``, UTC) a PlanetLab file belongs to, from its folder's
    ``YYYYMMDD`` name; ``None`` when the folder is not named so or not a date."""
    match = _DAY_FOLDER.match(path.parent.name)
    if not match:
        return None
    try:
        return np.datetime64("-".join(match.groups()), "D")
    except ValueError:
        return None


def load_planetlab_file(path: Path) -> Parsed:
    """Return the CPU samples of one PlanetLab file: line *i* (0-based) is the percent at day + 300·i s."""
    origin = path_text(path)
    day = day_of(path)
    if day is None:
        detail = f"the folder {path_text(path.parent.name)!r} should be the day, named YYYYMMDD"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, None, None, WRONG_FORMAT, detail),))
    day_s = float(day.astype("datetime64[s]").astype(np.int64))
    if not in_time_domain_s(day_s):
        detail = f"the day folder {path_text(path.parent.name)!r} is outside {TIME_DOMAIN}"
        return Parsed(
            origin, no_samples(), rejections=(Rejection(origin, None, None, OUT_OF_TIME_DOMAIN, detail),)
        )
    raw, truncation = load_bytes(path)
    cut = () if truncation is None else (truncation,)
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or not raw.strip():
        return Parsed(origin, no_samples(), rejections=cut or (Rejection(origin, None, None, EMPTY_FILE),))
    rejections: list[Rejection] = []
    percent = None
    if not raw.translate(None, b"0123456789\n") and b"\n\n" not in raw and not raw.startswith(b"\n"):
        # the common case, integer percents one a line: parsed as integers, much faster
        try:
            percent = np.array(raw.split(), dtype=np.int64).astype(np.float64)
        except (OverflowError, ValueError):  # more digits than an integer holds: read as floats below
            percent = None
    if percent is None:
        try:
            percent = np.array(lines).astype(np.float64)
        except ValueError:
            percent = _parse_lines(lines, origin, rejections)
    unreported = ~np.isfinite(percent) & ~_reported(rejections, len(lines))
    for i in np.flatnonzero(unreported):
        rejections.append(
            Rejection(origin, int(i) + 1, None, NOT_A_NUMBER, lines[i][:40].decode("utf-8", "replace"))
        )
    percent[~np.isfinite(percent)] = np.nan
    numbers = np.arange(1, len(lines) + 1)
    ok = check_used(percent, origin, "percent", numbers, rejections)
    ts_s = day_s + PLANETLAB_STEP_S * (numbers - 1.0)
    late = ok & ~in_time_domain_s(ts_s)  # a file of more lines than its day holds, on the last day
    for i in np.flatnonzero(late):
        detail = describe_out_of_domain_s(ts_s[i])
        rejections.append(Rejection(origin, int(i) + 1, None, OUT_OF_TIME_DOMAIN, detail))
    ok &= ~late
    ok &= ~_refuse_implausible_percents(percent, ok, origin, "percent", numbers, rejections)
    index = np.flatnonzero(ok)
    if index.size == 0 and not rejections and not cut:
        rejections.append(Rejection(origin, None, None, EMPTY_FILE))
    ts = (np.int64(day_s) + index.astype(np.int64) * PLANETLAB_STEP_S) * 10**9
    entity = path_text(path.name)
    samples = make_samples(ts.astype("datetime64[ns]"), entity, "cpu", percent[index] / 100.0, 1.0)
    return Parsed(origin, samples, entities=(Entity(entity, "vm"),), rejections=tuple(rejections) + cut)


def _refuse_implausible_percents(
    percent: np.ndarray, ok: np.ndarray, origin: str, field: str, lines: np.ndarray, rejections: list
) -> np.ndarray:
    """Report the usable CPU percents that no real system gives (see ``MAX_UTILIZATION``); return their mask."""
    used = np.where(ok, percent, 0.0) / 100.0
    if not (used > 1.0).any():  # the common case: never above 100 %, plausible whatever the bounds
        return np.zeros(used.size, dtype=bool)
    bad = ok & implausible_of("cpu", used, 1.0)
    for i in np.flatnonzero(bad):
        detail = describe_implausible("cpu", used[i], 1.0)
        rejections.append(Rejection(origin, int(lines[i]), field, IMPLAUSIBLE, detail))
    return bad


def _parse_lines(lines: list[bytes], origin: str, rejections: list[Rejection]) -> np.ndarray:
    values = np.full(len(lines), np.nan)
    for i, line in enumerate(lines):
        try:
            values[i] = float(line)
        except ValueError:
            text = line.decode("utf-8", "replace")[:40]
            rejections.append(Rejection(origin, i + 1, None, NOT_A_NUMBER, repr(text)))
    return values


def _reported(rejections: list[Rejection], count: int) -> np.ndarray:
    mask = np.zeros(count, dtype=bool)
    for rejection in rejections:
        if rejection.line is not None:
            mask[rejection.line - 1] = True
    return mask


def find_azure_files(path: Path) -> list[Path]:
    """Return the Azure tables under ``path`` (a file, or a folder's ``*.csv``).

    :raises SourceUnavailable: when ``path`` does not exist or cannot be listed
    """
    return list_files(path, lambda folder: sorted(p for p in folder.glob("*.csv*") if p.is_file()))


def load_azure_file(path: Path, start: np.datetime64 = np.datetime64(0, "s")) -> Parsed:
    """Return the CPU samples of an Azure V1 table: one column per VM, one row per 5-minute step.

    Row ``t_index = k`` measures the interval ending at ``start + k · 300 s``; a row whose time
    falls outside the domain is refused (``start`` itself may lie outside). Cells are CPU
    percents (the 5-minute max or average, by table); a column ``"<id> <period>"`` of the
    periodic tables is entity ``<id>``.

    :raises ConfigError: when ``start`` is not a time (``NaT``)
    """
    if np.isnat(np.datetime64(start)):
        raise ConfigError("the start of an Azure table must be a time, not NaT")
    origin = path_text(path)
    raw, truncation = load_bytes(path)
    cut = () if truncation is None else (truncation,)
    if not raw.strip():
        return Parsed(origin, no_samples(), rejections=cut or (Rejection(origin, None, None, EMPTY_FILE),))
    if not raw.lstrip().startswith(b"t_index,"):
        first_line = raw.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        detail = f"line 1 should be the Azure header starting 't_index,', found {first_line!r}"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, 1, None, WRONG_FORMAT, detail),))
    table = split_table(raw, origin, b",")
    rejections = table.rejections
    t_index = table.columns[0]
    bad_index = ~np.isnan(t_index) & ((t_index < 0) | (t_index != np.floor(t_index)))
    for i in np.flatnonzero(bad_index):
        rejections.append(
            Rejection(origin, int(table.lines[i]), "t_index", NEGATIVE_VALUE, f"{t_index[i]:g}")
        )
    t_index = np.where(bad_index, np.nan, t_index)
    start_ns = to_ns(np.datetime64(start))
    ts_ns, outside = _azure_times(t_index, start_ns)
    for i in np.flatnonzero(outside):
        seconds = start_ns / 1e9 + float(t_index[i]) * AZURE_STEP_S
        detail = f"t_index {t_index[i]:g}: {describe_out_of_domain_s(seconds)}"
        rejections.append(Rejection(origin, int(table.lines[i]), "t_index", OUT_OF_TIME_DOMAIN, detail))
    t_index[outside] = np.nan
    rows = check_order(t_index, origin, "t_index", table.lines, rejections)
    parts, entities, duplicates = [], [], 0
    for name, percent in zip(table.header[1:], table.columns[1:], strict=True):
        entity = name.split(" ")[0]
        ok = rows & (check_used(percent, origin, name, table.lines, rejections) | ~rows)
        ok &= ~_refuse_implausible_percents(percent, ok, origin, name, table.lines, rejections)
        index = np.flatnonzero(ok)
        first = first_of_equal(t_index[index])  # among equal times the first valid cell wins
        duplicates += int((~first).sum())
        index = index[first]
        parts.append(
            make_samples(ts_ns[index].astype("datetime64[ns]"), entity, "cpu", percent[index] / 100.0, 1.0)
        )
        entities.append(Entity(entity, "vm"))
    samples = concat_samples(parts)
    return Parsed(
        origin, samples, entities=tuple(entities), rejections=tuple(rejections) + cut, duplicates=duplicates
    )


def _azure_times(t_index: np.ndarray, start_ns: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``start + t_index · 300 s`` in nanoseconds (int64, 0 where unusable), and the mask of
    the rows whose time lies outside the domain. ``t_index`` holds whole numbers not below 0,
    ``NaN`` where unusable; ``start_ns`` may be any integer."""
    step_ns = AZURE_STEP_S * 10**9
    with np.errstate(over="ignore", invalid="ignore"):
        seconds = start_ns / 1e9 + t_index * AZURE_STEP_S
    # in seconds first, where nothing wraps, with a margin for rounding; then exactly in integers
    near = (seconds >= TIME_MIN_S - 1) & (seconds < TIME_MAX_S + 1)
    index = np.flatnonzero(near)
    if -(10**18) <= start_ns <= TIME_MAX_NS + 10**18:
        # times near the domain are then at most about 8e18 ns from the start: int64 holds them
        exact = start_ns + t_index[index].astype(np.int64) * step_ns
    else:
        exact = np.array([start_ns + int(t) * step_ns for t in t_index[index]], dtype=object)
    inside = np.zeros(t_index.size, dtype=bool)
    inside[index] = (exact >= TIME_MIN_NS) & (exact < TIME_MAX_NS)
    ts_ns = np.zeros(t_index.size, dtype=np.int64)
    ts_ns[inside] = exact[inside[index]].astype(np.int64)
    return ts_ns, ~np.isnan(t_index) & ~inside
