"""The store's tables, as an ordered list of migrations; a store is at the version of the last one applied."""

from __future__ import annotations

# Resources are stored as small integer codes; this table keeps SQL readable and lets
# later migrations add resources (gpu, ...) without rewriting samples.
RESOURCE_CODES = {"cpu": 0, "memory": 1, "disk": 2, "network": 3}
CODE_RESOURCES = {code: name for name, code in RESOURCE_CODES.items()}

MIGRATIONS: list[str] = [
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
]

MIGRATIONS.append(
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
    """
)
