"""A project-scoped reader sees its project's entities and samples only, in every read."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from stackmeter import operations
from stackmeter.models import RAW
from stackmeter.store import open_store
from tests.fleet import PROJECTS, write_fleet
from tests.store.sql import connection_of


@pytest.fixture(scope="module")
def store():
    opened = open_store(":memory:")
    write_fleet(opened)
    yield opened
    opened.close()


def names_of(project):
    return sorted(entity for entity, owner in PROJECTS.items() if owner == project)


@pytest.mark.parametrize("project", ["alpha", "beta"])
def test_every_read_sees_only_the_project(store, project):
    reader = store.reader(project)
    try:
        mine = names_of(project)
        assert [row.entity for row in reader.read_entities()] == mine
        for entity in PROJECTS:
            assert reader.has_entity(entity) == (entity in mine)
            assert reader.read_series(entity, "cpu").size == (
                store.read_series(entity, "cpu").size if entity in mine else 0
            )
        coverage = reader.read_coverage()
        assert coverage["cpu"].entities == len(mine)
        counts = reader.read_window_counts({"1d": RAW}, {"cpu": 0.5})["1d", "cpu"]
        assert sorted(set(counts.entity_names[counts.entity_code].tolist())) <= mine
        assert int((counts.entity_windows > 0).sum()) == len(mine)
        status = reader.read_status()
        assert status.entities == len(mine)
        assert status.samples == sum(
            store.read_series(e, r).size for e in mine for r in ("cpu", "memory", "disk", "network")
        )
    finally:
        reader.close()


def test_unscoped_reader_sees_everything(store):
    reader = store.reader()
    try:
        assert reader.read_entities() == store.read_entities()
        assert reader.read_status().samples == store.read_status().samples
    finally:
        reader.close()


def test_a_project_name_is_data_not_sql(store):
    reader = store.reader("alpha' OR '1'='1\"")
    try:
        assert reader.read_entities() == []
        assert reader.read_status().samples == 0
    finally:
        reader.close()


def test_readers_on_threads_do_not_share_temporary_tables(store):
    """The overload counts build temporary tables; concurrent readers must each get their own."""
    expected = store.read_window_counts(dict.fromkeys(("5m", "1d", "1mo"), RAW), {"cpu": 0.5, "memory": 0.3})
    results = []

    def count():
        reader = store.reader()
        try:
            results.append(
                reader.read_window_counts(
                    dict.fromkeys(("5m", "1d", "1mo"), RAW), {"cpu": 0.5, "memory": 0.3}
                )
            )
        finally:
            reader.close()

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 4
    for result in results:
        for key, counts in expected.items():
            assert np.array_equal(result[key].at_or_above, counts.at_or_above)
            assert np.array_equal(result[key].entity_windows, counts.entity_windows)


@pytest.mark.parametrize("project", ["alpha", "beta"])
def test_rollups_of_a_project_reader_are_those_of_a_store_of_its_project_alone(store, project):
    """Every rollup table is scoped: a reader's levels and extents equal those of a store holding
    only the project's VMs, and so do the reports and quantiles served from them."""
    alone = open_store(":memory:")
    write_fleet(alone, {entity: owner for entity, owner in PROJECTS.items() if owner == project})
    reader = store.reader(project)
    try:
        for table in ["rollup_5m", "rollup_1h", "rollup_1d", "series_extents"]:
            query = f"SELECT e.entity, t.* EXCLUDE (entity_id) FROM {table} t JOIN entities e USING (entity_id) ORDER BY ALL"
            # sums may differ in their last bits: DuckDB adds in parallel
            pd.testing.assert_frame_equal(
                connection_of(reader).execute(query).df(),
                connection_of(alone).execute(query).df(),
                rtol=1e-12,
            )
        assert reader.read_coverage(from_rollups=True) == alone.read_coverage(from_rollups=True)
        report = operations.overload_report(reader, "1h,1d,1mo")
        assert report.served_by == {"1h": "rollup 1h", "1d": "rollup 1d", "1mo": "rollup 1d"}
        assert report == operations.overload_report(alone, "1h,1d,1mo")
        quantiles = operations.utilization_quantiles(reader, "cpu", 0.9, "1w")
        assert {row.entity for row in quantiles.windows} == set(names_of(project))
        assert quantiles == operations.utilization_quantiles(alone, "cpu", 0.9, "1w")
        # The report totals per entity are the project's; those summed over the fleet are not seen.
        for table in ["report_entities", "report_overloads"]:
            query = f"SELECT e.entity, t.* EXCLUDE (entity_id) FROM {table} t JOIN entities e USING (entity_id) ORDER BY ALL"
            pd.testing.assert_frame_equal(
                connection_of(reader).execute(query).df(), connection_of(alone).execute(query).df()
            )
        for table in ["report_windows", "report_sizes"]:
            assert connection_of(reader).execute(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]
            assert connection_of(alone).execute(f"SELECT count(*) FROM {table}").fetchall() != [(0,)]
    finally:
        reader.close()
        alone.close()
