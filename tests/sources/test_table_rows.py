"""Rows of a CSV table field by field: each converter's answer or refusal, and lines located."""

from __future__ import annotations

from datetime import datetime

import pytest

from stackmeter.errors import ParseError
from stackmeter.models import BAD_TIMESTAMP, EMPTY_FILE, NEGATIVE_VALUE, NOT_A_NUMBER, WRONG_FIELD_COUNT
from stackmeter.sources.table_rows import (
    BLANK_NAME,
    DUPLICATE_ID,
    NOT_A_FLAG,
    NOT_TEXT,
    BadField,
    convert_rows,
    first_of_each_id,
    flag_field,
    integer_field,
    name_field,
    number_field,
    positive_field,
    wall_time_us,
)


def _us(text: str) -> int:
    return int((datetime.fromisoformat(text) - datetime(1970, 1, 1)).total_seconds() * 1_000_000)


@pytest.mark.parametrize(
    "convert, text, expected",
    [
        (integer_field, "42", 42),
        (integer_field, "-0", 0),
        (number_field, "2.5", 2.5),
        (number_field, "1e3", 1000.0),
        (positive_field, "22336", 22336.0),
        (flag_field, "1", True),
        (flag_field, "0", False),
        (name_field, "compute1", "compute1"),
        (wall_time_us, "2013-03-13 11:08:26", _us("2013-03-13T11:08:26")),
        (wall_time_us, "2013-03-13 11:13:26,256", _us("2013-03-13T11:13:26.256")),
        (wall_time_us, "1970-01-01T00:00:00.5", 500_000),
    ],
)
def test_a_field_converts(convert, text, expected):
    assert convert(text, "f") == expected


@pytest.mark.parametrize(
    "convert, text, reason",
    [
        (integer_field, "4.0", NOT_A_NUMBER),
        (integer_field, "1_000", NOT_A_NUMBER),
        (integer_field, "-3", NEGATIVE_VALUE),
        (integer_field, "9" * 30, NOT_A_NUMBER),
        (number_field, "nan", NOT_A_NUMBER),
        (number_field, "inf", NOT_A_NUMBER),
        (number_field, "", NOT_A_NUMBER),
        (positive_field, "0", NEGATIVE_VALUE),
        (flag_field, "2", NOT_A_FLAG),
        (flag_field, "true", NOT_A_FLAG),
        (name_field, "", BLANK_NAME),
        (wall_time_us, "2013-03-13", BAD_TIMESTAMP),
        (wall_time_us, "2013-13-01 00:00:00", BAD_TIMESTAMP),
        (wall_time_us, "13/03/2013 11:08:26", BAD_TIMESTAMP),
    ],
)
def test_a_bad_field_names_itself_and_why(convert, text, reason):
    with pytest.raises(BadField) as raised:
        convert(text, "f")
    assert (raised.value.field, raised.value.reason) == ("f", reason)


def test_lines_are_converted_or_refused_in_line_order(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"id,name,extra\n1,a,x\n2,b\n\n3,,x\n4,d,x\n4,e,x\n\xff,f,x\n")
    rejections: list = []
    rows = convert_rows(
        path,
        ("id", "name"),
        rejections,
        lambda row: (0, integer_field(row["id"], "id"), name_field(row["name"], "name")),
    )
    kept = first_of_each_id(path, rows, rejections)
    assert kept == [(2, 1, "a"), (6, 4, "d")]
    assert [(r.line, r.field, r.reason) for r in rejections] == [
        (3, None, WRONG_FIELD_COUNT),
        (5, "name", BLANK_NAME),
        (8, None, NOT_TEXT),
        (7, "id", DUPLICATE_ID),
    ]


def test_an_empty_table_is_one_rejection_and_a_missing_column_stops(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    rejections: list = []
    assert convert_rows(empty, ("id",), rejections, lambda row: (0,)) == []
    assert [r.reason for r in rejections] == [EMPTY_FILE]
    other = tmp_path / "other.csv"
    other.write_text("key,value\n1,2\n")
    with pytest.raises(ParseError) as raised:
        convert_rows(other, ("id",), [], lambda row: (0,))
    assert (raised.value.line, raised.value.field) == (1, "id")
