"""Reading delimited trace files into numeric columns, with every bad line and field located."""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from stackmeter.errors import SourceUnavailable
from stackmeter.models import (
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    NOT_FINITE,
    OUT_OF_ORDER,
    WRONG_FIELD_COUNT,
    Rejection,
)


def load_bytes(path: Path) -> bytes:
    """Return the content of ``path``, gunzipped when it is gzip (by its magic bytes, not its name)."""
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as exc:
        raise SourceUnavailable(f"{path}: cannot read: {exc}") from exc
    return raw


class Table(NamedTuple):
    """Numeric columns of the well-formed lines of a delimited file.

    ``columns[j]`` is ``float64`` with ``NaN`` where a field was not a number (already reported
    in ``rejections``); ``lines`` gives the 1-based line number of each row.
    """

    header: list[str]
    lines: np.ndarray
    columns: list[np.ndarray]
    rejections: list[Rejection]


def split_table(raw: bytes, origin: str, separator: bytes, skip_space: bool = False) -> Table:
    """Return the numeric :class:`Table` of ``raw``, whose first line is a header.

    Lines whose field count differs from the header's are rejected whole; empty lines are not
    data and are skipped. The split is vectorised: bad lines cost extra only when present.
    """
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    header_end = raw.find(b"\n")
    header_bytes = raw if header_end < 0 else raw[:header_end]
    header = [name.strip() for name in header_bytes.decode("utf-8", "replace").split(separator.decode())]
    body = b"" if header_end < 0 else raw[header_end + 1 :]
    starts, ends = _line_bounds(body)
    delimiters = np.flatnonzero(np.frombuffer(body, np.uint8) == separator[0])
    fields = np.searchsorted(delimiters, ends) - np.searchsorted(delimiters, starts) + 1
    empty = ends == starts
    good = (fields == len(header)) & ~empty
    rejections = [
        Rejection(
            origin, int(i) + 2, None, WRONG_FIELD_COUNT, f"expected {len(header)} fields, found {fields[i]}"
        )
        for i in np.flatnonzero(~good & ~empty)
    ]
    lines = np.flatnonzero(good) + 2
    if not good.all():
        body = b"\n".join(body[starts[i] : ends[i]] for i in np.flatnonzero(good))
    if lines.size == 0:
        return Table(header, lines, [np.empty(0) for _ in header], rejections)
    frame = pd.read_csv(
        io.BytesIO(body),
        sep=separator.decode(),
        header=None,
        names=list(range(len(header))),
        skipinitialspace=skip_space,
        na_filter=False,
        skip_blank_lines=False,
        engine="c",
    )
    columns = [_numeric(frame[j], origin, header[j], lines, rejections) for j in range(len(header))]
    return Table(header, lines, columns, rejections)


def _line_bounds(body: bytes) -> tuple[np.ndarray, np.ndarray]:
    newlines = np.flatnonzero(np.frombuffer(body, np.uint8) == 10)
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [len(body)]))
    if starts.size and starts[-1] == len(body):
        starts, ends = starts[:-1], ends[:-1]
    return starts, ends


def _numeric(column: pd.Series, origin: str, field: str, lines: np.ndarray, rejections: list) -> np.ndarray:
    if column.dtype.kind in "iuf":
        values = np.array(column.to_numpy(), dtype=np.float64)
    else:
        text = column.astype(str).str.strip()
        values = np.array(pd.to_numeric(text, errors="coerce").to_numpy(), dtype=np.float64)
        for i in np.flatnonzero(np.isnan(values)):
            rejections.append(Rejection(origin, int(lines[i]), field, NOT_A_NUMBER, repr(text.iloc[i])[:40]))
    infinite = np.flatnonzero(np.isinf(values))
    for i in infinite:
        rejections.append(Rejection(origin, int(lines[i]), field, NOT_FINITE, str(values[i])))
    values[infinite] = np.nan
    return values


def check_used(
    values: np.ndarray, origin: str, field: str, lines: np.ndarray, rejections: list
) -> np.ndarray:
    """Return a mask of usable values: numbers (NaN was reported already) that are not negative."""
    negative = values < 0
    for i in np.flatnonzero(negative):
        rejections.append(Rejection(origin, int(lines[i]), field, NEGATIVE_VALUE, f"{values[i]:g}"))
    return ~np.isnan(values) & ~negative


def check_order(ts: np.ndarray, origin: str, field: str, lines: np.ndarray, rejections: list) -> np.ndarray:
    """Return a mask of rows whose time (``NaN`` = unusable) is not before an earlier row's.

    A row earlier than one before it is out of order and reported; equal times are duplicates,
    left for :func:`first_of_equal` to count.
    """
    usable = ~np.isnan(ts)
    previous_max = np.maximum.accumulate(np.where(usable, ts, -np.inf))
    previous_max = np.concatenate(([-np.inf], previous_max[:-1]))
    late = usable & (ts < previous_max)
    for i in np.flatnonzero(late):
        detail = f"{ts[i]:.0f} after {previous_max[i]:.0f}"
        rejections.append(Rejection(origin, int(lines[i]), field, OUT_OF_ORDER, detail))
    return usable & ~late


def first_of_equal(ts_in_order: np.ndarray) -> np.ndarray:
    """Return a mask keeping the first of each run of equal times (the input is in time order)."""
    return np.concatenate(([True], ts_in_order[1:] != ts_in_order[:-1]))[: ts_in_order.size]
