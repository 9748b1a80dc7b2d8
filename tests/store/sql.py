"""The DuckDB connection under a store, for tests that look at its tables."""

from __future__ import annotations

import duckdb

from stackmeter.store import Store
from stackmeter.store.duckdb import DuckDBStore


def connection_of(store: Store) -> duckdb.DuckDBPyConnection:
    """Return the connection of a DuckDB ``store`` (tests only: the store's API has none)."""
    assert isinstance(store, DuckDBStore)
    return store._con
