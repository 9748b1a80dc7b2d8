"""Rows of a CSV table read field by field: each unusable line or field a located rejection."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stackmeter.errors import ParseError
from stackmeter.models import (
    BAD_TIMESTAMP,
    EMPTY_FILE,
    NEGATIVE_VALUE,
    NOT_A_NUMBER,
    WRONG_FIELD_COUNT,
    WRONG_FORMAT,
    Rejection,
)
from stackmeter.sources.tables import load_bytes, path_text

# Reasons a line is kept out, beside the shared ones (stackmeter.models).
NOT_A_FLAG = "not 0 or 1"
DUPLICATE_ID = "duplicate id"
NOT_TEXT = "not UTF-8 text"
BLANK_NAME = "blank name"

_WALL_TIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})([.,]\d{1,9})?$")
_INTEGER = re.compile(r"^-?\d{1,18}$")
_US = 1_000_000


class BadField(Exception):
    """A field of a line that cannot be used; becomes a :class:`Rejection` of that line."""

    def __init__(self, field: str, reason: str, detail: str = ""):
        super().__init__(detail)
        self.field, self.reason, self.detail = field, reason, detail


def read_rows(
    path: Path, columns: tuple[str, ...], rejections: list[Rejection]
) -> list[tuple[int, list[str]]]:
    """Return ``(line number, fields in the order of columns)`` of each usable line of a CSV table.

    :raises ParseError: when the header lacks one of ``columns``
    """
    origin = path_text(path)
    raw, truncation = load_bytes(path)
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    if not raw.strip():
        rejections.append(truncation or Rejection(origin, None, None, EMPTY_FILE))
        return []
    header = [name.strip() for name in _fields(lines[0].decode("utf-8", "replace").lstrip("\ufeff"))]
    for column in columns:
        if column not in header:
            found = ", ".join(header)[:80]
            raise ParseError(
                f"the header has no column {column!r} (the table has {', '.join(columns)}; found {found!r})",
                origin,
                1,
                column,
            )
    index = [header.index(column) for column in columns]
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            fields = _fields(line.decode("utf-8"))
        except UnicodeDecodeError:
            rejections.append(Rejection(origin, number, None, NOT_TEXT, repr(line[:40])))
            continue
        except csv.Error as exc:
            rejections.append(Rejection(origin, number, None, WRONG_FORMAT, str(exc)))
            continue
        if len(fields) != len(header):
            detail = f"{len(fields)} fields, the header has {len(header)}"
            rejections.append(Rejection(origin, number, None, WRONG_FIELD_COUNT, detail))
            continue
        rows.append((number, [fields[i].strip() for i in index]))
    if truncation is not None:
        rejections.append(truncation)
    return rows


def _fields(text: str) -> list[str]:
    return next(csv.reader([text]), [])


def first_of_each_id(path: Path, rows: list, rejections: list[Rejection]) -> list:
    """Keep the first row of each id (rows are ``(line, id, …)``); reject the later ones."""
    seen: set[int] = set()
    kept = []
    for row in rows:
        if row[1] in seen:
            rejections.append(Rejection(path_text(path), row[0], "id", DUPLICATE_ID, f"id {row[1]} again"))
            continue
        seen.add(row[1])
        kept.append(row)
    return kept


def integer_field(value: str, field: str, minimum: int = 0) -> int:
    if not _INTEGER.match(value):
        raise BadField(field, NOT_A_NUMBER, repr(value[:40]))
    number = int(value)
    if number < minimum:
        raise BadField(field, NEGATIVE_VALUE if number < 0 else NOT_A_NUMBER, f"{number} is below {minimum}")
    return number


def positive_field(value: str, field: str) -> float:
    number = number_field(value, field)
    if number <= 0:
        raise BadField(field, NEGATIVE_VALUE, f"{number:g} is not above 0")
    return number


def number_field(value: str, field: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise BadField(field, NOT_A_NUMBER, repr(value[:40])) from None
    if not math.isfinite(number):
        raise BadField(field, NOT_A_NUMBER, repr(value[:40]))
    return number


def flag_field(value: str, field: str) -> bool:
    if value not in ("0", "1"):
        raise BadField(field, NOT_A_FLAG, repr(value[:40]))
    return value == "1"


def name_field(value: str, field: str) -> str:
    if not value:
        raise BadField(field, BLANK_NAME)
    return value


def wall_time_us(value: str, field: str) -> int:
    """A local time ``YYYY-MM-DD HH:MM:SS`` (a fraction after ``.`` or ``,`` allowed), as
    microseconds since 1970 on the same clock."""
    match = _WALL_TIME.match(value)
    if not match:
        raise BadField(field, BAD_TIMESTAMP, f"{value[:40]!r} is not YYYY-MM-DD HH:MM:SS")
    day, clock, fraction = match.groups()
    try:
        moment = np.datetime64(f"{day}T{clock}", "s")
    except ValueError:
        raise BadField(field, BAD_TIMESTAMP, f"{value[:40]!r} is not a date and time") from None
    us = int(moment.astype(np.int64)) * _US
    if fraction:
        us += int(round(float("0." + fraction[1:]) * _US))
    return us


def convert_rows(
    path: Path,
    columns: tuple[str, ...],
    rejections: list[Rejection],
    convert: Callable[[dict[str, str]], tuple],
) -> list[tuple]:
    """Convert each usable line with ``convert(fields)``, setting the first item of what it returns
    to the line number; a :class:`BadField` field rejects its line. The file's rejections are added
    to ``rejections`` in line order."""
    origin = path_text(path)
    found: list[Rejection] = []
    converted = []
    for number, fields in read_rows(path, columns, found):
        try:
            row = convert(dict(zip(columns, fields, strict=True)))
        except BadField as bad:
            found.append(Rejection(origin, number, bad.field, bad.reason, bad.detail))
            continue
        converted.append((number, *row[1:]))
    rejections.extend(sorted(found, key=lambda r: (r.line is None, r.line or 0)))
    return converted
