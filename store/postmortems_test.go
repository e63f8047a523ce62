package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify"
)

func TestPostmortemDraftAndPublish(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	const id = "acme-1"

	if _, err := db.Postmortem(ctx, "acme", id); !errors.Is(err, ErrNotFound) {
		t.Fatalf("before any: got %v, want ErrNotFound", err)
	}
	if err := db.PublishPostmortem(ctx, "acme", id, "ana"); !errors.Is(err, ErrNotFound) {
		t.Errorf("publishing nothing: got %v, want ErrNotFound", err)
	}
	v0, err := db.PostmortemsVersion(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}

	if err := db.SavePostmortem(ctx, "acme", id, "# Draft 1", "ana"); err != nil {
		t.Fatalf("save: %v", err)
	}
	pm, err := db.Postmortem(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Body != "# Draft 1" || pm.Status != PostmortemDraft || pm.Published != "" || !pm.PublishedAt.IsZero() || pm.UpdatedBy != "ana" || !pm.UpdatedAt.Equal(t0) {
		t.Errorf("after save: got %+v, want a draft by ana at %v", pm, t0)
	}
	if got, _ := db.PublishedPostmortems(ctx, "acme", []string{id}); len(got) != 0 {
		t.Errorf("a draft is public: got %v, want none", got)
	}
	if v, _ := db.PostmortemsVersion(ctx, "acme"); v != v0 {
		t.Errorf("a draft changed the version: got %s, want %s", v, v0)
	}

	fc.Advance(time.Minute)
	if err := db.PublishPostmortem(ctx, "acme", id, "ben"); err != nil {
		t.Fatalf("publish: %v", err)
	}
	v1, _ := db.PostmortemsVersion(ctx, "acme")
	if v1 == v0 {
		t.Errorf("publishing left the version at %s", v1)
	}
	fc.Advance(time.Minute)
	if err := db.SavePostmortem(ctx, "acme", id, "# Draft 2", "ana"); err != nil {
		t.Fatal(err)
	}
	pm, _ = db.Postmortem(ctx, "acme", id)
	if pm.Body != "# Draft 2" || pm.Published != "# Draft 1" || pm.Status != PostmortemPublished || !pm.PublishedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("edit after publishing: got %+v, want draft 2 with draft 1 still published", pm)
	}
	got, err := db.PublishedPostmortems(ctx, "acme", []string{id, "acme-9"})
	if err != nil || len(got) != 1 || got[id] != "# Draft 1" {
		t.Errorf("published: got %v, %v; want only draft 1", got, err)
	}
	if v, _ := db.PostmortemsVersion(ctx, "acme"); v != v1 {
		t.Errorf("an edit changed the version: got %s, want %s", v, v1)
	}

	fc.Advance(time.Minute)
	if err := db.PublishPostmortem(ctx, "acme", id, "ben"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.PublishedPostmortems(ctx, "acme", []string{id}); got[id] != "# Draft 2" {
		t.Errorf("republished: got %q, want draft 2", got[id])
	}
	if v, _ := db.PostmortemsVersion(ctx, "acme"); v == v1 {
		t.Errorf("republishing left the version at %s", v)
	}
}

func TestPostmortemRefusals(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	for _, tc := range []struct {
		name, org, id, body string
		notFound            bool
	}{
		{"another org's incident", "globex", "acme-1", "x", true},
		{"unknown incident", "acme", "acme-9", "x", true},
		{"too long", "acme", "acme-1", strings.Repeat("x", MaxPostmortemBytes+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.SavePostmortem(ctx, tc.org, tc.id, tc.body, "ana")
			if err == nil {
				t.Fatalf("got nil, want an error")
			}
			if got := errors.Is(err, ErrNotFound); got != tc.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound): got %v, want %v", err, got, tc.notFound)
			}
		})
	}
	if err := db.SavePostmortem(ctx, "acme", "acme-1", "x", "ana"); err != nil {
		t.Fatal(err)
	}
	if err := db.PublishPostmortem(ctx, "acme", "acme-1", "ana"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Postmortem(ctx, "globex", "acme-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("globex reading acme's postmortem: got %v, want ErrNotFound", err)
	}
	if got, err := db.PublishedPostmortems(ctx, "globex", []string{"acme-1"}); err != nil || len(got) != 0 {
		t.Errorf("globex's published postmortems: got %v, %v; want none", got, err)
	}
}

// PublishPostmortemBody publishes the given text and queues its notices in
// the same transaction; the same text published twice queues them once.
func TestPublishPostmortemBody(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	r := newIncRun(t, db, "acme")
	r.down(t, "api-http", t0)
	const id = "acme-1"
	notice := func(org, key string) []notify.Delivery {
		return []notify.Delivery{{Channel: "subscriber:s1", NextAt: fc.Now(), Message: notify.Message{
			Key: key, Event: "postmortem", Incident: notify.Incident{ID: id, Org: org}, At: fc.Now(), Body: []byte(`{}`)}}}
	}
	queued := func() int {
		return count(t, db, "SELECT count(*) FROM outbox WHERE channel = 'subscriber:s1' AND event = 'postmortem'")
	}

	if err := db.SavePostmortem(ctx, "acme", id, "# Draft", "ana"); err != nil {
		t.Fatal(err)
	}
	fc.Advance(time.Minute)
	if err := db.PublishPostmortemBody(ctx, "acme", id, "# Final", "ben", notice("acme", "pm/1")); err != nil {
		t.Fatalf("publish: %v", err)
	}
	pm, err := db.Postmortem(ctx, "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	if pm.Body != "# Final" || pm.Published != "# Final" || pm.Status != PostmortemPublished ||
		!pm.PublishedAt.Equal(fc.Now()) || pm.UpdatedBy != "ben" {
		t.Errorf("got %+v, want # Final published by ben at %v", pm, fc.Now())
	}
	if n := queued(); n != 1 {
		t.Errorf("got %d notices queued, want 1", n)
	}
	if err := db.PublishPostmortemBody(ctx, "acme", id, "# Final", "ben", notice("acme", "pm/1")); err != nil {
		t.Fatal(err)
	}
	if n := queued(); n != 1 {
		t.Errorf("the same text again: got %d notices queued, want still 1", n)
	}

	// Never saved before: publishing creates it.
	newIncRun(t, db, "initech").down(t, "api-http", t0)
	if err := db.PublishPostmortemBody(ctx, "initech", "initech-1", "# API", "ben", nil); err != nil {
		t.Fatalf("publish without a draft: %v", err)
	}
	if got, _ := db.PublishedPostmortems(ctx, "initech", []string{"initech-1"}); got["initech-1"] != "# API" {
		t.Errorf("got %q published, want # API", got["initech-1"])
	}

	for _, tc := range []struct {
		name, org, id, body string
		notFound            bool
	}{
		{"another org's incident", "globex", id, "x", true},
		{"too long", "acme", id, strings.Repeat("x", MaxPostmortemBytes+1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := db.PublishPostmortemBody(ctx, tc.org, tc.id, tc.body, "eve", notice(tc.org, "pm/"+tc.name))
			if err == nil {
				t.Fatal("got nil, want an error")
			}
			if got := errors.Is(err, ErrNotFound); got != tc.notFound {
				t.Errorf("errors.Is(%v, ErrNotFound): got %v, want %v", err, got, tc.notFound)
			}
		})
	}
	if n := queued(); n != 1 {
		t.Errorf("after refusals: got %d notices queued, want 1", n)
	}
}
