"""Prometheus and VictoriaMetrics scraping a real node_exporter agree with collecting from it directly."""

from __future__ import annotations

import time

import numpy as np
import pytest

from stackmeter import operations
from stackmeter.sources.exposition import CounterState
from stackmeter.store import open_store
from tests.integration.exporter_servers import burn_one_core, by_resource, flush_recent_samples, scrape

pytestmark = pytest.mark.integration


def test_prometheus_and_victoria_metrics_agree_with_direct_collection(node_exporter, metric_servers):
    step_s = 2.0
    burner = burn_one_core()
    direct = []
    try:
        time.sleep(1.0)
        _, state = scrape(node_exporter, CounterState())
        for _ in range(5):
            time.sleep(step_s)
            parsed, state = scrape(node_exporter, state)
            direct.append(parsed)
    finally:
        burner.kill()
        burner.wait()
    time.sleep(1.5)  # the servers scrape every second: let them catch up
    first, last = direct[0].samples.ts[0], direct[-1].samples.ts[0]
    host = direct[0].entities[0].entity

    def direct_mean(resource: str) -> float:
        return float(np.mean([by_resource(p)[resource][0] for p in direct]))

    total = by_resource(direct[0])["memory"][1]
    for server_url in metric_servers.values():
        flush_recent_samples(server_url)
        with open_store(":memory:") as store:
            summary = operations.ingest_prometheus(store, server_url, first, last, step_s, rate_window_s=3.0)
            assert summary.samples_added > 0 and store.has_entity(host)  # named by nodename both ways
            via_server = {r: store.read_series(host, r) for r in ("cpu", "memory", "disk")}
        # Busy cores: the server rates over 3 s windows at 1 s scrapes, ours over 2 s between our
        # own scrapes; the means over the same 10 s agree within 0.25 cores.
        assert via_server["cpu"].size >= 4, server_url
        assert float(np.mean(via_server["cpu"].used)) == pytest.approx(direct_mean("cpu"), abs=0.25)
        assert set(via_server["cpu"].capacity) == {by_resource(direct[0])["cpu"][1]}
        # Memory within 2 % of the total, disk busy within 0.1.
        memory_mean = float(np.mean(via_server["memory"].used))
        assert memory_mean == pytest.approx(direct_mean("memory"), abs=0.02 * total)
        assert set(via_server["memory"].capacity) == {total}
        assert float(np.mean(via_server["disk"].used)) == pytest.approx(direct_mean("disk"), abs=0.1)
