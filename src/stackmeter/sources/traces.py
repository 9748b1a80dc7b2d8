"""PlanetLab day folders and Azure V1 CPU tables: per-VM CPU utilization samples."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from stackmeter.models import (
    EMPTY_FILE,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    WRONG_FORMAT,
    Entity,
    Parsed,
    Rejection,
    concat_samples,
    make_samples,
    no_samples,
)
from stackmeter.sources.tables import check_order, check_used, first_of_equal, load_bytes, split_table

PLANETLAB_STEP = np.timedelta64(300, "s")
AZURE_STEP = np.timedelta64(300, "s")
_DAY_FOLDER = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def find_planetlab_files(path: Path) -> list[Path]:
    """Return the VM files of a day folder, of a folder of day folders, or ``[path]`` for a file."""
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    days = sorted(p for p in path.iterdir() if p.is_dir() and _DAY_FOLDER.match(p.name))
    return files + [file for day in days for file in find_planetlab_files(day)]


def day_of(path: Path) -> np.datetime64 | None:
    """Return midnight UTC of the day a PlanetLab file belongs to, from its folder's ``YYYYMMDD`` name."""
    match = _DAY_FOLDER.match(path.parent.name)
    if not match:
        return None
    try:
        return np.datetime64("-".join(match.groups()), "ns")
    except ValueError:
        return None


def load_planetlab_file(path: Path) -> Parsed:
    """Return the CPU samples of one PlanetLab file: line *i* (0-based) is the percent at day + 300·i s."""
    origin = str(path)
    day = day_of(path)
    if day is None:
        detail = f"the folder {path.parent.name!r} should be the day, named YYYYMMDD"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, None, None, WRONG_FORMAT, detail),))
    raw = load_bytes(path)
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not lines or not raw.strip():
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, None, None, EMPTY_FILE),))
    rejections: list[Rejection] = []
    if not raw.translate(None, b"0123456789\n") and b"\n\n" not in raw and not raw.startswith(b"\n"):
        # the common case, integer percents one a line: parsed as integers, much faster
        percent = np.array(raw.split(), dtype=np.int64).astype(np.float64)
    else:
        try:
            percent = np.array(lines).astype(np.float64)
        except ValueError:
            percent = _parse_lines(lines, origin, rejections)
    unreported = ~np.isfinite(percent) & ~_reported(rejections, len(lines))
    for i in np.flatnonzero(unreported):
        rejections.append(
            Rejection(origin, int(i) + 1, None, NOT_A_NUMBER, lines[i].decode("utf-8", "replace"))
        )
    percent[~np.isfinite(percent)] = np.nan
    ok = check_used(percent, origin, "percent", np.arange(1, len(lines) + 1), rejections)
    index = np.flatnonzero(ok)
    if index.size == 0 and not rejections:
        rejections.append(Rejection(origin, None, None, EMPTY_FILE))
    ts = day + index.astype(np.int64) * PLANETLAB_STEP
    entity = path.name
    samples = make_samples(ts, entity, "cpu", percent[index] / 100.0, 1.0)
    return Parsed(origin, samples, entities=(Entity(entity, "vm"),), rejections=tuple(rejections))


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
        mask[rejection.line - 1] = True
    return mask


def find_azure_files(path: Path) -> list[Path]:
    """Return the Azure tables under ``path`` (a file, or a folder's ``*.csv``)."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.csv*") if p.is_file())
    return [path]


def load_azure_file(path: Path, start: np.datetime64 = np.datetime64(0, "s")) -> Parsed:
    """Return the CPU samples of an Azure V1 table: one column per VM, one row per 5-minute step.

    Row ``t_index = k`` measures the interval ending at ``start + k · 300 s``. Cells are CPU
    percents (the 5-minute max or average, by table); a column ``"<id> <period>"`` of the
    periodic tables is entity ``<id>``.
    """
    origin = str(path)
    raw = load_bytes(path)
    if not raw.strip():
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, None, None, EMPTY_FILE),))
    if not raw.lstrip().startswith(b"t_index,"):
        first = raw.split(b"\n", 1)[0][:60].decode("utf-8", "replace")
        detail = f"line 1 should be the Azure header starting 't_index,', found {first!r}"
        return Parsed(origin, no_samples(), rejections=(Rejection(origin, 1, None, WRONG_FORMAT, detail),))
    table = split_table(raw, origin, b",")
    rejections = table.rejections
    t_index = table.columns[0]
    bad_index = ~np.isnan(t_index) & ((t_index < 0) | (t_index != np.floor(t_index)))
    for i in np.flatnonzero(bad_index):
        rejections.append(
            Rejection(origin, int(table.lines[i]), "t_index", NEGATIVE_VALUE, f"{t_index[i]:g}")
        )
    rows = check_order(np.where(bad_index, np.nan, t_index), origin, "t_index", table.lines, rejections)
    start = np.datetime64(start, "ns")
    parts, entities, duplicates = [], [], 0
    for name, percent in zip(table.header[1:], table.columns[1:], strict=True):
        entity = name.split(" ")[0]
        index = np.flatnonzero(rows & (check_used(percent, origin, name, table.lines, rejections) | ~rows))
        first = first_of_equal(t_index[index])  # among equal times the first valid cell wins
        duplicates += int((~first).sum())
        index = index[first]
        ts = start + t_index[index].astype(np.int64) * AZURE_STEP
        parts.append(make_samples(ts, entity, "cpu", percent[index] / 100.0, 1.0))
        entities.append(Entity(entity, "vm"))
    samples = concat_samples(parts)
    return Parsed(
        origin, samples, entities=tuple(entities), rejections=tuple(rejections), duplicates=duplicates
    )
