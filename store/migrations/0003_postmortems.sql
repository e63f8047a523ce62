-- Postmortems, one per incident. The team edits body_markdown (the draft);
-- publishing copies it to published_markdown, which is all visitors ever
-- see, so later edits stay private until published again. status is
-- 'draft' until the first publication, then 'published'. Times are
-- INTEGER unix milliseconds UTC.
CREATE TABLE postmortems (
    org                TEXT    NOT NULL,
    incident           TEXT    NOT NULL,
    body_markdown      TEXT    NOT NULL,
    status             TEXT    NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'published')),
    published_markdown TEXT    NOT NULL DEFAULT '',
    published_at       INTEGER,
    updated_at         INTEGER NOT NULL,
    updated_by         TEXT    NOT NULL,
    PRIMARY KEY (org, incident)
);
