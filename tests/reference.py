"""An independent pandas reading of the raw trace files and of DESIGN.md's overload definitions.

It shares no code with stackmeter: raw files are read with pandas/numpy, windows come from
pandas' own calendar (floor, periods), and the report is computed with groupby.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

FIXTURES = Path(__file__).parent / "fixtures"
PANDAS_FREQ = {"5m": "5min", "1h": "1h", "1d": "1D"}


def read_planetlab(folder: Path) -> pd.DataFrame:
    """Samples of every file of a PlanetLab day folder (cpu, capacity 1)."""
    day = pd.Timestamp(folder.name)
    frames = []
    for path in sorted(folder.iterdir()):
        percent = np.loadtxt(path, dtype=float, ndmin=1)
        ts = day + pd.to_timedelta(300 * np.arange(percent.size), unit="s")
        frames.append(
            pd.DataFrame(
                {"entity": path.name, "resource": "cpu", "ts": ts, "used": percent / 100, "capacity": 1.0}
            )
        )
    return pd.concat(frames, ignore_index=True)


def read_bitbrains(
    paths: list[Path], disk_capacity: float | None, network_capacity: float | None
) -> pd.DataFrame:
    """Samples of Bitbrains files, keeping the first valid sample of a duplicated (resource, ts)."""
    frames = []
    for path in paths:
        with gzip.open(path, "rt") as handle:
            raw = pd.read_csv(handle, sep=";", skipinitialspace=True)
        raw.columns = [c.strip() for c in raw.columns]
        ts = pd.to_datetime(raw["Timestamp [ms]"], unit="s")
        entity = path.name.split(".")[0]
        per_resource = {
            "cpu": (raw["CPU usage [MHZ]"], raw["CPU capacity provisioned [MHZ]"]),
            "memory": (raw["Memory usage [KB]"] * 1024, raw["Memory capacity provisioned [KB]"] * 1024),
            "disk": (
                (raw["Disk read throughput [KB/s]"] + raw["Disk write throughput [KB/s]"]) * 1024,
                pd.Series(np.nan if disk_capacity is None else disk_capacity, index=raw.index),
            ),
            "network": (
                np.maximum(
                    raw["Network received throughput [KB/s]"], raw["Network transmitted throughput [KB/s]"]
                )
                * 1024,
                pd.Series(np.nan if network_capacity is None else network_capacity, index=raw.index),
            ),
        }
        for resource, (used, capacity) in per_resource.items():
            frame = pd.DataFrame(
                {"entity": entity, "resource": resource, "ts": ts, "used": used, "capacity": capacity}
            )
            if resource in ("cpu", "memory"):
                frame = frame[frame["capacity"] > 0]
            frames.append(frame.drop_duplicates(["ts"], keep="first"))
    return pd.concat(frames, ignore_index=True)


def window_of(ts: pd.Series, timescale: str) -> pd.Series:
    if timescale in PANDAS_FREQ:
        return ts.dt.floor(PANDAS_FREQ[timescale])
    if timescale == "1w":
        return ts.dt.to_period("W-SUN").dt.start_time
    return ts.dt.to_period("M").dt.start_time


def window_range(first: pd.Timestamp, last: pd.Timestamp, timescale: str) -> pd.DatetimeIndex:
    freq = {"5m": "5min", "1h": "1h", "1d": "1D", "1w": "W-MON", "1mo": "MS"}[timescale]
    return pd.date_range(first, last, freq=freq)


def overload_reference(
    samples: pd.DataFrame, timescale: str, resource: str, threshold: float, share: float, top: int
):
    """One cell of the overload report, as DESIGN.md defines it."""
    rows = samples[samples["resource"] == resource]
    entities = rows["entity"].nunique()
    without_capacity = entities - rows.loc[rows["capacity"].notna(), "entity"].nunique()
    judged = rows[rows["capacity"].notna()].copy()
    if judged.empty:
        return {
            "entities": entities,
            "without_capacity": without_capacity,
            "windows": 0,
            "overloaded_ever": 0,
        }
    judged["window"] = window_of(judged["ts"], timescale)
    judged["over"] = (judged["used"] / judged["capacity"]) >= threshold
    per = judged.groupby(["entity", "window"])["over"].agg(["mean", "size"]).reset_index()
    per["overloaded"] = per["mean"] >= share
    spanned = window_range(per["window"].min(), per["window"].max(), timescale)
    counts = per[per["overloaded"]].groupby("window").size().reindex(spanned, fill_value=0)
    by_entity = per.groupby("entity")["overloaded"].agg(["sum", "size"])
    overloaded_entities = by_entity[by_entity["sum"] > 0].copy()
    overloaded_entities["share"] = overloaded_entities["sum"] / overloaded_entities["size"]
    overloaded_entities = overloaded_entities.reset_index().sort_values(
        ["share", "sum", "entity"], ascending=[False, False, True]
    )
    # complete windows: ended no later than one sampling step after the last sample, and holding
    # at least half the samples their entities report over a whole window at the median step
    # the step: for the finest of 5 min, 1 h and 1 d whose median count of judged samples per
    # (entity, window) holding any is above 2, the window's length over that median; else the
    # median over entities of span / (samples − 1)
    step = None
    for length_s in (300, 3600, 86400):
        median = judged.groupby(["entity", judged["ts"].dt.floor(f"{length_s}s")]).size().median()
        if median > 2:
            step = length_s / median
            break
    if step is None:
        per_entity = rows.groupby("entity")["ts"].agg(["min", "max", "size"])
        per_entity = per_entity[per_entity["size"] > 1]
        step = (
            (per_entity["max"] - per_entity["min"]).dt.total_seconds() / (per_entity["size"] - 1)
        ).median()
    last_ts = judged["ts"].max()
    ends = list(spanned[1:]) + [window_range(spanned[-1], spanned[-1] + pd.Timedelta(days=40), timescale)[1]]
    reported = judged.groupby("window").agg(entities=("entity", "nunique"), samples=("ts", "size"))
    reported = reported.reindex(spanned, fill_value=0)
    ends = pd.DatetimeIndex(ends)
    expected = reported["entities"].to_numpy() * (ends - spanned).total_seconds().to_numpy() / step
    samples = reported["samples"].to_numpy()
    is_complete = (ends <= last_ts + pd.Timedelta(seconds=step)) & (samples > 0) & (samples >= 0.5 * expected)
    complete = list(spanned[is_complete])
    latest = complete[-1] if complete else None
    positions = np.flatnonzero(is_complete)
    trend = (
        float(np.polyfit(positions, counts[complete].to_numpy(float), 1)[0]) if len(complete) >= 2 else None
    )
    return {
        "entities": entities,
        "without_capacity": without_capacity,
        "windows": len(spanned),
        "windows_partial": len(spanned) - len(complete),
        "trend_per_window": trend,
        "complete": complete,
        "reported": reported,
        "step_s": step,
        "overloaded_ever": int((by_entity["sum"] > 0).sum()),
        "overloaded_mean": float(counts.mean()),
        "overloaded_max": int(counts.max()),
        "worst_window": counts.idxmax() if counts.max() > 0 else None,
        "latest_window": latest,
        "overloaded_latest": None if latest is None else int(counts[latest]),
        "worst": [
            (e, s) for e, s in zip(overloaded_entities["entity"], overloaded_entities["share"], strict=True)
        ][:top],
        "overloaded_pairs": per.loc[per["overloaded"], ["entity", "window"]].assign(resource=resource),
    }


def multi_resource_reference(pairs: list[pd.DataFrame]) -> tuple[int, int]:
    """(entities, entity-windows) overloaded in at least two resources in the same window."""
    frame = pd.concat(pairs, ignore_index=True)
    counts = frame.groupby(["entity", "window"])["resource"].nunique()
    multi = counts[counts >= 2].reset_index()
    return multi["entity"].nunique(), len(multi)
