-- Incidents and the notification outbox. As in 0001: times are INTEGER unix
-- milliseconds UTC, JSON is stored as TEXT. Every table but outbox is keyed
-- by org first, so every read filters on it.

-- One organization's incident state (incidents.State as JSON, without its
-- schedules: they are configuration, re-applied after every load).
CREATE TABLE incident_state (
    org        TEXT    NOT NULL PRIMARY KEY,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Incidents, open and resolved, as of their last change. snapshot is the
-- whole incidents.Incident as JSON without its timeline (see
-- incident_timeline); the other columns repeat what lists filter on. rev is
-- the snapshot's revision: an older one never overwrites a newer one.
CREATE TABLE incidents (
    org           TEXT    NOT NULL,
    id            TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    title         TEXT    NOT NULL,
    lifecycle     TEXT    NOT NULL,
    public_status TEXT    NOT NULL,
    published     INTEGER NOT NULL DEFAULT 0,
    impact        TEXT    NOT NULL,
    flapping      INTEGER NOT NULL DEFAULT 0,
    components    TEXT    NOT NULL DEFAULT '[]', -- JSON array of component ids
    started_at    INTEGER NOT NULL,
    acked_at      INTEGER,
    acked_by      TEXT    NOT NULL DEFAULT '',
    ended_at      INTEGER,
    rev           INTEGER NOT NULL DEFAULT 0,
    snapshot      TEXT    NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (org, id),
    UNIQUE (org, number)
);
CREATE INDEX incidents_org_ended ON incidents (org, ended_at);

CREATE TABLE incident_timeline (
    org        TEXT    NOT NULL,
    incident   TEXT    NOT NULL,
    seq        INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    actor      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    from_value TEXT    NOT NULL DEFAULT '',
    to_value   TEXT    NOT NULL DEFAULT '',
    body       TEXT    NOT NULL DEFAULT '',
    event_id   TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (org, incident, seq)
);

-- Every status a component has shown, for uptime bars. rev is the
-- component's change counter: (org, component, at, rev) names one change,
-- so recording it twice keeps one row.
CREATE TABLE component_status_log (
    org         TEXT    NOT NULL,
    component   TEXT    NOT NULL,
    at          INTEGER NOT NULL,
    rev         INTEGER NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    cause       TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (org, component, at, rev)
);

-- Maintenance windows as last changed.
CREATE TABLE maintenances (
    org        TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    title      TEXT    NOT NULL,
    components TEXT    NOT NULL DEFAULT '[]', -- JSON array of component ids
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    status     TEXT    NOT NULL,
    updated_by TEXT    NOT NULL DEFAULT '',
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (org, id)
);

-- The notification outbox: one row per message per channel, written in the
-- same transaction as the state change that decided it. key is the
-- message's idempotency key; a second insert of the same key is ignored.
-- message is the notify.Message as JSON without its Ref (filled from
-- notify_refs when the row is read). No secrets are stored here.
CREATE TABLE outbox (
    id              INTEGER NOT NULL PRIMARY KEY,
    key             TEXT    NOT NULL UNIQUE,
    org             TEXT    NOT NULL,
    incident        TEXT    NOT NULL,
    channel         TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    message         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'delivered', 'gave_up')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_at         INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    last_attempt_at INTEGER,
    delivered_at    INTEGER,
    last_error      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending';
CREATE INDEX outbox_pending_thread ON outbox (channel, org, incident, id) WHERE status = 'pending';
CREATE INDEX outbox_incident ON outbox (org, incident, id);

-- What a channel returned for the latest delivery about an incident (a Slack
-- message's channel and ts), handed back on the next message.
CREATE TABLE notify_refs (
    channel    TEXT    NOT NULL,
    org        TEXT    NOT NULL,
    incident   TEXT    NOT NULL,
    ref        TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (channel, org, incident)
);
