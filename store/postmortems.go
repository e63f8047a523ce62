package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lookout-status/lookout/notify"
)

// PostmortemStatus is whether a postmortem has been published.
type PostmortemStatus string

const (
	PostmortemDraft     PostmortemStatus = "draft"
	PostmortemPublished PostmortemStatus = "published"
)

// MaxPostmortemBytes bounds a postmortem's Markdown.
const MaxPostmortemBytes = 256 << 10

// Postmortem is an incident's postmortem. Body is the latest draft;
// Published is the text visitors see (empty until first published), as it
// was when last published.
type Postmortem struct {
	Org, Incident string
	Body          string
	Status        PostmortemStatus
	Published     string
	PublishedAt   time.Time // zero: never published
	UpdatedAt     time.Time
	UpdatedBy     string
}

// SavePostmortem stores body as the draft of org's incident's postmortem,
// written by who. A published postmortem stays published as it was: the
// new draft shows once PublishPostmortem is called. The incident must
// exist (ErrNotFound).
func (db *DB) SavePostmortem(ctx context.Context, org, incident, body, who string) error {
	if len(body) > MaxPostmortemBytes {
		return fmt.Errorf("save postmortem %s/%s: %d bytes, more than %d", org, incident, len(body), MaxPostmortemBytes)
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := incidentExists(ctx, tx, org, incident); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO postmortems (org, incident, body_markdown, updated_at, updated_by)
			VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (org, incident) DO UPDATE SET
				body_markdown = excluded.body_markdown, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			org, incident, body, ms(db.now()), who)
		return err
	})
	if err != nil {
		return fmt.Errorf("save postmortem %s/%s: %w", org, incident, err)
	}
	return nil
}

// PublishPostmortem publishes the current draft of org's incident's
// postmortem (ErrNotFound when there is none).
func (db *DB) PublishPostmortem(ctx context.Context, org, incident, who string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		now := ms(db.now())
		res, err := tx.ExecContext(ctx, `UPDATE postmortems SET status = 'published', published_markdown = body_markdown,
			published_at = ?, updated_at = ?, updated_by = ? WHERE org = ? AND incident = ?`,
			now, now, who, org, incident)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish postmortem %s/%s: %w", org, incident, err)
	}
	return nil
}

// PublishPostmortemBody saves body as org's incident's postmortem and
// publishes it, queueing deliveries (the subscribers' notices of it) in the
// same transaction: the text visitors see and the text subscribers were
// sent are the same. A delivery whose key is queued already is ignored, so
// publishing the same text twice notifies once when the keys derive from
// the text. The incident must exist (ErrNotFound).
func (db *DB) PublishPostmortemBody(ctx context.Context, org, incident, body, who string, deliveries []notify.Delivery) error {
	if len(body) > MaxPostmortemBytes {
		return fmt.Errorf("publish postmortem %s/%s: %d bytes, more than %d", org, incident, len(body), MaxPostmortemBytes)
	}
	rows, err := outboxRows(org, deliveries)
	if err != nil {
		return fmt.Errorf("publish postmortem %s/%s: %w", org, incident, err)
	}
	err = db.inTx(ctx, func(tx *sql.Tx) error {
		if err := incidentExists(ctx, tx, org, incident); err != nil {
			return err
		}
		now := ms(db.now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO postmortems
			(org, incident, body_markdown, status, published_markdown, published_at, updated_at, updated_by)
			VALUES (?, ?, ?, 'published', ?, ?, ?, ?)
			ON CONFLICT (org, incident) DO UPDATE SET
				body_markdown = excluded.body_markdown, status = 'published',
				published_markdown = excluded.published_markdown, published_at = excluded.published_at,
				updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			org, incident, body, body, now, now, who); err != nil {
			return err
		}
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outbox
				(key, org, incident, channel, destination, event, message, status, attempts, next_at, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, ?)
				ON CONFLICT (key) DO NOTHING`,
				r.key, org, r.incident, r.channel, r.destination, r.event, r.message, r.nextAt, now); err != nil {
				return fmt.Errorf("queue %s: %w", r.key, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("publish postmortem %s/%s: %w", org, incident, err)
	}
	return nil
}

// Postmortem returns org's incident's postmortem, or an error wrapping
// ErrNotFound when it has none.
func (db *DB) Postmortem(ctx context.Context, org, incident string) (Postmortem, error) {
	pm := Postmortem{Org: org, Incident: incident}
	var status string
	var published sql.NullInt64
	var updated int64
	err := db.r.QueryRowContext(ctx, `SELECT body_markdown, status, published_markdown, published_at, updated_at, updated_by
		FROM postmortems WHERE org = ? AND incident = ?`, org, incident).
		Scan(&pm.Body, &status, &pm.Published, &published, &updated, &pm.UpdatedBy)
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return Postmortem{}, fmt.Errorf("postmortem %s/%s: %w", org, incident, err)
	}
	pm.Status, pm.PublishedAt, pm.UpdatedAt = PostmortemStatus(status), nullMS(published), fromMS(updated)
	return pm, nil
}

// PublishedPostmortems returns the published text of org's postmortems
// for the given incidents, by incident id; incidents without one are
// absent.
func (db *DB) PublishedPostmortems(ctx context.Context, org string, incidents []string) (map[string]string, error) {
	out := map[string]string{}
	for len(incidents) > 0 {
		n := min(len(incidents), 500) // SQLite's variable limit is far above
		batch := incidents[:n]
		incidents = incidents[n:]
		args := []any{org}
		q := "SELECT incident, published_markdown FROM postmortems WHERE org = ? AND status = 'published' AND incident IN (?"
		args = append(args, batch[0])
		for _, id := range batch[1:] {
			q += ", ?"
			args = append(args, id)
		}
		rows, err := db.r.QueryContext(ctx, q+")", args...)
		if err != nil {
			return nil, fmt.Errorf("published postmortems of %s: %w", org, err)
		}
		for rows.Next() {
			var id, body string
			if err := rows.Scan(&id, &body); err != nil {
				rows.Close()
				return nil, fmt.Errorf("published postmortems of %s: %w", org, err)
			}
			out[id] = body
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("published postmortems of %s: %w", org, err)
		}
	}
	return out, nil
}

// PostmortemsVersion changes whenever a postmortem of org is published:
// the status page rebuilds when it does.
func (db *DB) PostmortemsVersion(ctx context.Context, org string) (string, error) {
	var n, last int64
	err := db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(max(published_at), 0) FROM postmortems
		WHERE org = ? AND status = 'published'`, org).Scan(&n, &last)
	if err != nil {
		return "", fmt.Errorf("postmortems version of %s: %w", org, err)
	}
	return fmt.Sprintf("%d.%d", n, last), nil
}

func incidentExists(ctx context.Context, tx *sql.Tx, org, incident string) error {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM incidents WHERE org = ? AND id = ?", org, incident).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}
