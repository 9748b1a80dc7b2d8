"""Delimited trace files: cut and corrupt gzip streams keep their readable lines, bytes never raise."""

from __future__ import annotations

import gzip
import os
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackmeter.errors import SourceUnavailable
from stackmeter.models import NOT_A_NUMBER, OUT_OF_ORDER, TRUNCATED_FILE, WRONG_FIELD_COUNT
from stackmeter.sources.tables import check_order, load_bytes, path_text, split_table
from tests.reference import FIXTURES

REAL = FIXTURES / "bitbrains" / "2013-8" / "41.csv.gz"


def complete_lines(stream: bytes) -> bytes:
    """What Python's zlib decompresses of ``stream`` fed a byte at a time until it fails, up to
    the last line feed: the readable lines, found without stackmeter."""
    inflater = zlib.decompressobj(wbits=31)
    out = []
    for offset in range(len(stream)):
        try:
            out.append(inflater.decompress(stream[offset : offset + 1]))
        except zlib.error:
            break
    text = b"".join(out)
    return text[: text.rfind(b"\n") + 1]


def test_a_cut_gzip_keeps_its_complete_lines_and_says_where_it_was_cut(tmp_path):
    path = tmp_path / "41.csv.gz"
    path.write_bytes(REAL.read_bytes()[:20_000])
    content, truncation = load_bytes(path)
    expected = zlib.decompressobj(wbits=31).decompress(REAL.read_bytes()[:20_000])
    expected = expected[: expected.rfind(b"\n") + 1]
    assert content == expected
    assert gzip.decompress(REAL.read_bytes()).startswith(content)
    assert content.count(b"\n") == 1445  # the header and 1,444 rows
    assert (truncation.path, truncation.line, truncation.reason) == (str(path), 1446, TRUNCATED_FILE)
    assert "ends inside a gzip stream" in truncation.detail


@pytest.mark.parametrize("offset", [100, 5_000, 60_000])
def test_a_corrupt_gzip_keeps_what_decompresses_before_the_fault(tmp_path, offset):
    stream = bytearray(REAL.read_bytes())
    stream[offset : offset + 64] = b"\xff" * 64
    path = tmp_path / "41.csv.gz"
    path.write_bytes(bytes(stream))
    content, truncation = load_bytes(path)
    assert content == complete_lines(bytes(stream))
    assert truncation.reason == TRUNCATED_FILE and truncation.line == content.count(b"\n") + 1
    assert "corrupt gzip data" in truncation.detail


def test_a_wrong_checksum_keeps_every_line_and_is_reported(tmp_path):
    stream = bytearray(REAL.read_bytes())
    stream[-6] ^= 0xFF  # in the CRC-32 of the trailer
    path = tmp_path / "41.csv.gz"
    path.write_bytes(bytes(stream))
    content, truncation = load_bytes(path)
    whole = gzip.decompress(REAL.read_bytes())
    assert content == whole
    assert truncation.line == whole.count(b"\n") + 1 and "incorrect data check" in truncation.detail


def test_members_are_read_one_after_the_other(tmp_path):
    first, second = b"a;b\n1;2\n", b"3;4\n5;6\n"
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(first) + gzip.compress(second) + b"\x00" * 8)
    assert load_bytes(path) == (first + second, None)
    path.write_bytes(gzip.compress(first) + gzip.compress(second)[:-12])  # the second member cut
    content, truncation = load_bytes(path)
    assert content == first + complete_lines(gzip.compress(second)[:-12])
    assert truncation.line == content.count(b"\n") + 1
    path.write_bytes(gzip.compress(first) + b"not gzip")
    content, truncation = load_bytes(path)
    assert content == first and "8 bytes after the last gzip member" in truncation.detail


def test_a_gzip_header_alone_keeps_nothing(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(b"a;b\n")[:10])
    assert load_bytes(path) == (b"", load_bytes(path)[1])
    assert load_bytes(path)[1].line == 1


def test_plain_files_are_read_as_they_are(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a;b\n1;2")
    assert load_bytes(path) == (b"a;b\n1;2", None)


def test_a_file_that_cannot_be_opened_is_unavailable(tmp_path):
    with pytest.raises(SourceUnavailable, match="cannot read"):
        load_bytes(tmp_path / "missing.csv.gz")


def test_names_that_are_not_utf8_are_shown_with_escapes(tmp_path):
    path = tmp_path / os.fsdecode(b"vm\xff\xfe.csv")
    assert path_text(path) == str(tmp_path) + "/vm\\xff\\xfe.csv"
    path_text(path).encode("utf-8")  # no surrogates left
    assert path_text(tmp_path / "vm é.csv") == str(tmp_path / "vm é.csv")


@pytest.mark.parametrize(
    "line",
    [
        b'1;"2',  # an opening quote does not swallow the lines after it
        b"1;2\r",  # only a line feed ends a line
        b"1;\xff\xfe",  # bytes that are not UTF-8
        b"1;2\r3",
        b"\x00;\x00",
    ],
)
def test_odd_bytes_in_a_field_refuse_that_field_only(line):
    raw = b"a;b\n10;20\n" + line + b"\n30;40\n"
    table = split_table(raw, "t.csv", b";")
    assert table.lines.tolist() == [2, 3, 4]
    np.testing.assert_array_equal(table.columns[0][[0, 2]], [10, 30])
    np.testing.assert_array_equal(table.columns[1][[0, 2]], [20, 40])
    assert {(r.line, r.reason) for r in table.rejections} <= {(3, NOT_A_NUMBER)}
    assert all(r.detail.encode("utf-8") for r in table.rejections)


def test_a_wrong_field_count_is_found_before_parsing():
    table = split_table(b'a;b\n10;20\n"1;2;3\n30;40\n', "t.csv", b";")
    assert [(r.line, r.reason) for r in table.rejections] == [(3, WRONG_FIELD_COUNT)]
    assert table.columns[0].tolist() == [10, 30]


def longest_in_order_length(values: list[int]) -> int:
    """The length of a longest non-decreasing subsequence, by the quadratic textbook recurrence."""
    best = [1] * len(values)
    for i in range(len(values)):
        for j in range(i):
            if values[j] <= values[i]:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 20) | st.just(None), max_size=40))
def test_the_rows_kept_in_order_are_as_many_as_can_be(times):
    ts = np.array([np.nan if t is None else t for t in times], dtype=np.float64)
    rejections = []
    kept = check_order(ts, "t.csv", "ts", np.arange(2, len(ts) + 2), rejections)
    usable = [t for t in times if t is not None]
    assert kept.sum() == longest_in_order_length(usable)
    assert (np.diff(ts[kept]) >= 0).all()
    assert sorted(r.line - 2 for r in rejections) == np.flatnonzero(~kept & ~np.isnan(ts)).tolist()


@pytest.mark.parametrize(
    "times, refused",
    [
        ([1, 2, 1, 4, 4], [2]),  # a row earlier than the one before it
        ([1, 5, 2], [2]),  # of two rows that cannot both be in order, the later goes
        ([9, 1, 2, 3], [0]),  # unless a lone row far ahead would take the rows after it along
        ([1, 2, 99, 3, 4, 5], [2]),
    ],
)
def test_which_rows_are_out_of_order(times, refused):
    rejections = []
    kept = check_order(np.array(times, dtype=float), "t.csv", "ts", np.arange(2, len(times) + 2), rejections)
    assert np.flatnonzero(~kept).tolist() == refused
    assert [r.reason for r in rejections] == [OUT_OF_ORDER] * len(refused)
