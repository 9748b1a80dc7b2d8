"""Per-(entity, window) utilization equals an independent pandas reading of the raw files."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.models import RAW, WindowQuery
from stackmeter.store import open_store
from tests.fleet import DISK_CAPACITY_BYTES_S, FIXTURES, NETWORK_CAPACITY_BYTES_S, write_fleet
from tests.reference import read_bitbrains, window_of


@pytest.fixture(scope="module")
def fleet():
    store = open_store(":memory:")
    write_fleet(store)
    paths = sorted((FIXTURES / "bitbrains").rglob("*.csv.gz"))
    raw = read_bitbrains(paths, DISK_CAPACITY_BYTES_S, NETWORK_CAPACITY_BYTES_S)
    yield store, raw
    store.close()


@pytest.mark.parametrize(
    "timescale, resource, threshold",
    [
        ("5m", "cpu", 0.5),
        ("1h", "memory", 0.3),
        ("1d", "cpu", 1.0),
        ("1w", "disk", 0.05),
        ("1mo", "network", 0.05),
    ],
)
def test_matches_pandas(fleet, timescale, resource, threshold):
    store, raw = fleet
    entities = ["196", "41"]
    got = store.read_window_utilization(WindowQuery(timescale, resource, threshold, tuple(entities)), RAW)
    rows = raw[(raw["resource"] == resource) & raw["entity"].isin(entities) & raw["capacity"].notna()].copy()
    rows["window"] = window_of(rows["ts"], timescale)
    rows["u"] = rows["used"] / rows["capacity"]
    rows["over"] = rows["u"] >= threshold
    expected = (
        rows.groupby(["entity", "window"])
        .agg(n=("u", "size"), k=("over", "sum"), mean=("u", "mean"), max=("u", "max"))
        .reset_index()
        .sort_values(["entity", "window"])
    )
    assert got.entity.tolist() == expected["entity"].tolist()
    assert np.array_equal(got.window, expected["window"].to_numpy(dtype="datetime64[ns]"))
    assert got.samples.tolist() == expected["n"].tolist()
    assert got.at_or_above.tolist() == expected["k"].tolist()
    assert got.mean_utilization == pytest.approx(expected["mean"].to_numpy(), rel=1e-12)
    assert got.max_utilization == pytest.approx(expected["max"].to_numpy(), rel=1e-12)


def test_window_bounds_are_inclusive(fleet):
    store, _ = fleet
    every = store.read_window_utilization(WindowQuery("1d", "cpu", 0.8, ("51",)), RAW)
    first, last = every.window[3], every.window[9]
    some = store.read_window_utilization(WindowQuery("1d", "cpu", 0.8, ("51",), first, last), RAW)
    assert np.array_equal(some.window, every.window[3:10])
    assert some.samples.tolist() == every.samples[3:10].tolist()


def test_unknown_or_no_entities_give_nothing(fleet):
    store, _ = fleet
    assert store.read_window_utilization(WindowQuery("1h", "cpu", 0.8, ()), RAW).window.size == 0
    assert store.read_window_utilization(WindowQuery("1h", "cpu", 0.8, ("nope",)), RAW).window.size == 0
