"""Refused input in the store: recorded once per input, so that reading a file again adds nothing."""

from __future__ import annotations

import duckdb

# A rejection is the same when it names the same input, place, reason and detail.
_SAME = """
    x.origin = r.origin AND x.line IS NOT DISTINCT FROM r.line AND x.field IS NOT DISTINCT FROM r.field
    AND x.reason = r.reason AND x.detail = r.detail
"""


def insert_rejections(con: duckdb.DuckDBPyConnection, table: str, once: bool = True) -> int:
    """Insert the rows of ``table`` (the columns of ``rejections``) into the store's rejections;
    return how many were inserted.

    :param once: skip those the store already records (a file read again); ``False`` records
        every one (a live scrape's failures are new input each round, even when they read the same)
    """
    if not once:
        sql = f"INSERT INTO rejections SELECT * FROM {table}"
    else:
        sql = f"""
            INSERT INTO rejections SELECT DISTINCT ON (origin, line, field, reason, detail) *
            FROM {table} r WHERE NOT EXISTS (
                SELECT 1 FROM (
                    -- only the rejections of the same origins: a scan of a few, not of them all
                    SELECT * FROM rejections WHERE origin IN (SELECT DISTINCT origin FROM {table})
                ) x WHERE {_SAME}
            )
        """
    (inserted,) = con.execute(sql).fetchall()[0]
    return int(inserted)
