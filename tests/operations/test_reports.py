"""One entity's windows: every resource it has, judged with a capacity or shown by its used values without one."""

from __future__ import annotations

import pandas as pd
import pytest

from stackmeter import operations
from stackmeter.sources import TRACE_FORMATS
from tests.fleet import FIXTURES
from tests.reference import window_of

UNJUDGED = "51"


@pytest.fixture
def vm_51(store):
    """VM 51 of the Bitbrains excerpts as the trace gives it: disk and network without capacity."""
    bitbrains = TRACE_FORMATS["bitbrains"]
    files = [p for p in bitbrains.find_files(FIXTURES / "bitbrains") if p.name.startswith(f"{UNJUDGED}.")]
    store.write_parsed([bitbrains.load_file(p) for p in files], source="bitbrains")
    return store


@pytest.mark.parametrize("timescale", ["1h", "1d", "1mo"])
def test_a_resource_without_capacity_is_shown_by_its_used_values(vm_51, timescale):
    result = operations.entity_overload(vm_51, UNJUDGED, timescale)
    assert [item.resource for item in result.resources] == ["cpu", "memory"]
    assert [item.resource for item in result.unjudged] == ["disk", "network"]
    assert result.served_by["disk"] == result.served_by["network"] == "raw"
    for usage in result.unjudged:
        samples = vm_51.read_series(UNJUDGED, usage.resource)
        frame = pd.DataFrame({"ts": pd.to_datetime(samples.ts), "used": samples.used})
        expected = frame.groupby(window_of(frame["ts"], timescale))["used"].agg(["mean", "max"])
        assert (usage.used_unit, usage.samples, usage.windows) == ("bytes/s", len(frame), len(expected))
        assert usage.window.tolist() == expected.index.values.astype("datetime64[ns]").tolist()
        assert usage.mean_used == pytest.approx(expected["mean"].to_numpy(), rel=1e-9, abs=1e-9)
        assert usage.max_used.tolist() == expected["max"].tolist()
        assert usage.max_used.max() > 0


def test_an_entity_with_every_capacity_has_nothing_unjudged(vm_51):
    result = operations.entity_overload(vm_51, UNJUDGED, "1d", resources=("cpu",))
    assert [item.resource for item in result.resources] == ["cpu"] and result.unjudged == ()
