-- Maintenance windows scheduled through the API or the console. The
-- configuration's windows are not stored here (the file is their source);
-- the incident engine's view of every window, config or API, stays in
-- maintenances. status is the last status a person gave the window
-- (scheduled, in_progress, verifying, completed, cancelled); the status in
-- force also moves with the clock (maintenanceStatusAt). ended_at is when a
-- person completed or cancelled it. ids start with "mnt_", which no config
-- id can.
CREATE TABLE maintenance_windows (
    org        TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    components TEXT    NOT NULL DEFAULT '[]', -- JSON array of component ids
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    status     TEXT    NOT NULL DEFAULT 'scheduled'
               CHECK (status IN ('scheduled', 'in_progress', 'verifying', 'completed', 'cancelled')),
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    ended_at   INTEGER,
    PRIMARY KEY (org, id)
);

CREATE INDEX maintenance_windows_by_start ON maintenance_windows (org, starts_at, id);

-- Every change to a window, in order: creation, reschedules, messages,
-- completion, cancellation. status is the window's status after the change;
-- body the message visitors read ('' for none); change says in words what
-- changed ("end 05:00 → 06:00 UTC").
CREATE TABLE maintenance_updates (
    org         TEXT    NOT NULL,
    maintenance TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    status      TEXT    NOT NULL,
    body        TEXT    NOT NULL DEFAULT '',
    change      TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (org, maintenance, seq)
);

CREATE INDEX maintenance_updates_by_time ON maintenance_updates (org, at);

-- On-call overrides added through the API or the console (the
-- configuration's overrides stay in the file). user_id is on call for
-- schedule from starts_at until ends_at, over every layer. Deleting an
-- override deletes the row (the audit log keeps who did it). ids start with
-- "ovr_".
CREATE TABLE oncall_overrides (
    seq        INTEGER NOT NULL PRIMARY KEY, -- creation order
    org        TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    schedule   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (org, id)
);

CREATE INDEX oncall_overrides_by_end ON oncall_overrides (org, ends_at);
