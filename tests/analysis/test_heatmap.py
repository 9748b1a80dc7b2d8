"""Heat map analysis against DESIGN.md's definitions, computed here with pandas from raw samples.

Raw samples (entity, ts, utilization) are grouped into windows by pandas' own calendar
(``tests.reference.window_of``); the overload rule, the ranking and the cells are computed from
that table, and the functions under test get only the per-window counts they are documented to take.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stackmeter.analysis.heatmap import (
    apply_overload_rule,
    build_heat_map_rows,
    choose_columns,
    rank_entities,
    summarize_used,
)
from stackmeter.models import WindowCounts, WindowUtilization, make_samples
from tests.reference import window_of, window_range

THRESHOLD = 0.8
# Utilizations around θ, θ itself included (≥ θ counts) and above 1 (a trace can report 154 %).
UTILIZATIONS = np.array([0.05, 0.3, 0.6, 0.79, THRESHOLD, 0.81, 0.95, 1.54])
SPANS = {"5m": "6h", "1h": "3D", "1d": "40D", "1w": "120D", "1mo": "400D"}


def random_samples(seed: int, timescale: str, entities: int = 9) -> pd.DataFrame:
    """Samples of ``entities`` VMs at random times over a span of some dozens of windows."""
    rng = np.random.default_rng(seed)
    span_s = int(pd.Timedelta(SPANS[timescale]).total_seconds())
    size = 40 * entities
    start = pd.Timestamp("2013-07-29T00:00:00")  # a Monday
    return pd.DataFrame(
        {
            "entity": rng.choice([f"vm-{i}" for i in range(entities)], size),
            "ts": start + pd.to_timedelta(rng.integers(0, span_s, size), unit="s"),
            # Utilization skewed per entity, so that some are overloaded often and some never.
            "u": rng.choice(UTILIZATIONS, size) * rng.choice([0.5, 1.0, 1.0, 1.2], size),
        }
    )


def per_window(samples: pd.DataFrame, timescale: str, share: float) -> pd.DataFrame:
    """One row per (entity, window) with samples, and the overload rule applied as DESIGN.md says:
    overloaded when the share of the window's samples with utilization ≥ θ is ≥ s."""
    frame = samples.assign(window=window_of(samples["ts"], timescale), hot=samples["u"] >= THRESHOLD)
    per = frame.groupby(["entity", "window"]).agg(
        samples=("u", "size"), at_or_above=("hot", "sum"), mean=("u", "mean"), max=("u", "max")
    )
    per["overloaded"] = frame.groupby(["entity", "window"])["hot"].mean() >= share
    return per.reset_index()


def window_counts(per: pd.DataFrame, timescale: str, names: list[str]) -> WindowCounts:
    """The store's per-window counts: rows only for windows with a sample at or above θ."""
    listed = per[per["at_or_above"] > 0]
    code = {name: i for i, name in enumerate(names)}
    windows = per.groupby("entity").size().reindex(names, fill_value=0)
    return WindowCounts(
        timescale, "cpu", THRESHOLD, np.array(names, dtype=object), windows.to_numpy(),
        listed["entity"].map(code).to_numpy(), listed["window"].to_numpy("datetime64[ns]"),
        listed["samples"].to_numpy(), listed["at_or_above"].to_numpy(),
        np.datetime64(per["window"].min(), "ns"), np.datetime64(per["window"].max(), "ns"),
        *fleet_totals(per),
    )  # fmt: skip


def fleet_totals(per: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The store's totals per window: entities that reported, and their samples."""
    fleet = per.groupby("window").agg(entities=("entity", "size"), samples=("samples", "sum")).reset_index()
    return (
        fleet["window"].to_numpy("datetime64[ns]"),
        fleet["entities"].to_numpy(),
        fleet["samples"].to_numpy(),
    )


def window_utilization(per: pd.DataFrame, timescale: str) -> WindowUtilization:
    rows = per.sort_values(["entity", "window"])
    return WindowUtilization(
        timescale, "cpu", THRESHOLD, rows["entity"].to_numpy(object), rows["window"].to_numpy("datetime64[ns]"),
        rows["samples"].to_numpy(), rows["at_or_above"].to_numpy(), rows["mean"].to_numpy(),
        rows["max"].to_numpy(),
    )  # fmt: skip


def ranking_reference(per: pd.DataFrame) -> list[tuple[str, int, int]]:
    """(entity, windows overloaded, windows with samples), worst first: largest share of its
    windows overloaded, then more windows overloaded, then by name."""
    by_entity = per.groupby("entity")["overloaded"].agg(overloaded="sum", windows="size").reset_index()
    by_entity["share"] = by_entity["overloaded"] / by_entity["windows"]
    ranked = by_entity.sort_values(["share", "overloaded", "entity"], ascending=[False, False, True])
    return list(zip(ranked["entity"], ranked["overloaded"], ranked["windows"], strict=True))


# --- ranking -------------------------------------------------------------------------------------


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w", "1mo"])
@pytest.mark.parametrize("share", [0.05, 0.25, 1.0])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_ranking_is_worst_first_as_defined(seed, timescale, share):
    per = per_window(random_samples(seed, timescale), timescale, share)
    names = sorted(per["entity"].unique()) + ["vm-without-samples"]
    codes, overloaded, windows = rank_entities(window_counts(per, timescale, names), share)
    ranked = list(
        zip(np.array(names, dtype=object)[codes], overloaded.tolist(), windows.tolist(), strict=True)
    )
    assert ranked == ranking_reference(per)


def test_ties_break_on_windows_overloaded_then_name():
    # entity: (windows overloaded, windows with samples)
    made = {"a": (1, 2), "b": (2, 4), "c": (2, 4), "d": (0, 3), "e": (0, 1), "z": (3, 3), "y": (1, 1)}
    names = sorted(made) + ["never-judged"]
    entity, window = [], []
    for code, name in enumerate(names[:-1]):
        hot = made[name][0]
        entity += [code] * hot
        window += list(range(hot))
    counts = WindowCounts(
        "1h", "cpu", THRESHOLD, np.array(names, dtype=object),
        np.array([made[name][1] for name in names[:-1]] + [0]), np.array(entity, dtype=np.int64),
        np.datetime64("2013-08-01T00:00", "ns") + np.array(window, dtype=np.int64) * np.timedelta64(1, "h"),
        np.full(len(entity), 10), np.full(len(entity), 10),
        np.datetime64("2013-08-01T00:00", "ns"), np.datetime64("2013-08-01T03:00", "ns"),
        *(np.array([], t) for t in ("datetime64[ns]", int, int)),
    )  # fmt: skip
    codes, overloaded, windows = rank_entities(counts, share=0.05)
    # z and y are overloaded in all their windows (z in more), then b and c (half, 2 windows) before
    # a (half, 1 window); d and e were never overloaded and follow by name; never-judged is left out.
    assert [names[code] for code in codes] == ["z", "y", "b", "c", "a", "d", "e"]
    assert list(overloaded) == [3, 1, 2, 2, 1, 0, 0]
    assert list(windows) == [3, 1, 4, 4, 2, 3, 1]


# --- the overload rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w", "1mo"])
@pytest.mark.parametrize("share", [0.05, 0.3, 1.0])
def test_the_rule_per_window_of_one_entity(timescale, share):
    per = per_window(random_samples(7, timescale), timescale, share)
    for entity, mine in per.groupby("entity"):
        result = apply_overload_rule(window_utilization(mine, timescale), share)
        assert result.windows == len(mine)
        assert result.windows_overloaded == int(mine["overloaded"].sum())
        assert result.overloaded.tolist() == mine["overloaded"].tolist(), entity
        assert result.max_utilization.tolist() == mine["max"].tolist()


@pytest.mark.parametrize(
    ("utilizations", "share", "overloaded"),
    [
        ([THRESHOLD] + [0.1] * 19, 0.05, True),  # 1 of 20 at exactly θ: share 0.05 reached
        ([0.799999] + [0.1] * 19, 0.05, False),  # just under θ
        ([0.9] + [0.1] * 20, 0.05, False),  # 1 of 21 < 0.05
        ([0.9] * 3, 1.0, True),  # every sample at or above θ
        ([0.9, 0.9, 0.1], 1.0, False),
        ([1.54], 0.05, True),  # utilization above 1 counts like any other
    ],
)
def test_the_rule_at_its_edges(utilizations, share, overloaded):
    per = per_window(
        pd.DataFrame(
            {"entity": "vm", "ts": pd.Timestamp("2013-08-01T10:00") + pd.Timedelta("1min"), "u": utilizations}
        ),
        "1h",
        share,
    )
    assert per["overloaded"].tolist() == [overloaded]  # the reference reads the definition so too
    assert apply_overload_rule(window_utilization(per, "1h"), share).overloaded.tolist() == [overloaded]


# --- columns ---------------------------------------------------------------------------------------


def ns(text: str) -> np.datetime64:
    return np.datetime64(text, "ns")


@pytest.mark.parametrize(
    ("timescale", "first", "last", "count", "end", "expected"),
    [
        # the latest windows by default
        ("1h", "2013-08-01T00", "2013-08-01T05", 3, None, ["03", "04", "05"]),
        # fewer windows than asked: all of them
        ("1h", "2013-08-01T00", "2013-08-01T05", 10, None, ["00", "01", "02", "03", "04", "05"]),
        # end inside a window: that window is the last column
        ("1h", "2013-08-01T00", "2013-08-01T05", 3, "2013-08-01T02:30", ["00", "01", "02"]),
        # end on a boundary belongs to the window it starts, and the first window clips
        ("1h", "2013-08-01T00", "2013-08-01T05", 3, "2013-08-01T01:00", ["00", "01"]),
        # one nanosecond before a boundary belongs to the window before
        ("1h", "2013-08-01T00", "2013-08-01T05", 2, "2013-08-01T04:59:59.999999999", ["03", "04"]),
        # end before the data: the first window alone; after it: the latest windows
        ("1h", "2013-08-01T00", "2013-08-01T05", 3, "2013-07-30T12:00", ["00"]),
        ("1h", "2013-08-01T00", "2013-08-01T05", 3, "2013-08-09T00:00", ["03", "04", "05"]),
        # one window of data
        ("1h", "2013-08-01T04", "2013-08-01T04", 5, None, ["04"]),
    ],
)
def test_columns_at_the_edges_in_hours(timescale, first, last, count, end, expected):
    columns = choose_columns(ns(first), ns(last), timescale, count, None if end is None else ns(end))
    assert columns.tolist() == [ns(f"2013-08-01T{hour}").astype("datetime64[ns]").item() for hour in expected]


@pytest.mark.parametrize(
    ("timescale", "first", "last", "count", "end", "expected"),
    [
        # Sunday 23:59 belongs to the week that began on Monday
        ("1w", "2013-07-29", "2013-08-19", 2, "2013-08-11T23:59", ["2013-07-29", "2013-08-05"]),
        ("1w", "2013-07-29", "2013-08-19", 2, "2013-08-12T00:00", ["2013-08-05", "2013-08-12"]),
        # calendar months, a leap February among them
        ("1mo", "2024-01-01", "2024-04-01", 3, None, ["2024-02-01", "2024-03-01", "2024-04-01"]),
        ("1mo", "2024-01-01", "2024-04-01", 2, "2024-02-29T23:00", ["2024-01-01", "2024-02-01"]),
        ("1d", "2013-08-01", "2013-08-31", 1, None, ["2013-08-31"]),
        ("1d", "2013-08-01", "2013-08-31", 2, "2013-08-02T00:00", ["2013-08-01", "2013-08-02"]),
    ],
)
def test_columns_at_the_edges_of_the_calendar(timescale, first, last, count, end, expected):
    columns = choose_columns(ns(first), ns(last), timescale, count, None if end is None else ns(end))
    assert columns.tolist() == [ns(day).item() for day in expected]


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w", "1mo"])
@pytest.mark.parametrize("count", [1, 7, 40])
def test_columns_are_consecutive_windows_ending_at_end(timescale, count):
    per = per_window(random_samples(11, timescale), timescale, 0.05)
    first, last = per["window"].min(), per["window"].max()
    spanned = window_range(first, last, timescale)
    for end in [None, first, last, spanned[len(spanned) // 2] + pd.Timedelta("1s")]:
        ending = last if end is None else window_of(pd.Series([end]), timescale)[0]
        expected = [w for w in spanned if w <= ending][-count:]
        columns = choose_columns(ns(first), ns(last), timescale, count, None if end is None else ns(end))
        assert list(pd.DatetimeIndex(columns)) == expected


# --- cells -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("timescale", ["1h", "1d", "1mo"])
def test_cells_hold_mean_utilization_and_the_rule_of_each_shown_window(timescale):
    share = 0.1
    per = per_window(random_samples(5, timescale), timescale, share)
    spanned = window_range(per["window"].min(), per["window"].max(), timescale)
    # A page of columns in the middle of the data: windows before and after it are not drawn.
    shown = spanned[len(spanned) // 4 : len(spanned) // 4 + 6]
    ranked = ranking_reference(per)
    names = [entity for entity, _, _ in ranked] + ["vm-elsewhere"]
    overloaded = np.array([o for _, o, _ in ranked] + [0])
    windows = np.array([w for _, _, w in ranked] + [0])
    rows = build_heat_map_rows(
        names,
        overloaded,
        windows,
        shown.to_numpy("datetime64[ns]"),
        window_utilization(per, timescale),
        share,
    )
    cells = per.set_index(["entity", "window"])
    assert [row.entity for row in rows] == names
    for row, hot, seen in zip(rows, overloaded, windows, strict=True):
        assert (row.windows_overloaded, row.windows) == (hot, seen)
        assert row.share == (hot / seen if seen else 0.0)
        expected_u = [
            cells.loc[(row.entity, w), "mean"] if (row.entity, w) in cells.index else None for w in shown
        ]
        expected_o = [
            bool((row.entity, w) in cells.index and cells.loc[(row.entity, w), "overloaded"]) for w in shown
        ]
        assert [u is None for u in row.utilization] == [u is None for u in expected_u], row.entity
        assert [u for u in row.utilization if u is not None] == pytest.approx(
            [u for u in expected_u if u is not None]
        )
        assert list(row.overloaded) == expected_o, row.entity
        for field in ("samples", "at_or_above"):
            expected = [
                int(cells.loc[(row.entity, w), field]) if (row.entity, w) in cells.index else 0 for w in shown
            ]
            assert list(getattr(row, field)) == expected, (row.entity, field)
    assert rows[-1].utilization == (None,) * len(shown)  # an entity without samples is all gaps


# --- a resource without capacity ---------------------------------------------------------------


@pytest.mark.parametrize("timescale", ["5m", "1h", "1d", "1w", "1mo"])
def test_used_values_per_window_of_a_resource_without_capacity(timescale):
    rng = np.random.default_rng(11)
    ts = np.sort(np.datetime64("2013-07-29T22:00", "ns") + rng.integers(0, 40 * 86_400, 500) * 10**9)
    used = rng.exponential(2e5, ts.size)
    usage = summarize_used(make_samples(ts, "51", "disk", used, np.nan), timescale)
    frame = pd.DataFrame({"ts": pd.to_datetime(ts), "used": used})
    expected = frame.groupby(window_of(frame["ts"], timescale))["used"].agg(["mean", "max"])
    assert (usage.resource, usage.used_unit, usage.samples) == ("disk", "bytes/s", 500)
    assert usage.windows == len(expected)
    assert usage.window.tolist() == expected.index.values.astype("datetime64[ns]").tolist()
    assert usage.mean_used == pytest.approx(expected["mean"].to_numpy(), rel=1e-12)
    assert usage.max_used.tolist() == expected["max"].tolist()


def test_used_values_of_no_samples():
    empty = make_samples(np.empty(0, "datetime64[ns]"), "51", "disk", np.empty(0), np.nan)
    usage = summarize_used(empty, "1h")
    assert (usage.windows, usage.samples, usage.window.size, usage.mean_used.size) == (0, 0, 0, 0)
