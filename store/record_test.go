package store

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify"
)

// subscriberWithRows creates an active webhook subscription sub_1 with
// pending deliveries k1, k2 and k3, and an active sub_2 with one, k4.
func subscriberWithRows(tb testing.TB, db *DB) {
	tb.Helper()
	ctx := context.Background()
	for id, keys := range map[string][]string{"sub_1": {"k1", "k2", "k3"}, "sub_2": {"k4"}} {
		var ds []notify.Delivery
		for _, k := range keys {
			ds = append(ds, notify.Delivery{Channel: SubscriberChannel(id), Destination: "hooks.example", NextAt: t0,
				Message: notify.Message{Key: k, Event: "incident", At: t0, Body: []byte(`{}`)}})
		}
		mustOK(tb, db.CreateSubscriber(ctx, Subscriber{ID: id, Org: "acme", URL: "https://hooks.example/" + id, Secret: "whsec_x"}, ds))
		mustOK(tb, db.ConfirmSubscriber(ctx, id, t0))
	}
}

// outboxState is what an attempt changes on an outbox row.
type outboxState struct {
	status    string
	attempts  int
	attempted sql.NullInt64
	lastError string
}

func rowState(tb testing.TB, db *DB, key string) outboxState {
	tb.Helper()
	var s outboxState
	if err := db.r.QueryRow("SELECT status, attempts, last_attempt_at, last_error FROM outbox WHERE key = ?", key).
		Scan(&s.status, &s.attempts, &s.attempted, &s.lastError); err != nil {
		tb.Fatalf("row %s: %v", key, err)
	}
	return s
}

// A subscriber's given-up delivery, recorded once: the row is given up,
// the attempt logged, the subscription disabled with the reason, its other
// pending rows given up, one audit entry; another subscriber's row is
// untouched.
func TestRecordGivenUpSubscriberDelivery(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	subscriberWithRows(t, db)
	end := t0.Add(90 * time.Second)
	a := notify.Attempt{Delivery: taken(t, db, "k1"), At: end.Add(-250 * time.Millisecond), End: end, Latency: 250 * time.Millisecond,
		Outcome: notify.OutcomeGaveUp, Reply: notify.Reply{Code: 410, Text: "gone"},
		Err: "subscriber webhook hooks.example: HTTP 410", Reason: "subscriber webhook hooks.example: HTTP 410"}

	g, err := db.RecordWith(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (GivenUp{Subscriber: "sub_1", Kind: KindWebhook, InARow: 1, Disabled: true, Reason: a.Reason}); g != want {
		t.Errorf("got %+v, want %+v", g, want)
	}
	if got, want := rowState(t, db, "k1"), (outboxState{"gave_up", 1, sql.NullInt64{Int64: ms(end), Valid: true}, a.Reason}); got != want {
		t.Errorf("k1: got %+v, want %+v", got, want)
	}
	for _, k := range []string{"k2", "k3"} {
		if got, want := rowState(t, db, k), (outboxState{status: "gave_up", lastError: "subscriber disabled"}); got != want {
			t.Errorf("%s: got %+v, want %+v", k, got, want)
		}
	}
	if got, want := rowState(t, db, "k4"), (outboxState{status: "pending"}); got != want {
		t.Errorf("sub_2's k4: got %+v, want %+v", got, want)
	}
	log, _, err := db.Attempts(ctx, SubscriberChannel("sub_1"), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 1 {
		t.Fatalf("delivery log: got %d attempts, want 1", len(log))
	}
	if l := log[0]; l.Key != "k1" || l.Attempt != 1 || l.Outcome != "gave_up" || !l.At.Equal(a.At.Truncate(time.Millisecond)) ||
		l.Latency != a.Latency || l.Reply != a.Reply || l.Error != a.Err {
		t.Errorf("logged attempt: got %+v, want k1's first, gave_up, with its reply and error", l)
	}
	s, err := db.Subscriber(ctx, "sub_1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != SubscriberDisabled || s.DisabledReason != a.Reason || !s.DisabledAt.Equal(end) {
		t.Errorf("sub_1: got %s %q at %v, want disabled with the reason at %v", s.Status, s.DisabledReason, s.DisabledAt, end)
	}
	if s, _ := db.Subscriber(ctx, "sub_2"); s.Status != SubscriberActive {
		t.Errorf("sub_2: got %s, want active", s.Status)
	}
	audit, err := db.AuditEntries(ctx, "acme", AuditQuery{Action: AuditSubscriberDisabled})
	if err != nil {
		t.Fatal(err)
	}
	if len(audit) != 1 || audit[0].Target != "sub_1" || audit[0].Actor != AuditActorSystem || audit[0].Summary != "disabled: "+a.Reason {
		t.Errorf("got audit entries %+v, want one: system disabled sub_1 with the reason", audit)
	}

	// A rule that disables with its own reason.
	b := notify.Attempt{Delivery: taken(t, db, "k4"), At: end, End: end, Outcome: notify.OutcomeGaveUp, Err: "HTTP 404", Reason: "HTTP 404"}
	g, err = db.RecordWith(ctx, b, func(sub Subscriber, inARow int, reason string) (string, bool) {
		return "rule: " + reason, true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !g.Disabled || g.Reason != "rule: HTTP 404" {
		t.Errorf("got %+v, want sub_2 disabled for the rule's reason", g)
	}
	if s, _ := db.Subscriber(ctx, "sub_2"); s.Status != SubscriberDisabled || s.DisabledReason != "rule: HTTP 404" {
		t.Errorf("sub_2: got %s %q, want disabled for the rule's reason", s.Status, s.DisabledReason)
	}
}

// An attempt is recorded all or nothing: when any of its writes fails (a
// trigger makes it), nothing of it is left and the row can be recorded
// again.
func TestRecordIsAtomic(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trigger string // raises on one write of the attempt
		outcome notify.Outcome
	}{
		{"disabling the subscription fails", "BEFORE UPDATE ON subscribers", notify.OutcomeGaveUp},
		{"giving up its other rows fails", "BEFORE UPDATE ON outbox WHEN NEW.last_error = 'subscriber disabled'", notify.OutcomeGaveUp},
		{"the audit entry fails", "BEFORE INSERT ON audit_log", notify.OutcomeGaveUp},
		{"the delivery log fails (gave_up)", "BEFORE INSERT ON delivery_attempts", notify.OutcomeGaveUp},
		{"the delivery log fails (failed)", "BEFORE INSERT ON delivery_attempts", notify.OutcomeFailed},
		{"the delivery log fails (delivered)", "BEFORE INSERT ON delivery_attempts", notify.OutcomeDelivered},
		{"remembering the ref fails", "BEFORE INSERT ON notify_refs", notify.OutcomeDelivered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			db, _ := mustOpen(t)
			subscriberWithRows(t, db)
			// k1 failed once already: its attempt count and error must stay.
			mustOK(t, db.Record(ctx, failed(taken(t, db, "k1"), t0, "HTTP 503", t0.Add(time.Minute))))
			before := map[string]outboxState{}
			for _, k := range []string{"k1", "k2", "k3", "k4"} {
				before[k] = rowState(t, db, k)
			}
			logged := count(t, db, "SELECT count(*) FROM delivery_attempts")
			if _, err := db.w.Exec("CREATE TRIGGER injected " + tc.trigger + " BEGIN SELECT RAISE(ABORT, 'injected failure'); END"); err != nil {
				t.Fatal(err)
			}

			end := t0.Add(2 * time.Minute)
			a := notify.Attempt{Delivery: taken(t, db, "k1"), At: end, End: end, Outcome: tc.outcome, Reply: notify.Reply{Code: 410}}
			switch tc.outcome {
			case notify.OutcomeGaveUp:
				a.Err, a.Reason = "HTTP 410", "HTTP 410"
			case notify.OutcomeFailed:
				a.Err, a.Reason, a.RetryAt = "HTTP 503", "HTTP 503", end.Add(time.Minute)
			case notify.OutcomeDelivered:
				a.Reply, a.Ref = notify.Reply{Code: 200}, "thread-1"
			}
			if err := db.Record(ctx, a); err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("record: got %v, want the injected failure", err)
			}

			for k, want := range before {
				if got := rowState(t, db, k); got != want {
					t.Errorf("%s: got %+v, want it as before the attempt, %+v", k, got, want)
				}
			}
			if n := count(t, db, "SELECT count(*) FROM delivery_attempts"); n != logged {
				t.Errorf("delivery log: got %d attempts, want %d (k1's first only)", n, logged)
			}
			if n := count(t, db, "SELECT count(*) FROM notify_refs"); n != 0 {
				t.Errorf("got %d refs, want none", n)
			}
			if s, _ := db.Subscriber(ctx, "sub_1"); s.Status != SubscriberActive || s.DisabledReason != "" {
				t.Errorf("sub_1: got %s %q, want active", s.Status, s.DisabledReason)
			}
			if n := count(t, db, "SELECT count(*) FROM audit_log WHERE action = ?", AuditSubscriberDisabled); n != 0 {
				t.Errorf("got %d audit entries, want none", n)
			}

			// Nothing half-written stands in the way of recording it.
			if _, err := db.w.Exec("DROP TRIGGER injected"); err != nil {
				t.Fatal(err)
			}
			mustOK(t, db.Record(ctx, a))
			wantStatus := map[notify.Outcome]string{notify.OutcomeDelivered: "delivered", notify.OutcomeFailed: "pending", notify.OutcomeGaveUp: "gave_up"}[tc.outcome]
			if got := rowState(t, db, "k1"); got.attempts != 2 || got.status != wantStatus {
				t.Errorf("k1 after recording again: got %+v, want %s after 2 attempts", got, wantStatus)
			}
			if n := count(t, db, "SELECT count(*) FROM delivery_attempts"); n != logged+1 {
				t.Errorf("delivery log after recording again: got %d attempts, want %d", n, logged+1)
			}
		})
	}
}

// The in-a-row count runs inside the writer's transaction for every given-up
// subscriber delivery: it must read the channel's rows through its index,
// never the whole outbox (in a 200,000-row outbox, 92 ms per give-up for a
// subscriber with no delivered row, against under 1 ms).
func TestGivenUpInARowUsesTheChannelIndex(t *testing.T) {
	db, _ := mustOpen(t)
	rows, err := db.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+givenUpInARowQuery, "subscriber:x", "subscriber:x")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	searches := 0
	for _, d := range plan {
		if strings.HasPrefix(d, "SCAN") || (strings.HasPrefix(d, "SEARCH") && !strings.Contains(d, "outbox_by_channel")) {
			t.Errorf("plan step %q does not use outbox_by_channel; whole plan:\n%s", d, strings.Join(plan, "\n"))
		}
		if strings.HasPrefix(d, "SEARCH") {
			searches++
		}
	}
	if searches != 2 {
		t.Errorf("%d searches in the plan, want 2 (the count and its subquery):\n%s", searches, strings.Join(plan, "\n"))
	}
}
