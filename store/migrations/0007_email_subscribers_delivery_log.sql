-- E-mail subscribers and the subscriber delivery log.
--
-- subscribers gains the 'email' kind: url is '' and email holds the address
-- (validated, lower-cased domain). An e-mail subscription is pending until
-- its address confirms the link of the confirmation e-mail, and is never
-- confirmed after expires_at (unconfirmed rows are then deleted). secret
-- keys the HMAC of its confirm and unsubscribe links and is never shown.
-- SQLite cannot change a CHECK constraint in place: the table is rebuilt.
CREATE TABLE subscribers_v2 (
    id              TEXT    NOT NULL PRIMARY KEY,
    org             TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('webhook', 'email')),
    url             TEXT    NOT NULL DEFAULT '',
    email           TEXT    NOT NULL DEFAULT '',
    secret          TEXT    NOT NULL,
    components      TEXT    NOT NULL DEFAULT '[]',
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'active', 'disabled')),
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER,
    confirmed_at    INTEGER,
    disabled_at     INTEGER,
    disabled_reason TEXT    NOT NULL DEFAULT ''
);
INSERT INTO subscribers_v2 (id, org, kind, url, secret, components, status, created_at, confirmed_at, disabled_at, disabled_reason)
    SELECT id, org, kind, url, secret, components, status, created_at, confirmed_at, disabled_at, disabled_reason FROM subscribers;
DROP TABLE subscribers;
ALTER TABLE subscribers_v2 RENAME TO subscribers;
CREATE INDEX subscribers_by_org ON subscribers (org, status);
CREATE INDEX subscribers_by_email ON subscribers (email, created_at) WHERE kind = 'email';

-- One row per delivery attempt of any outbox row (subscribers' and
-- configured notifiers'), for the delivery log: when, how long, what the
-- receiver answered (an HTTP status code, or an SMTP reply's code and
-- text), the outcome and the error. Pruned with the outbox.
CREATE TABLE delivery_attempts (
    id          INTEGER NOT NULL PRIMARY KEY,
    outbox_id   INTEGER NOT NULL,
    channel     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    event       TEXT    NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    latency_ms  INTEGER NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('delivered', 'failed', 'gave_up')),
    reply_code  INTEGER NOT NULL DEFAULT 0,
    reply_text  TEXT    NOT NULL DEFAULT '',
    error       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX delivery_attempts_by_channel ON delivery_attempts (channel, id);
CREATE INDEX delivery_attempts_by_time ON delivery_attempts (at);
