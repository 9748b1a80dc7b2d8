"""Hypothesis strategies of garbage shared by the fuzz tests, and the check that a store holds nothing invalid."""

from __future__ import annotations

import math
import os

import numpy as np
from hypothesis import strategies as st

from stackmeter.models.domain import MAX_UTILIZATION, MAX_VALUE, TIME_MAX_NS, TIME_MIN_NS
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from tests.store.sql import connection_of

# Numbers no real system reports, and the edges of what a double holds.
EXTREME_NUMBERS = (
    "nan", "NaN", "-nan", "inf", "-inf", "+inf", "Infinity", "-Infinity", "1e308", "-1e308",
    "1.7976931348623157e308", "1e-320", "4.9e-324", "-0.0", "0", "-0", "1e999", "-1e999",
    str(2**63), str(2**64 + 1), "9" * 400, "-1", "-1e-300", "1e30", "1e300", "0x10", "1_000",
    "١٢٣", "", " ", "1e", "e5", ".", "-", "+", "1..2", "0.5.5", "null", "None", "true",
)  # fmt: skip

# Times at and beyond the edges of 1970-01-01 .. 2200-01-01, as text and as epoch seconds.
EDGE_TIMES = (
    "1969-12-31T23:59:59", "1970-01-01", "1970-01-01T00:00:00Z", "2199-12-31T23:59:59", "2200-01-01",
    "2200-01-01T00:00:00Z", "0001-01-01", "9999-12-31", "1600-01-01", "1677-09-21", "2262-04-12",
    "2262-04-11T23:47:16.854775807", "99999-01-01", "-0001-01-01", "2013-02-30", "2013-13-01",
    "2013-08-01T25:00", "2013-08-01T12:00+25:00", "2199-12-31T23:59:59-01:00", "2013-08",
    "2013-08-01T12:00:00.123456789", "T", "now", "today",
)  # fmt: skip
EDGE_EPOCH_SECONDS = (
    "7258118400", "7258118399", "7258118399.999", "-1", "0", "99999999999", "1375315200",
    "9223372036", "9223372037", "-9223372037", "1e308", "1e12", "1e13", "nan", "inf", "-inf",
    "1375315200.5", "0.000000001", "-0.0",
)  # fmt: skip
EDGE_EPOCH_NS = (
    -1,
    0,
    TIME_MAX_NS - 1,
    TIME_MAX_NS,
    2**63 - 1,
    -(2**63),
    99_999_999_999 * 10**9,
    2**64,
    -(2**64),
)
EDGE_DATETIME64 = tuple(
    np.datetime64(text, "s")
    for text in ("1969-12-31T23:59:59", "1970-01-01", "2199-12-31T23:59:59", "2200-01-01", "0001-01-01",
                 "9999-12-31", "1600-01-01", "2262-04-12", "3000-01-01")
)  # fmt: skip

# Bytes that are not UTF-8, and encodings that are not what the file says.
INVALID_UTF8 = (
    b"\xff",
    b"\xfe\xff",
    b"\xc3",
    b"\xc3\x28",
    b"\xe9",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\x80",
)
ODD_TEXT = (
    "é",
    "日",
    "本",
    "\u200b",
    "\ufeff",
    "\x00",
    "\u2028",
    "\r",
    "\t",
    "'",
    '"',
    "\\",
    ";",
    ",",
    "#",
    "{",
    "}",
)


def numbers() -> st.SearchStrategy[str]:
    """Text of numbers: extreme, non-finite, huge integers, and any float."""
    return st.one_of(
        st.sampled_from(EXTREME_NUMBERS),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.floats(min_value=-1e6, max_value=1e6).map(str),
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
    )


def times() -> st.SearchStrategy[str]:
    """Text of times at and beyond the domain's edges, ISO 8601 and epoch seconds."""
    return st.one_of(
        st.sampled_from(EDGE_TIMES),
        st.sampled_from(EDGE_EPOCH_SECONDS),
        st.datetimes().map(lambda moment: moment.isoformat()),
        st.integers(min_value=-(10**13), max_value=10**13).map(str),
    )


def short_text() -> st.SearchStrategy[str]:
    """Any short text, weighted towards characters that mean something to a parser."""
    return st.one_of(
        st.text(max_size=20),
        st.text(st.sampled_from(ODD_TEXT + tuple("0123456789.eE+-=: ")), max_size=12),
    )


def values() -> st.SearchStrategy[str]:
    """Garbage where a number or a time is expected."""
    return st.one_of(numbers(), times(), short_text())


def field_bytes() -> st.SearchStrategy[bytes]:
    """Garbage for one field of a line, as bytes: numbers, times, text in odd encodings, bytes."""
    return st.one_of(
        values().map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.binary(max_size=12),
        st.sampled_from(INVALID_UTF8),
        st.sampled_from(("é", "日本", "1.5é")).flatmap(
            lambda text: st.sampled_from(("latin-1", "utf-16", "utf-16-le")).map(
                lambda encoding: text.encode(encoding, "replace")
            )
        ),
    )


def lines() -> st.SearchStrategy[bytes]:
    """A whole garbage line (no line feed): random bytes or text, empty, or huge."""
    return st.one_of(
        st.binary(max_size=80).map(lambda raw: raw.replace(b"\n", b" ")),
        st.text(max_size=80).map(lambda text: text.replace("\n", " ").encode("utf-8", "surrogatepass")),
        st.just(b""),
        st.integers(min_value=1, max_value=200_000).map(lambda n: b"9" * n),
        st.sampled_from(INVALID_UTF8),
    )


def file_names() -> st.SearchStrategy[bytes]:
    """The odd part of a file name, as bytes (no ``/``, no NUL): spaces, unicode, not UTF-8, dots, long."""
    parts = st.one_of(
        st.sampled_from(
            (b" ", b"a b", b".", b"..", b"-", b"--x", b"*", b"?", b"[", b"%s", b"\\", b"\n", b"\t")
        ),
        st.sampled_from(INVALID_UTF8),
        st.text(max_size=8).map(lambda text: text.encode("utf-8", "surrogatepass")),
        st.integers(min_value=1, max_value=180).map(lambda n: b"x" * n),
        st.just("é日本🙂".encode()),
    )
    joined = st.lists(parts, max_size=4).map(b"".join)
    return joined.map(lambda raw: raw.replace(b"/", b"_").replace(b"\x00", b"_")[:200])


def brief(raw: bytes | str, keep: int = 120) -> str:
    """A short repr of a long input, for failure reports."""
    return repr(raw) if len(raw) <= keep else f"{raw[:keep]!r}… ({len(raw)} long)"


def shown_name(name: str) -> str:
    """A file name as the store shows it: valid UTF-8, bytes that are not shown as backslash escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def number_of(raw: bytes) -> float | None:
    """The number a field holds, as Python reads it, or ``None``."""
    try:
        return float(raw.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        return None


def refusable(raw: bytes, capacity: bool = False) -> bool:
    """Whether a used (or capacity) field is bad beyond doubt: not a number, not finite, negative, huge."""
    value = number_of(raw)
    if value is None or not math.isfinite(value) or value < 0 or value > 1e300:
        return True
    return capacity and value <= 0


def _bound_sql() -> str:
    cases = " ".join(f"WHEN {RESOURCE_CODES[name]} THEN {bound!r}" for name, bound in MAX_VALUE.items())
    return f"CASE resource_code {cases} END"


INVALID_SAMPLES_SQL = f"""
    SELECT count(*) FROM samples WHERE NOT (
        epoch_us(ts) >= {TIME_MIN_NS // 1000} AND epoch_us(ts) < {TIME_MAX_NS // 1000}
        AND isfinite(used) AND used >= 0 AND used <= {_bound_sql()}
        AND (capacity IS NULL OR (isfinite(capacity) AND capacity > 0 AND capacity <= {_bound_sql()}
                                  AND used <= {MAX_UTILIZATION!r} * capacity))
    )
"""


def assert_store_valid(store, since_batch: int = 0) -> None:
    """Assert every sample is in the domain and plausible, and every text of rejections since
    ``since_batch`` and of entities is valid UTF-8."""
    con = connection_of(store)
    (invalid,) = con.execute(INVALID_SAMPLES_SQL).fetchall()[0]
    assert invalid == 0, con.execute(INVALID_SAMPLES_SQL.replace("count(*)", "*") + " LIMIT 5").fetchall()
    texts = con.execute(
        "SELECT origin, field, reason, detail FROM rejections WHERE batch_id > ?", [since_batch]
    ).fetchall()
    texts += con.execute("SELECT entity, project, host FROM entities").fetchall()
    for row in texts:
        for text in row:
            if text is not None:
                text.encode("utf-8")  # raises on lone surrogates


def last_batch(store) -> int:
    return connection_of(store).execute("SELECT coalesce(max(batch_id), 0) FROM batches").fetchall()[0][0]
