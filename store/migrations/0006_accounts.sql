-- Accounts: people who sign in. Organizations and teams come from the
-- config; an account's username is the config user id it stands for, when
-- there is one. password_hash is an argon2id PHC string. totp_secret is the
-- raw RFC 6238 key (never exported by any API); totp_pending holds a key
-- being enrolled until a first code confirms it. totp_last_step is the
-- newest time step accepted, so a code is never accepted twice.
CREATE TABLE accounts (
    id                  INTEGER NOT NULL PRIMARY KEY,
    username            TEXT    NOT NULL UNIQUE,
    password_hash       TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL,
    disabled_at         INTEGER,
    totp_secret         BLOB,
    totp_pending        BLOB,
    totp_last_step      INTEGER NOT NULL DEFAULT 0
);

-- Recovery codes: SHA-256 of each code, single use.
CREATE TABLE recovery_codes (
    account INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hash    BLOB    NOT NULL,
    used_at INTEGER,
    PRIMARY KEY (account, hash)
);

-- Memberships: an account's role in an organization.
CREATE TABLE memberships (
    org        TEXT    NOT NULL,
    account    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'responder', 'viewer')),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (org, account)
);

CREATE INDEX memberships_by_account ON memberships (account);

-- Sessions: hash is the SHA-256 of the cookie's 32 random bytes; the id
-- itself is never stored. expires_at is the absolute end; the idle end is
-- last_seen plus the idle timeout.
CREATE TABLE sessions (
    hash       BLOB    NOT NULL PRIMARY KEY,
    account    INTEGER NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    user_agent TEXT    NOT NULL DEFAULT '',
    client_ip  TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX sessions_by_account ON sessions (account);

-- API tokens (lko_...): hash is the SHA-256 of the token, shown once.
-- created_by is the username of the member who made it ('' for the CLI).
CREATE TABLE api_tokens (
    id           TEXT    NOT NULL PRIMARY KEY,
    org          TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL CHECK (role IN ('owner', 'admin', 'responder', 'viewer')),
    hash         BLOB    NOT NULL UNIQUE,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    last_used_at INTEGER,
    revoked_at   INTEGER
);

CREATE INDEX api_tokens_by_org ON api_tokens (org, created_at);

-- The audit log: every write, allowed or refused. Append-only: the
-- triggers refuse any UPDATE or DELETE, whoever asks.
CREATE TABLE audit_log (
    id        INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at        INTEGER NOT NULL,
    org       TEXT    NOT NULL,
    actor     TEXT    NOT NULL,
    role      TEXT    NOT NULL DEFAULT '',
    via       TEXT    NOT NULL DEFAULT '',
    action    TEXT    NOT NULL,
    target    TEXT    NOT NULL DEFAULT '',
    status    INTEGER NOT NULL DEFAULT 0,
    summary   TEXT    NOT NULL DEFAULT '',
    client_ip TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_by_org ON audit_log (org, id);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
