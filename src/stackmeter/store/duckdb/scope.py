"""Reader connections: one DuckDB cursor per reader, optionally seeing one project's entities only."""

from __future__ import annotations

import duckdb

from stackmeter.models import TIMESCALES

# Every table keyed by entity gets a view of the same name in the reader's temporary schema,
# which DuckDB searches before the database's own. Queries stay unchanged and cannot forget
# the scope: a table added later that is keyed by entity must get its line here.
SCOPED_VIEWS = {
    "entities": "SELECT * FROM {db}.main.entities WHERE project = (SELECT project FROM _scope)",
    "samples": (
        "SELECT * FROM {db}.main.samples WHERE entity_id IN "
        "(SELECT entity_id FROM {db}.main.entities WHERE project = (SELECT project FROM _scope))"
    ),
    # rollups (a table per timescale, see schema.py) and series extents are keyed by entity as samples are
    **{
        table: (
            f"SELECT * FROM {{db}}.main.{table} WHERE entity_id IN "
            "(SELECT entity_id FROM {db}.main.entities WHERE project = (SELECT project FROM _scope))"
        )
        for table in [*(f"rollup_{level}" for level in TIMESCALES), "series_extents"]
    },
    # report totals per entity are scoped as the rollups they sum; those summed over the fleet cannot
    # be: a project's reader sees none of them and sums its own (report_totals.serves is false for it).
    **{
        table: (
            f"SELECT * FROM {{db}}.main.{table} WHERE entity_id IN "
            "(SELECT entity_id FROM {db}.main.entities WHERE project = (SELECT project FROM _scope))"
        )
        for table in ("report_entities", "report_overloads")
    },
    **{
        table: f"SELECT * FROM {{db}}.main.{table} WHERE false"
        for table in ("report_windows", "report_sizes")
    },
    # notifications carry their project; dead letters have none, so a project sees none of them
    "events": "SELECT * FROM {db}.main.events WHERE project = (SELECT project FROM _scope)",
    "deadletters": "SELECT * FROM {db}.main.deadletters WHERE false",
    # a consolidation run's records are the fleet's (its hosts' sleep and overload, migrations
    # between them) and carry no project: a project sees no run
    **{
        table: f"SELECT * FROM {{db}}.main.{table} WHERE false"
        for table in (
            "consolidation_runs",
            "consolidation_hosts",
            "consolidation_host_states",
            "consolidation_overloads",
            "consolidation_migrations",
        )
    },
}


def open_reader(con: duckdb.DuckDBPyConnection, project: str | None = None) -> duckdb.DuckDBPyConnection:
    """Return a new cursor on ``con``'s database; with ``project``, it sees only that project's
    entities and their samples.

    A cursor has its own temporary tables, so readers on several threads do not collide.
    """
    cursor = con.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    if project is None:
        return cursor
    (db,) = cursor.execute("SELECT current_database()").fetchall()[0]
    quoted = '"' + db.replace('"', '""') + '"'
    cursor.execute("CREATE TEMP TABLE _scope AS SELECT ?::VARCHAR AS project", [project])
    for name, query in SCOPED_VIEWS.items():
        cursor.execute(f"CREATE TEMP VIEW {name} AS {query.format(db=quoted)}")
    return cursor
