"""The store's tables as frozen migrations, literal DDL applied in order; a store is at the version of the last one."""

from __future__ import annotations

import duckdb

from stackmeter.errors import SchemaOutdated, StoreError

# Resources are stored as small integer codes; this table keeps SQL readable and lets
# later migrations add resources (gpu, ...) without rewriting samples.
RESOURCE_CODES = {"cpu": 0, "memory": 1, "disk": 2, "network": 3}
CODE_RESOURCES = {code: name for name, code in RESOURCE_CODES.items()}

# Never edit a migration once released: a store that applied it would not see the change. A new
# table (a new rollup level, a new resource) gets a new migration at the end.
MIGRATIONS: tuple[str, ...] = (
    # 1: samples, entities, batches and rejected input
    """
    CREATE TABLE resources (
        resource_code UTINYINT PRIMARY KEY,
        resource VARCHAR NOT NULL UNIQUE
    );
    INSERT INTO resources VALUES (0, 'cpu'), (1, 'memory'), (2, 'disk'), (3, 'network');

    CREATE TABLE entities (
        entity_id INTEGER PRIMARY KEY,
        entity VARCHAR NOT NULL UNIQUE,
        kind VARCHAR NOT NULL CHECK (kind IN ('host', 'vm')),
        project VARCHAR,
        host VARCHAR
    );

    CREATE TABLE samples (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        used DOUBLE NOT NULL CHECK (used >= 0 AND isfinite(used)),
        capacity DOUBLE CHECK (capacity > 0 AND isfinite(capacity))
    );

    CREATE SEQUENCE batch_ids START 1;
    CREATE TABLE batches (
        batch_id BIGINT PRIMARY KEY,
        source VARCHAR NOT NULL,
        written_at TIMESTAMPTZ NOT NULL,
        origins INTEGER NOT NULL,
        samples_added BIGINT NOT NULL,
        duplicates BIGINT NOT NULL,
        rejected BIGINT NOT NULL
    );

    CREATE TABLE rejections (
        batch_id BIGINT NOT NULL,
        origin VARCHAR NOT NULL,
        line BIGINT,
        field VARCHAR,
        reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL
    );
    """,
    # 2: how scraping each exporter target goes (collect writes it, `stackmeter sources` reads it)
    """
    CREATE TABLE target_status (
        target VARCHAR PRIMARY KEY,
        exporter VARCHAR NOT NULL,
        state VARCHAR NOT NULL CHECK (state IN ('up', 'down', 'pending')),
        last_attempt TIMESTAMPTZ,
        last_success TIMESTAMPTZ,
        last_error VARCHAR,
        failures INTEGER NOT NULL,
        next_attempt TIMESTAMPTZ,
        samples BIGINT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    );
    """,
    # 3: notifications from the bus (one row per message id) and messages that could not be read
    """
    CREATE TABLE events (
        message_id VARCHAR PRIMARY KEY,
        ts TIMESTAMPTZ NOT NULL,
        event_type VARCHAR NOT NULL,
        instance VARCHAR,
        request_id VARCHAR,
        host VARCHAR,
        project VARCHAR,
        flavor VARCHAR,
        state VARCHAR,
        fault VARCHAR
    );

    CREATE TABLE deadletters (
        digest VARCHAR PRIMARY KEY,
        received TIMESTAMPTZ NOT NULL,
        origin VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        detail VARCHAR NOT NULL,
        body VARCHAR NOT NULL
    );
    """,
    # 4: rollup levels, the extent of every series, and what compaction has dropped.
    # One table per level (rollup_5m ... rollup_1mo), so that a coarse level's scan never reads a
    # finer one's row groups. A row sums the judged samples (known capacity) of one entity,
    # resource and window: count, sum, min and max of utilization, and a histogram of the
    # non-empty 1 % bins as (bin, samples) pairs sorted by bin, NULL when every sample of the
    # window fell in the bin of the minimum (a 5-minute window holding one sample, an idle VM).
    # Likewise the sum is NULL for a single sample and the maximum NULL when equal to the
    # minimum: both are then the minimum. That halves the size of a level of single samples.
    # window_us is the window start in epoch microseconds (UTC). A level whose built_at is NULL
    # is built from the raw samples when a writer next opens the store (the default levels of a
    # store that held samples before rollups existed).
    """
    CREATE TABLE rollup_levels (
        level VARCHAR PRIMARY KEY,
        built_at TIMESTAMPTZ
    );
    INSERT INTO rollup_levels VALUES ('5m', NULL), ('1h', NULL), ('1d', NULL);

    CREATE TABLE rollup_5m (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        samples UINTEGER NOT NULL,
        utilization_sum DOUBLE,
        utilization_min DOUBLE NOT NULL,
        utilization_max DOUBLE,
        histogram STRUCT(bin USMALLINT, samples UINTEGER)[]
    );

    CREATE TABLE rollup_1h (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        samples UINTEGER NOT NULL,
        utilization_sum DOUBLE,
        utilization_min DOUBLE NOT NULL,
        utilization_max DOUBLE,
        histogram STRUCT(bin USMALLINT, samples UINTEGER)[]
    );

    CREATE TABLE rollup_1d (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        samples UINTEGER NOT NULL,
        utilization_sum DOUBLE,
        utilization_min DOUBLE NOT NULL,
        utilization_max DOUBLE,
        histogram STRUCT(bin USMALLINT, samples UINTEGER)[]
    );

    CREATE TABLE rollup_1w (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        samples UINTEGER NOT NULL,
        utilization_sum DOUBLE,
        utilization_min DOUBLE NOT NULL,
        utilization_max DOUBLE,
        histogram STRUCT(bin USMALLINT, samples UINTEGER)[]
    );

    CREATE TABLE rollup_1mo (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        samples UINTEGER NOT NULL,
        utilization_sum DOUBLE,
        utilization_min DOUBLE NOT NULL,
        utilization_max DOUBLE,
        histogram STRUCT(bin USMALLINT, samples UINTEGER)[]
    );

    CREATE TABLE series_extents (
        entity_id INTEGER NOT NULL,
        resource_code UTINYINT NOT NULL,
        samples BIGINT NOT NULL,
        judged BIGINT NOT NULL,
        first_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL,
        judged_first_us BIGINT,
        judged_last_us BIGINT
    );
    INSERT INTO series_extents
    SELECT entity_id, resource_code, count(*), count(capacity), min(epoch_us(ts)), max(epoch_us(ts)),
           min(epoch_us(ts)) FILTER (WHERE capacity IS NOT NULL),
           max(epoch_us(ts)) FILTER (WHERE capacity IS NOT NULL)
    FROM samples GROUP BY ALL;

    CREATE TABLE retention_marks (
        kept VARCHAR PRIMARY KEY,
        dropped_before_us BIGINT NOT NULL
    );
    """,
    # 5: report totals, kept at write time from the rollup levels (see report_totals.py): what an
    # overload report reads of a level, summed once per batch. A timescale is listed in
    # report_timescales once its totals are built (by a writer's next open, like a new level).
    # report_thresholds are the watched thresholds, as histogram bins (80 is θ = 0.8): the default
    # of each resource.
    """
    CREATE TABLE report_thresholds (
        resource_code UTINYINT NOT NULL,
        threshold_bin USMALLINT NOT NULL,
        PRIMARY KEY (resource_code, threshold_bin)
    );
    INSERT INTO report_thresholds VALUES (0, 80), (1, 90), (2, 80), (3, 80);

    CREATE TABLE report_timescales (
        timescale VARCHAR PRIMARY KEY,
        level VARCHAR NOT NULL,
        built_at TIMESTAMPTZ NOT NULL
    );

    CREATE TABLE report_windows (
        timescale VARCHAR NOT NULL,
        resource_code UTINYINT NOT NULL,
        window_us BIGINT NOT NULL,
        entities BIGINT NOT NULL,
        samples BIGINT NOT NULL,
        utilization_sum DOUBLE NOT NULL
    );

    CREATE TABLE report_entities (
        timescale VARCHAR NOT NULL,
        resource_code UTINYINT NOT NULL,
        entity_id INTEGER NOT NULL,
        windows BIGINT NOT NULL,
        first_us BIGINT NOT NULL,
        last_us BIGINT NOT NULL
    );

    CREATE TABLE report_sizes (
        timescale VARCHAR NOT NULL,
        resource_code UTINYINT NOT NULL,
        samples BIGINT NOT NULL,
        windows BIGINT NOT NULL
    );

    CREATE TABLE report_overloads (
        timescale VARCHAR NOT NULL,
        resource_code UTINYINT NOT NULL,
        threshold_bin USMALLINT NOT NULL,
        entity_id INTEGER NOT NULL,
        window_us BIGINT NOT NULL,
        samples BIGINT NOT NULL,
        at_or_above BIGINT NOT NULL
    );
    """,
    # 6: runs of a consolidation framework on a real cloud (OpenStack Neat): each run's metric
    # window, its hosts, and the records its database kept, each with its id there (seq), the
    # order the framework's own metrics read them in. Times are UTC; utc_offset_s is how far the
    # testbed's clock, in which the database wrote them, was ahead.
    """
    CREATE TABLE consolidation_runs (
        run VARCHAR PRIMARY KEY,
        framework VARCHAR NOT NULL,
        window_start TIMESTAMPTZ NOT NULL,
        window_end TIMESTAMPTZ NOT NULL,
        utc_offset_s INTEGER NOT NULL,
        overload_detection VARCHAR,
        written_at TIMESTAMPTZ NOT NULL
    );

    CREATE TABLE consolidation_hosts (
        run VARCHAR NOT NULL,
        host VARCHAR NOT NULL,
        cpu_mhz DOUBLE NOT NULL CHECK (cpu_mhz > 0),
        cpu_cores INTEGER NOT NULL CHECK (cpu_cores > 0),
        ram_mb DOUBLE NOT NULL CHECK (ram_mb > 0),
        PRIMARY KEY (run, host)
    );

    CREATE TABLE consolidation_host_states (
        run VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        host VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        active BOOLEAN NOT NULL,
        PRIMARY KEY (run, seq)
    );

    CREATE TABLE consolidation_overloads (
        run VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        host VARCHAR NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        overloaded BOOLEAN NOT NULL,
        PRIMARY KEY (run, seq)
    );

    CREATE TABLE consolidation_migrations (
        run VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        ts TIMESTAMPTZ NOT NULL,
        vm VARCHAR NOT NULL,
        host VARCHAR NOT NULL,
        PRIMARY KEY (run, seq)
    );
    """,
)


def migrate(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Apply the migrations ``con``'s store lacks, each in its own transaction.

    :raises SchemaOutdated: when the store is newer than this stackmeter
    """
    con.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    version = read_schema_version(con)
    if version > len(MIGRATIONS):
        raise SchemaOutdated(
            f"store {path} is at schema version {version}, this stackmeter knows "
            f"{len(MIGRATIONS)}: upgrade stackmeter"
        )
    for number, ddl in enumerate(MIGRATIONS[version:], start=version + 1):
        try:
            con.execute("BEGIN")
            con.execute(ddl)
            con.execute("INSERT INTO schema_version VALUES (?)", [number])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {number} of {path} failed: {exc}") from exc


def read_schema_version(con: duckdb.DuckDBPyConnection) -> int:
    """Return the number of the last migration applied (0 for a new store)."""
    return con.execute("SELECT max(version) FROM schema_version").fetchall()[0][0] or 0
