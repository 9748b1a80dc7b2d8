"""Rollups answer as raw samples do, whatever the order of the writes: property tests over random
series with gaps, out-of-order and late batches, duplicates, utilization on and next to bin
edges, above 1 and 2, and samples without capacity.

What each write should add or refuse is simulated here from the rules; window counts come from
pandas over the accepted samples, quantiles from numpy, windows from pandas' own calendar.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stackmeter import operations
from stackmeter.models import TOO_LATE, Entity, Parsed, make_samples
from stackmeter.store import open_store
from tests.reference import window_of

START = np.datetime64("2013-07-29T20:00:00", "s")  # a Monday night, two days before a month ends
GAPS_S = (60, 300, 300, 300, 900, 3_600, 5 * 3_600, 2 * 86_400)
TIMESCALES = ("5m", "1h", "1d", "1w", "1mo")
# Edges whose double times 100 floors below the edge (29, 57, 113) or whose next double below
# floors onto it (5, 80, 134): a bin computed as floor(u * 100) would misplace these.
EDGES = tuple(i / 100 for i in (1, 5, 29, 30, 50, 57, 79, 80, 90, 95, 99, 100, 101, 113, 134, 150, 200))
BACK_WINDOW_S = 86_400


def utilizations():
    """Values on and just below bin edges, anywhere in [0, 2.5), and far above the top bin."""
    edge = st.sampled_from(EDGES)
    return st.one_of(
        edge,
        edge.map(lambda value: float(np.nextafter(value, 0))),
        st.floats(0, 2.5, allow_nan=False),
        st.sampled_from((0.0, 3.75, 12.0)),
    )


@st.composite
def histories(draw):
    """Series of samples, and the batches (lists of sample indices) they are written in."""
    rows = []
    for entity in ("a", "b", "c")[: draw(st.integers(1, 3))]:
        for resource in ("cpu", "memory"):
            count = draw(st.integers(1, 40))
            gaps = draw(st.lists(st.sampled_from(GAPS_S), min_size=count, max_size=count))
            values = draw(st.lists(utilizations(), min_size=count, max_size=count))
            capacity = draw(st.sampled_from((1.0, 4.0, 0.5, np.nan)))
            offset = draw(st.integers(0, 4 * 86_400))
            ts = START + np.timedelta64(offset, "s") + np.cumsum(gaps).astype("timedelta64[s]")
            for t, u in zip(ts, values, strict=True):
                used = u if np.isnan(capacity) else u * capacity
                rows.append((entity, resource, t, used, capacity))
    frame = pd.DataFrame(rows, columns=["entity", "resource", "ts", "used", "capacity"])
    frame["ts"] = frame["ts"].astype("datetime64[ns]")
    # Batches cut in time order, written in any order (month 9 before month 7), then some
    # samples moved to the last batch (late) and some written again (duplicates).
    order = np.argsort(frame["ts"].to_numpy(), kind="stable")
    batches = draw(st.integers(1, 4))
    assigned = np.empty(len(frame), dtype=np.int64)
    assigned[order] = np.arange(len(frame)) * batches // len(frame)
    assigned = np.asarray(draw(st.permutations(range(batches))))[assigned]
    moved = draw(st.lists(st.integers(0, len(frame) - 1), max_size=6))
    assigned[moved] = batches - 1
    repeated = draw(st.lists(st.integers(0, len(frame) - 1), max_size=4))
    plan = [list(np.flatnonzero(assigned == b)) for b in range(batches)]
    plan[-1] = sorted(set(plan[-1]) | set(repeated))
    return frame, plan


def write_history(store, frame: pd.DataFrame, plan: list[list[int]], back_window_s: float | None):
    """Write each batch (one part per entity) and return what each write reported."""
    results = []
    for batch in plan:
        rows = frame.iloc[batch]
        parts = [
            Parsed(
                f"batch-{len(results)}-{entity}",
                make_samples(group["ts"], entity, group["resource"], group["used"], group["capacity"]),
                entities=(Entity(entity),),
            )
            for entity, group in rows.groupby("entity")
        ]
        results.append(store.write_parsed(parts, "test", back_window_s=back_window_s))
    return results


def simulate(frame: pd.DataFrame, plan: list[list[int]], back_window_s: float | None):
    """The accepted samples, and per batch the samples added and refused as too late."""
    held: dict[tuple, int] = {}
    latest: dict[tuple, np.datetime64] = {}
    added, late = [], []
    for batch in plan:
        fresh = []
        for index in batch:
            row = frame.iloc[index]
            series = (row.entity, row.resource)
            if (row.entity, row.resource, row.ts) in held:
                continue
            if back_window_s is not None and series in latest:
                if row.ts < latest[series] - pd.Timedelta(seconds=back_window_s):
                    late.append(index)
                    continue
            fresh.append(index)
        for index in fresh:  # the latest sample is the store's before the batch
            row = frame.iloc[index]
            held[(row.entity, row.resource, row.ts)] = index
            latest[(row.entity, row.resource)] = max(latest.get((row.entity, row.resource), row.ts), row.ts)
        added.append(len(fresh))
    return frame.loc[sorted(held.values())], added, late


def expected_counts(kept: pd.DataFrame, timescale: str, resource: str, threshold: float) -> pd.DataFrame:
    """Per (entity, window) with a sample at or above θ: samples and samples at or above θ."""
    rows = kept[(kept["resource"] == resource) & kept["capacity"].notna()].copy()
    rows["window"] = window_of(rows["ts"], timescale)
    rows["over"] = rows["used"] / rows["capacity"] >= threshold
    per = rows.groupby(["entity", "window"])["over"].agg(["size", "sum"]).reset_index()
    return per[per["sum"] > 0].sort_values(["entity", "window"], ignore_index=True)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    back_window_s=st.sampled_from((None, BACK_WINDOW_S)),
    cpu=st.sampled_from(EDGES),
    memory=st.sampled_from(EDGES),
    share=st.sampled_from((0.01, 0.05, 0.25, 0.5, 1.0)),
)
def test_rollup_report_equals_raw_report(history, back_window_s, cpu, memory, share):
    frame, plan = history
    with open_store(":memory:") as store:
        results = write_history(store, frame, plan, back_window_s)
        kept, added, late = simulate(frame, plan, back_window_s)
        assert [result.samples_added for result in results] == added
        assert sum(result.refused_by_reason.get(TOO_LATE, 0) for result in results) == len(late)

        asked = {"cpu": cpu, "memory": memory}
        rolled = operations.overload_report(store, TIMESCALES, ("cpu", "memory"), asked, share, top=5)
        raw = operations.overload_report(
            store, TIMESCALES, ("cpu", "memory"), asked, share, top=5, from_raw=True
        )
        assert rolled.served_by == {"5m": "rollup 5m", "1h": "rollup 1h", "1d": "rollup 1d",
                                    "1w": "rollup 1d", "1mo": "rollup 1d"}  # fmt: skip
        assert set(raw.served_by.values()) == {"raw"}
        assert rolled._replace(served_by={}, served_note="") == raw._replace(served_by={}, served_note="")

        # The counts behind the report, window by window, against pandas over the accepted samples.
        serving = dict(zip(TIMESCALES, ("5m", "1h", "1d", "1d", "1d"), strict=True))
        counts = store.read_window_counts(serving, asked)
        for (timescale, resource), got in counts.items():
            expected = expected_counts(kept, timescale, resource, asked[resource])
            rows = zip(
                got.entity_names[got.entity_code],
                pd.to_datetime(got.window),
                got.samples,
                got.at_or_above,
                strict=True,
            )
            assert sorted(rows) == list(
                zip(expected["entity"], expected["window"], expected["size"], expected["sum"], strict=True)
            )


def exact_quantiles(kept: pd.DataFrame, resource: str, timescale: str, q: float) -> pd.DataFrame:
    rows = kept[(kept["resource"] == resource) & kept["capacity"].notna()].copy()
    rows["u"] = rows["used"] / rows["capacity"]
    rows["window"] = window_of(rows["ts"], timescale)
    grouped = rows.groupby(["entity", "window"])["u"]
    return pd.DataFrame(
        {
            "samples": grouped.size(),
            "exact": grouped.quantile(q),
            # the upper of the two order statistics the quantile interpolates between
            "top": grouped.apply(
                lambda u: np.sort(u.to_numpy())[min(int(np.floor(q * (u.size - 1))) + 1, u.size - 1)]
            ),
        }
    ).reset_index()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    history=histories(),
    q=st.sampled_from((0.0, 0.5, 0.9, 0.95, 0.99, 1.0)) | st.floats(0, 1),
    timescale=st.sampled_from(TIMESCALES),
    resource=st.sampled_from(("cpu", "memory")),
)
def test_rollup_quantiles_are_within_one_bin_of_exact(history, q, timescale, resource):
    frame, plan = history
    with open_store(":memory:") as store:
        write_history(store, frame, plan, None)
        kept, _, _ = simulate(frame, plan, None)
        expected = exact_quantiles(kept, resource, timescale, q)

        report = operations.utilization_quantiles(store, resource, q, timescale)
        assert report.served_by == f"rollup {timescale if timescale in ('5m', '1h') else '1d'}"
        got = pd.DataFrame(
            report.windows, columns=["entity", "window", "samples", "quantile", "lower", "upper"]
        )
        assert list(zip(got["entity"], pd.to_datetime(got["window"]), got["samples"], strict=True)) == list(
            zip(expected["entity"], expected["window"], expected["samples"], strict=True)
        )
        exact, top = expected["exact"].to_numpy(), expected["top"].to_numpy()
        lower, upper, middle = (
            got[column].to_numpy(dtype=float) for column in ("lower", "upper", "quantile")
        )
        tolerance = 1e-12 * np.maximum(1, np.abs(exact))
        assert np.all(lower - tolerance <= exact) and np.all(exact <= upper + tolerance)
        below_top_bin = top < 2  # both order statistics interpolated lie below the overflow bin
        assert np.all(upper[below_top_bin] - lower[below_top_bin] <= 0.01 + 1e-12)
        assert np.all(np.abs(middle - exact)[below_top_bin] <= 0.005 + 1e-12)

        raw = operations.utilization_quantiles(store, resource, q, timescale, from_raw=True)
        assert raw.served_by == "raw"
        np.testing.assert_allclose([row.quantile for row in raw.windows], exact, rtol=1e-12, atol=1e-12)
