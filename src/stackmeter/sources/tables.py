"""Reading delimited trace files into numeric columns, with every bad line and field located."""

from __future__ import annotations

import bisect
import csv
import gzip
import io
import os
import zlib
from collections.abc import Callable, Iterable
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
    TRUNCATED_FILE,
    WRONG_FIELD_COUNT,
    Rejection,
    implausible_samples,
    utf8_text,
)

GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes fed to zlib at a time; after a fault the faulty piece is fed again in smaller
# pieces, down to single bytes, so that everything before the fault is kept.
_PIECES = (1 << 20, 1 << 12, 1)


def path_text(path: Path | str) -> str:
    """Return ``path`` as valid UTF-8 text: bytes of its name that are not UTF-8 as ``\\xNN`` escapes."""
    return utf8_text(os.fspath(path))


def list_files(path: Path, listing: Callable[[Path], Iterable[Path]]) -> list[Path]:
    """Return ``[path]`` for a file, else the paths ``listing`` finds in the folder.

    :raises SourceUnavailable: when ``path`` does not exist or cannot be listed
    """
    if not os.path.exists(path):  # False, not OSError, for a name too long
        raise SourceUnavailable(f"{path_text(path)}: no such file or folder")
    if not path.is_dir():
        return [path]
    try:
        return list(listing(path))
    except OSError as exc:
        raise SourceUnavailable(f"{path_text(path)}: cannot list: {exc.strerror or exc}") from exc


def load_bytes(path: Path) -> tuple[bytes, Rejection | None]:
    """Return the content of ``path`` and the truncation found in it, if any.

    A gzip file (known by its magic bytes, not its name) is decompressed member after member.
    When its stream is cut short or corrupt, what decompressed before the fault is kept, less the
    partial line it ends with, and the fault is a :data:`~stackmeter.models.TRUNCATED_FILE`
    rejection at the line where it happened (the first line not kept).

    :raises SourceUnavailable: when the file cannot be read at all
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SourceUnavailable(f"{path_text(path)}: cannot read: {exc.strerror or exc}") from exc
    if raw[:2] != GZIP_MAGIC:
        return raw, None
    try:
        return gzip.decompress(raw), None  # the common case, a whole file, at C speed
    except (OSError, EOFError, zlib.error):
        pass  # cut short or corrupt: salvage what decompresses, piece by piece
    parts: list[bytes] = []
    fault = _gunzip(raw, parts)
    content = b"".join(parts)
    if fault is None:
        return content, None
    content = content[: content.rfind(b"\n") + 1]
    line = content.count(b"\n") + 1
    return content, Rejection(path_text(path), line, None, TRUNCATED_FILE, fault)


def _gunzip(raw: bytes, parts: list[bytes]) -> str | None:
    """Decompress the gzip members of ``raw`` into ``parts``; return what stopped it early, if anything."""
    rest = raw
    while rest:
        rest, fault = _gunzip_member(rest, parts)
        if fault:
            return f"{fault}, in {len(raw):,} compressed bytes"
        rest = rest.lstrip(b"\x00")  # padding after the last member, as gzip allows
        if rest and rest[:2] != GZIP_MAGIC:
            return f"{len(rest):,} bytes after the last gzip member are not gzip"
    return None


def _gunzip_member(data: bytes, parts: list[bytes]) -> tuple[bytes, str | None]:
    """Decompress the gzip member at the start of ``data``; return the bytes after it and the fault."""
    inflater = zlib.decompressobj(wbits=31)
    size = _PIECES[0]
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        before = inflater.copy()
        try:
            parts.append(inflater.decompress(piece))
        except zlib.error as exc:
            _salvage(before, piece, parts, _PIECES[1:])
            return b"", f"corrupt gzip data ({exc})"
        if inflater.eof:
            return inflater.unused_data + data[start + size :], None
    return b"", "the file ends inside a gzip stream"


# zlib._Decompress is typeshed's name for what decompressobj() returns (not exposed at runtime).
def _salvage(inflater: zlib._Decompress, data: bytes, parts: list[bytes], sizes: tuple[int, ...]) -> None:
    """Feed ``data`` again in smaller pieces, keeping what decompresses before the fault."""
    size, smaller = sizes[0], sizes[1:]
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        before = inflater.copy() if smaller else None
        try:
            parts.append(inflater.decompress(piece))
        except zlib.error:
            if before is not None:
                _salvage(before, piece, parts, smaller)
            return


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
        # bytes are data: no quoting, only a line feed ends a line, and bytes that are not UTF-8
        # become U+FFFD in the field, which is then not a number
        quoting=csv.QUOTE_NONE,
        lineterminator="\n",
        encoding_errors="replace",
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


def implausible_of(resource: str, used: np.ndarray, capacity: np.ndarray | float) -> np.ndarray:
    """Return the mask of :func:`~stackmeter.models.implausible_samples` for samples of one resource.

    The one resource is given once and broadcast, rather than repeated in an array of objects as
    long as the samples (which costs more than the test itself).
    """
    used = np.asarray(used, dtype=np.float64)
    capacity = np.broadcast_to(np.asarray(capacity, dtype=np.float64), used.shape)
    mask = implausible_samples(np.array([resource], dtype=object), used, capacity)
    return np.broadcast_to(mask, used.shape)


def check_used(
    values: np.ndarray, origin: str, field: str, lines: np.ndarray, rejections: list
) -> np.ndarray:
    """Return a mask of usable values: numbers (NaN was reported already) that are not negative."""
    negative = values < 0
    for i in np.flatnonzero(negative):
        rejections.append(Rejection(origin, int(lines[i]), field, NEGATIVE_VALUE, f"{values[i]:g}"))
    return ~np.isnan(values) & ~negative


def check_order(ts: np.ndarray, origin: str, field: str, lines: np.ndarray, rejections: list) -> np.ndarray:
    """Return a mask of the rows (time ``NaN`` = unusable) that keep the file in time order.

    When rows are out of order, the longest sequence of rows in order is kept and the others are
    reported: a row earlier than rows before it, or one far ahead of the rows after it, is refused
    alone and does not take the rows around it along. Equal times are in order (duplicates, left
    for :func:`first_of_equal` to count).
    """
    usable = ~np.isnan(ts)
    index = np.flatnonzero(usable)
    values = ts[index]
    if values.size < 2 or (values[1:] >= values[:-1]).all():  # the common case: nothing to look for
        return usable
    kept = _longest_in_order(values)
    earlier_max = np.maximum.accumulate(np.where(kept, values, -np.inf))
    earlier_max = np.concatenate(([-np.inf], earlier_max[:-1]))
    later_min = np.minimum.accumulate(np.where(kept, values, np.inf)[::-1])[::-1]
    later_min = np.concatenate((later_min[1:], [np.inf]))
    for j in np.flatnonzero(~kept):
        if values[j] < earlier_max[j]:
            detail = f"{values[j]:.0f} after {earlier_max[j]:.0f}"
        else:
            detail = f"{values[j]:.0f} before {later_min[j]:.0f}"
        rejections.append(Rejection(origin, int(lines[index[j]]), field, OUT_OF_ORDER, detail))
    usable[index[~kept]] = False
    return usable


def _longest_in_order(values: np.ndarray) -> np.ndarray:
    """Return a mask of a longest non-decreasing subsequence of ``values`` (O(n log n)).

    Among the longest, earlier rows win: of two rows that cannot both be in order, the later is
    left out, unless leaving out the earlier keeps more rows (a lone row far ahead of the rest).
    """
    # longest[i]: length of the longest run in order that starts at row i, found from the end
    # (a non-decreasing run read backwards is non-increasing: negated, non-decreasing again)
    longest = [0] * values.size
    tails: list[float] = []
    for row in range(values.size - 1, -1, -1):
        value = -float(values[row])
        length = bisect.bisect_right(tails, value)
        if length == len(tails):
            tails.append(value)
        else:
            tails[length] = value
        longest[row] = length + 1
    # then the earliest row that can still start a run of the length needed, row after row
    kept = np.zeros(values.size, dtype=bool)
    need, last = len(tails), -np.inf
    for row in range(values.size):
        if need and longest[row] == need and values[row] >= last:
            kept[row] = True
            need, last = need - 1, values[row]
    return kept


def first_of_equal(ts_in_order: np.ndarray) -> np.ndarray:
    """Return a mask keeping the first of each run of equal times (the input is in time order)."""
    return np.concatenate(([True], ts_in_order[1:] != ts_in_order[:-1]))[: ts_in_order.size]
