-- Lookout's first schema. Times are INTEGER unix milliseconds UTC; durations
-- are INTEGER microseconds. Soft-deleted rows carry deleted_at and keep their
-- history. Written to stay close to PostgreSQL: the only SQLite-specific
-- parts are INTEGER PRIMARY KEY (a rowid alias; BIGINT GENERATED ... AS
-- IDENTITY there) and WITHOUT ROWID (dropped there).

CREATE TABLE organizations (
    id         TEXT    NOT NULL PRIMARY KEY,
    name       TEXT    NOT NULL,
    egress     TEXT    NOT NULL DEFAULT '[]', -- JSON array of prefixes
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER
);

CREATE TABLE pages (
    org        TEXT    NOT NULL REFERENCES organizations (id),
    id         TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    host       TEXT    NOT NULL DEFAULT '',
    url        TEXT    NOT NULL DEFAULT '',
    logo       TEXT    NOT NULL DEFAULT '',
    accent     TEXT    NOT NULL DEFAULT '',
    private    INTEGER NOT NULL DEFAULT 0,
    components TEXT    NOT NULL DEFAULT '[]', -- JSON array of component ids
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    deleted_at INTEGER,
    PRIMARY KEY (org, id)
);

CREATE TABLE components (
    org         TEXT    NOT NULL REFERENCES organizations (id),
    id          TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    grp         TEXT    NOT NULL DEFAULT '',
    private     INTEGER NOT NULL DEFAULT 0,
    position    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    deleted_at  INTEGER,
    PRIMARY KEY (org, id)
);

-- pk is the compact key every result, rollup and ping refers to, so the
-- high-volume tables do not repeat (org, id) strings in every row.
CREATE TABLE probes (
    pk                INTEGER NOT NULL PRIMARY KEY,
    org               TEXT    NOT NULL REFERENCES organizations (id),
    id                TEXT    NOT NULL,
    component         TEXT,
    name              TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    interval_ms       INTEGER NOT NULL,
    timeout_ms        INTEGER NOT NULL,
    failure_threshold INTEGER NOT NULL,
    success_threshold INTEGER NOT NULL,
    definition        TEXT    NOT NULL, -- canonical JSON, no secrets
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    deleted_at        INTEGER,
    UNIQUE (org, id),
    FOREIGN KEY (org, component) REFERENCES components (org, id)
);

-- Raw probe results, kept for the raw retention window. id orders rows by
-- insertion: the rollup watermark. outcome: 0 up, 1 degraded, 2 down.
-- phases: JSON array of [name, microseconds] pairs, in run order.
CREATE TABLE results (
    id          INTEGER NOT NULL PRIMARY KEY,
    probe       INTEGER NOT NULL REFERENCES probes (pk),
    started_at  INTEGER NOT NULL,
    region      TEXT    NOT NULL,
    duration_us INTEGER NOT NULL,
    outcome     INTEGER NOT NULL CHECK (outcome IN (0, 1, 2)),
    phases      TEXT,
    error       TEXT
);
CREATE INDEX results_probe_started ON results (probe, started_at);

-- Rollups: one row per probe, bucket and region, updated incrementally.
-- Latency figures cover results that were not down; p50/p95 are read from
-- hist, a mergeable log-linear latency histogram (within ~3%); max is exact.
CREATE TABLE rollups_hourly (
    probe        INTEGER NOT NULL REFERENCES probes (pk),
    bucket_start INTEGER NOT NULL,
    region       TEXT    NOT NULL,
    count        INTEGER NOT NULL,
    down         INTEGER NOT NULL,
    degraded     INTEGER NOT NULL,
    p50_us       INTEGER NOT NULL,
    p95_us       INTEGER NOT NULL,
    max_us       INTEGER NOT NULL,
    hist         BLOB,
    PRIMARY KEY (probe, bucket_start, region)
) WITHOUT ROWID;

CREATE TABLE rollups_daily (
    probe        INTEGER NOT NULL REFERENCES probes (pk),
    bucket_start INTEGER NOT NULL,
    region       TEXT    NOT NULL,
    count        INTEGER NOT NULL,
    down         INTEGER NOT NULL,
    degraded     INTEGER NOT NULL,
    p50_us       INTEGER NOT NULL,
    p95_us       INTEGER NOT NULL,
    max_us       INTEGER NOT NULL,
    hist         BLOB,
    PRIMARY KEY (probe, bucket_start, region)
) WITHOUT ROWID;

CREATE TABLE heartbeat_pings (
    probe   INTEGER NOT NULL REFERENCES probes (pk),
    at      INTEGER NOT NULL,
    failed  INTEGER NOT NULL DEFAULT 0,
    message TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX heartbeat_pings_probe_at ON heartbeat_pings (probe, at);

-- Small named counters: the rollup watermark, the readiness probe's write.
CREATE TABLE store_state (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
);
