"""The store's migrations are frozen, and every timescale has its rollup table."""

from __future__ import annotations

import hashlib

from stackmeter.models import TIMESCALES
from stackmeter.store.duckdb.schema import MIGRATIONS, read_schema_version
from tests.store.sql import connection_of

# The DDL of each released migration: stores that applied one never see a later edit of it, so
# it must not change. A new table (a new rollup level, a new resource) is a new migration.
RELEASED = (
    "ad8fd05099c0a272",
    "a222ef5bf5c6d55d",
    "4dbe679893b4ef65",
    "f6b4199e9d530136",
    "571b8f6923b0a193",
    "0cb09b45f63338fe",
)


def test_released_migrations_are_unchanged():
    digests = tuple(hashlib.sha256(ddl.encode()).hexdigest()[:16] for ddl in MIGRATIONS)
    assert digests[: len(RELEASED)] == RELEASED


def test_every_timescale_has_a_rollup_table(store):
    assert read_schema_version(connection_of(store)) == len(MIGRATIONS)
    tables = {row[0] for row in connection_of(store).execute("SHOW TABLES").fetchall()}
    assert {f"rollup_{timescale}" for timescale in TIMESCALES} <= tables
