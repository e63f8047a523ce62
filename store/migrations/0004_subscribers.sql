-- Subscribers: webhook endpoints told of an organization's incidents and
-- component changes (RSS/Atom readers need no row). secret is the endpoint's
-- Standard Webhooks signing secret, needed in clear to sign every delivery;
-- it is shown once, when the subscription is created. components is a JSON
-- array of component ids, empty for all. A subscription is pending until
-- its endpoint answers the verification event, then active; disabled when
-- a delivery was given up. Unsubscribing deletes the row.
CREATE TABLE subscribers (
    id              TEXT    NOT NULL PRIMARY KEY,
    org             TEXT    NOT NULL,
    kind            TEXT    NOT NULL CHECK (kind IN ('webhook')),
    url             TEXT    NOT NULL,
    secret          TEXT    NOT NULL,
    components      TEXT    NOT NULL DEFAULT '[]',
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'active', 'disabled')),
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER,
    disabled_at     INTEGER,
    disabled_reason TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX subscribers_by_org ON subscribers (org, status);
