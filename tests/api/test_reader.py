"""The report cache: one computation per key even under concurrency, bounded, and new data is seen."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from stackmeter.api import create_app
from stackmeter.api.reader import ReportCache
from stackmeter.settings import Settings
from stackmeter.store import open_store
from tests.fleet import write_fleet


def test_concurrent_requests_for_one_key_compute_once():
    cache = ReportCache(4)
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.05)
        return len(calls)

    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get("k", compute))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [1] * 8 and len(calls) == 1


def test_the_cache_keeps_the_last_entries_only():
    cache = ReportCache(2)
    for key in "abc":
        cache.get(key, lambda key=key: key)
    assert cache.get("a", lambda: "again") == "again"
    assert cache.get("c", lambda: "stale") == "c"
    assert ReportCache(0).get("a", lambda: 1) == 1 and ReportCache(0).get("a", lambda: 2) == 2


def test_data_written_after_a_report_shows_in_the_next_one():
    store = open_store(":memory:")
    write_fleet(store, {"41": None})
    with TestClient(create_app(Settings(store=":memory:"), store=store, tokens=())) as client:
        before = client.get("/api/v1/overload?timescale=1d&resource=cpu").json()
        assert client.get("/api/v1/overload?timescale=1d&resource=cpu").json() == before
        write_fleet(store, {"51": None})
        after = client.get("/api/v1/overload?timescale=1d&resource=cpu").json()
    assert (before["cells"][0]["entities"], after["cells"][0]["entities"]) == (1, 2)
