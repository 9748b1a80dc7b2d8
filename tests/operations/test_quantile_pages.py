"""Pages of quantile answers on real traces: each page is the slice of the whole answer, checked
against numpy's quantile of the raw samples; totals, pages past the end and bad parameters."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.errors import ConfigError, UnknownEntity
from stackmeter.export import QUANTILE_COLUMNS, quantile_csv_pages, quantile_rows, rows_csv
from stackmeter.operations.rollups import quantile_page, quantile_pages
from stackmeter.store import open_store
from tests.quantile_store import ALPHA, exact_rows, project_of, read_traces, write_traces


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("quantile-pages") / "store.duckdb")
    with open_store(path) as store:
        write_traces(store)
        yield store, read_traces()


@pytest.fixture(scope="module")
def exact(traces):
    """numpy's answer per (resource, timescale, q), computed once for the raw and rollup tests."""
    _, raw = traces
    return functools.cache(lambda resource, timescale, q: exact_rows(raw, resource, timescale, q))


def pages_of(store, page_size: int, **question) -> list:
    """Every page of ``question`` and one past the end; each must report the same total."""
    first = quantile_page(store, page_size=page_size, **question)
    pages = [first]
    for number in range(2, -(-first.total // page_size) + 2):
        pages.append(quantile_page(store, page=number, page_size=page_size, **question))
        assert pages[-1].total == first.total
    assert pages[-1].report.windows == ()
    return pages


def assert_rows_match(rows, expected, exact: bool) -> None:
    """Same (entity, window, samples) in the same order; the quantile numpy's (raw) or bracketing it."""
    assert [(row.entity, row.window, row.samples) for row in rows] == [row[:3] for row in expected]
    got = np.array([(row.quantile, row.lower, row.upper) for row in rows]).reshape(-1, 3)
    numpy_q = np.array([row[3] for row in expected])
    if exact:
        np.testing.assert_allclose(got[:, 0], numpy_q, rtol=1e-12, atol=1e-15)
        assert (got[:, 1] == got[:, 0]).all() and (got[:, 2] == got[:, 0]).all()
    else:
        assert (got[:, 1] - 1e-12 <= numpy_q).all() and (numpy_q <= got[:, 2] + 1e-12).all()
        # one 1 % bin apart, but where the upper order statistic is above 2 (the overflow bin)
        assert ((got[:, 2] - got[:, 1] <= 0.01 + 1e-12) | (got[:, 2] > 2)).all()


@pytest.mark.parametrize(
    "resource, timescale, q, page_size",
    [("cpu", "5m", 0.95, 4_999), ("cpu", "1h", 0.95, 1_000), ("cpu", "1d", 0.5, 97), ("memory", "1w", 0.99, 7),
     ("cpu", "1mo", 0.95, 3), ("memory", "1h", 0.0, 500)],
)  # fmt: skip
@pytest.mark.parametrize("from_raw", [True, False], ids=["raw", "rollups"])
def test_every_page_is_its_slice_of_numpys_answer(traces, exact, resource, timescale, q, page_size, from_raw):
    """Pages cut across entities (whose ids are not in name order) and give back the whole
    answer: from raw samples numpy's quantiles, from rollups the same rows and numbers as the
    unpaged answer, each bracketing numpy's within one bin."""
    store, _ = traces
    expected = exact(resource, timescale, q)
    question = {"resource": resource, "q": q, "timescale": timescale, "from_raw": from_raw}
    pages = pages_of(store, page_size, **question)
    assert pages[0].total == len(expected)
    assert len(pages) > 3, "the test wants several pages"
    for number, page in enumerate(pages, start=1):
        start = (number - 1) * page_size
        assert_rows_match(page.report.windows, expected[start : start + page_size], exact=from_raw)
    whole = operations.utilization_quantiles(store, **question)
    assert [row for page in pages for row in page.report.windows] == list(whole.windows)
    assert {page.report._replace(windows=()) for page in pages} == {whole._replace(windows=())}


def test_a_project_reader_pages_its_own_entities(traces):
    """A project's reader counts and reads its entities only (the store keeps no totals for it)."""
    store, raw = traces
    alpha = raw[[project_of(entity) == ALPHA for entity in raw["entity"]]]
    expected = exact_rows(alpha, "cpu", "1h", 0.9)
    assert len({row[0] for row in expected}) == 12
    reader = store.reader(ALPHA)
    try:
        for from_raw in (True, False):
            pages = pages_of(reader, 400, resource="cpu", q=0.9, timescale="1h", from_raw=from_raw)
            assert pages[0].total == len(expected)
            rows = [row for page in pages for row in page.report.windows]
            assert_rows_match(rows, expected, exact=from_raw)
    finally:
        reader.close()


def test_one_entitys_pages(traces):
    store, raw = traces
    expected = [row for row in exact_rows(raw, "cpu", "1h", 0.95) if row[0] == "196"]
    pages = pages_of(store, 400, resource="cpu", q=0.95, timescale="1h", entity="196", from_raw=True)
    assert pages[0].total == len(expected) > 1000
    assert_rows_match([row for page in pages for row in page.report.windows], expected, exact=True)
    with pytest.raises(UnknownEntity, match="no entity 'nope'"):
        quantile_page(store, entity="nope")


def test_pages_past_the_end_are_empty_with_the_total(traces):
    store, raw = traces
    total = len(exact_rows(raw, "cpu", "1d", 0.95))
    for page, page_size in ((2, total), (total + 1, 1), (1_000_000, 10_000)):
        answer = quantile_page(store, "cpu", 0.95, "1d", page=page, page_size=page_size)
        assert (answer.report.windows, answer.total) == ((), total)
        assert (answer.report.served_by, answer.report.bin_width) == ("rollup 1d", 0.01)
    last = quantile_page(store, "cpu", 0.95, "1d", page=1, page_size=total)
    assert len(last.report.windows) == total
    # a resource no entity has with known capacity: no rows on any page
    for page in (1, 2):
        assert quantile_page(store, "disk", 0.95, "1d", page=page).total == 0


@pytest.mark.parametrize(
    "params, where, message",
    [
        ({"page": 0}, "page", "page must be a whole number of at least 1, got 0"),
        ({"page": -3}, "page", "page must be a whole number of at least 1, got -3"),
        ({"page": 1.5}, "page", "page must be a whole number of at least 1, got 1.5"),
        ({"page": "2"}, "page", "page must be a whole number of at least 1, got '2'"),
        ({"page": True}, "page", "page must be a whole number of at least 1, got True"),
        ({"page_size": 0}, "page_size", "page_size must be a whole number of at least 1, got 0"),
        ({"page_size": None}, "page_size", "page_size must be a whole number of at least 1, got None"),
        ({"q": 1.5}, "q", "quantile q must be between 0 and 1, got 1.5"),
        ({"q": float("nan")}, "q", "quantile q must be between 0 and 1, got nan"),
        ({"q": -0.1}, "q", "quantile q must be between 0 and 1, got -0.1"),
    ],
)
def test_bad_parameters_are_refused_naming_them(traces, params, where, message):
    store, _ = traces
    with pytest.raises(ConfigError) as raised:
        quantile_page(store, **{"resource": "cpu", "timescale": "1d", **params})
    assert (str(raised.value), raised.value.where) == (message, where)


def test_pages_in_turn_stream_the_whole_answer_and_its_csv(traces):
    store, raw = traces
    whole = operations.utilization_quantiles(store, "memory", 0.95, "1d")
    assert len(whole.windows) == len(exact_rows(raw, "memory", "1d", 0.95))
    pages = list(quantile_pages(store, "memory", 0.95, "1d", page_size=61))
    assert len(pages) == -(-len(whole.windows) // 61) and all(len(p.windows) == 61 for p in pages[:-1])
    assert [row for page in pages for row in page.windows] == list(whole.windows)
    assert "".join(quantile_csv_pages(pages)) == rows_csv(quantile_rows(whole), QUANTILE_COLUMNS)
    empty = list(quantile_pages(store, "disk", 0.95, "1d", page_size=61))
    assert [page.windows for page in empty] == [()]
    assert "".join(quantile_csv_pages(empty)) == rows_csv([], QUANTILE_COLUMNS)


def test_the_size_of_one_answer_is_counted_exactly(traces):
    store, raw = traces
    for timescale in ("1h", "1w"):
        expected = len(exact_rows(raw, "cpu", timescale, 0.5))
        assert operations.check_quantile_size(store, "cpu", timescale, None) == expected
        assert operations.check_quantile_size(store, "cpu", timescale, None, from_raw=True) == expected
    assert operations.check_quantile_size(store, "cpu", "1h", "196") == len(
        [row for row in exact_rows(raw, "cpu", "1h", 0.5) if row[0] == "196"]
    )
