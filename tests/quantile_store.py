"""A small real store for quantile tests: two PlanetLab days (49 VMs) and three months of four
Bitbrains VMs, some VMs in project ``alpha``, beside an independent reading of the same files.

Entity ids follow the order of writing (Bitbrains first), which is not the order of entity names
that quantile answers follow; the expected answer comes from pandas and numpy only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stackmeter.models import Entity
from stackmeter.sources import TRACE_FORMATS
from stackmeter.store import Store
from tests.reference import FIXTURES, read_bitbrains, read_planetlab, window_of

ALPHA = "alpha"
PLANETLAB_DAYS = (FIXTURES / "planetlab" / "20110303", FIXTURES / "planetlab" / "20110306")


def project_of(entity: str) -> str | None:
    """VMs 196 and 41 and the PlanetLab VMs whose name has an ``a`` in its tail are alpha's."""
    return ALPHA if entity in ("196", "41") or "a" in entity[-4:] else None


def write_traces(store: Store) -> None:
    """Write the Bitbrains excerpt, then both PlanetLab days, each VM declared with its project."""
    paths = [("bitbrains", path) for path in TRACE_FORMATS["bitbrains"].find_files(FIXTURES / "bitbrains")]
    paths += [
        ("planetlab", path) for day in PLANETLAB_DAYS for path in TRACE_FORMATS["planetlab"].find_files(day)
    ]
    for trace_format in ("bitbrains", "planetlab"):
        parts = []
        for path in (path for of, path in paths if of == trace_format):
            parsed = TRACE_FORMATS[trace_format].load_file(path)
            entity = parsed.entities[0].entity
            parts.append(parsed._replace(entities=(Entity(entity, "vm", project_of(entity)),)))
        store.write_parsed(parts, source=trace_format)


def read_traces() -> pd.DataFrame:
    """The judged samples of the same files (known capacity), read with pandas: entity, resource, ts, u."""
    bitbrains = read_bitbrains(sorted((FIXTURES / "bitbrains").rglob("*.csv.gz")), None, None)
    raw = pd.concat([bitbrains, *(read_planetlab(day) for day in PLANETLAB_DAYS)], ignore_index=True)
    raw = raw[raw["capacity"].notna()]
    return raw.assign(u=raw["used"] / raw["capacity"])[["entity", "resource", "ts", "u"]]


def exact_rows(raw: pd.DataFrame, resource: str, timescale: str, q: float) -> list[tuple]:
    """(entity, window, samples, numpy's quantile ``q``) per window of ``resource``, ordered by
    entity name and window, as a quantile answer is."""
    of = raw[raw["resource"] == resource]
    groups = of.groupby(["entity", window_of(of["ts"], timescale).rename("window")])["u"]
    rows = [
        (entity, np.datetime64(window, "ns"), len(values), float(np.quantile(values.to_numpy(), q)))
        for (entity, window), values in groups
    ]
    return sorted(rows, key=lambda row: (row[0], row[1]))


def windows_per_entity(raw: pd.DataFrame, resource: str, timescale: str) -> dict[str, int]:
    """How many ``timescale`` windows hold judged samples of ``resource``, per entity."""
    of = raw[raw["resource"] == resource]
    counts = of.groupby("entity")["ts"].agg(lambda ts: window_of(ts, timescale).nunique())
    return {str(entity): int(n) for entity, n in counts.items()}
