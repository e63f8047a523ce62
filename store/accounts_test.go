package store

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func mustAccount(t *testing.T, db *DB, name string) Account {
	t.Helper()
	a, err := db.CreateAccount(context.Background(), name, "$argon2id$fake")
	if err != nil {
		t.Fatalf("create account %s: %v", name, err)
	}
	return a
}

func TestAccountsAndMembers(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	olga := mustAccount(t, db, "olga")
	alice := mustAccount(t, db, "alice")
	if _, err := db.CreateAccount(ctx, "olga", "x"); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate username: got %v, want ErrExists", err)
	}
	for _, m := range []struct {
		org  string
		acc  int64
		role string
	}{{"acme", olga.ID, "owner"}, {"acme", alice.ID, "responder"}, {"globex", alice.ID, "owner"}} {
		if err := db.PutMember(ctx, m.org, m.acc, m.role); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.Members(ctx, "acme")
	if err != nil || len(got) != 2 || got[0].Username != "alice" || got[1].Role != "owner" {
		t.Fatalf("members of acme: got %+v, %v", got, err)
	}
	if _, err := db.Member(ctx, "globex", "olga"); !errors.Is(err, ErrNotFound) {
		t.Errorf("olga in globex: got %v, want ErrNotFound", err)
	}
	mine, err := db.MembershipsOf(ctx, alice.ID)
	if err != nil || len(mine) != 2 || mine[0].Org != "acme" || mine[1].Org != "globex" {
		t.Fatalf("alice's memberships: got %+v, %v", mine, err)
	}

	// The last owner stays.
	if err := db.RemoveMember(ctx, "acme", olga.ID); !errors.Is(err, ErrLastOwner) {
		t.Errorf("remove last owner: got %v, want ErrLastOwner", err)
	}
	if err := db.PutMember(ctx, "acme", olga.ID, "admin"); !errors.Is(err, ErrLastOwner) {
		t.Errorf("demote last owner: got %v, want ErrLastOwner", err)
	}
	if err := db.PutMember(ctx, "acme", alice.ID, "owner"); err != nil {
		t.Fatal(err)
	}
	if err := db.PutMember(ctx, "acme", olga.ID, "admin"); err != nil {
		t.Errorf("demote an owner beside another: %v", err)
	}
	if err := db.RemoveMember(ctx, "acme", 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove a non-member: got %v, want ErrNotFound", err)
	}
}

func TestRemoveMemberRevokesTheirTokens(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	olga, alice := mustAccount(t, db, "olga"), mustAccount(t, db, "alice")
	db.PutMember(ctx, "acme", olga.ID, "owner")
	db.PutMember(ctx, "acme", alice.ID, "responder")
	for _, tk := range []APIToken{
		{ID: "t1", Org: "acme", Name: "ci", Role: "responder", Hash: []byte("h1"), CreatedBy: "alice", CreatedAt: t0},
		{ID: "t2", Org: "acme", Name: "bot", Role: "viewer", Hash: []byte("h2"), CreatedBy: "olga", CreatedAt: t0},
	} {
		if err := db.CreateToken(ctx, tk); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RemoveMember(ctx, "acme", alice.ID); err != nil {
		t.Fatal(err)
	}
	t1, _ := db.Token(ctx, "acme", "t1")
	t2, _ := db.Token(ctx, "acme", "t2")
	if t1.RevokedAt.IsZero() || !t2.RevokedAt.IsZero() {
		t.Errorf("got t1 revoked %v, t2 revoked %v; want only alice's t1", t1.RevokedAt, t2.RevokedAt)
	}
	if _, err := db.Token(ctx, "globex", "t2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("another organization's token: got %v, want ErrNotFound", err)
	}
	if err := db.RevokeToken(ctx, "globex", "t2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("revoke another organization's token: got %v, want ErrNotFound", err)
	}
}

func TestSessionsAndPasswordChange(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	a := mustAccount(t, db, "alice")
	for _, h := range []string{"s1", "s2", "s3"} {
		s := Session{Hash: []byte(h), Account: a.ID, CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}
		if err := db.CreateSession(ctx, s, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Rotation: a new session replaces the old one in one step.
	if err := db.CreateSession(ctx, Session{Hash: []byte("s4"), Account: a.ID, CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}, []byte("s3")); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, []byte("s3")); !errors.Is(err, ErrNotFound) {
		t.Errorf("replaced session: got %v, want ErrNotFound", err)
	}
	fc.Advance(time.Minute)
	if err := db.SetPassword(ctx, a.ID, "$argon2id$new", []byte("s2")); err != nil {
		t.Fatal(err)
	}
	left, err := db.SessionsOf(ctx, a.ID)
	if err != nil || len(left) != 1 || !bytes.Equal(left[0].Hash, []byte("s2")) {
		t.Fatalf("sessions after password change: got %+v, %v; want only s2", left, err)
	}
	got, _ := db.AccountByID(ctx, a.ID)
	if got.PasswordHash != "$argon2id$new" || !got.PasswordChangedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("got %+v", got)
	}
	if err := db.SetPassword(ctx, a.ID, "$argon2id$newer", nil); err != nil {
		t.Fatal(err)
	}
	if left, _ := db.SessionsOf(ctx, a.ID); len(left) != 0 {
		t.Errorf("got %d sessions, want none", len(left))
	}
}

func TestTOTPStepsAreSingleUse(t *testing.T) {
	ctx := context.Background()
	db, _ := mustOpen(t)
	a := mustAccount(t, db, "alice")
	if ok, _ := db.UseTOTPStep(ctx, a.ID, 100); ok {
		t.Fatal("a step was accepted without a second factor")
	}
	db.SetTOTPPending(ctx, a.ID, []byte("secret"))
	if err := db.EnableTOTP(ctx, a.ID, 100, [][]byte{[]byte("r1"), []byte("r2")}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		step int64
		want bool
	}{{100, false}, {101, true}, {101, false}, {100, false}, {103, true}} {
		if ok, err := db.UseTOTPStep(ctx, a.ID, c.step); err != nil || ok != c.want {
			t.Errorf("step %d: got %v, %v; want %v", c.step, ok, err, c.want)
		}
	}
	if ok, _ := db.UseRecoveryCode(ctx, a.ID, []byte("r1")); !ok {
		t.Error("recovery code refused")
	}
	if ok, _ := db.UseRecoveryCode(ctx, a.ID, []byte("r1")); ok {
		t.Error("recovery code accepted twice")
	}
	if n, _ := db.RecoveryCodesLeft(ctx, a.ID); n != 1 {
		t.Errorf("got %d codes left, want 1", n)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	db, fc := mustOpen(t)
	for i, org := range []string{"acme", "globex", "acme", "acme"} {
		fc.Advance(time.Second)
		e := AuditEntry{Org: org, Actor: "alice", Action: "POST /api/v1/incidents/{id}/acknowledge", Target: "acme-1", Status: 200}
		if i == 3 {
			e.Actor, e.Action = "olga", "DELETE /api/v1/tokens/{id}"
		}
		if err := db.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.AuditEntries(ctx, "acme", AuditQuery{})
	if err != nil || len(got) != 3 || got[0].Actor != "olga" || got[0].ID <= got[1].ID {
		t.Fatalf("got %+v, %v; want acme's 3 entries newest first", got, err)
	}
	page, _ := db.AuditEntries(ctx, "acme", AuditQuery{Before: got[0].ID, Limit: 1})
	if len(page) != 1 || page[0].ID != got[1].ID {
		t.Errorf("cursor page: got %+v, want entry %d", page, got[1].ID)
	}
	if f, _ := db.AuditEntries(ctx, "acme", AuditQuery{Action: "tokens"}); len(f) != 1 {
		t.Errorf("action filter: got %d entries, want 1", len(f))
	}
	for _, q := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"} {
		_, err := db.w.ExecContext(ctx, q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: got %v, want the append-only refusal", q, err)
		}
	}
	if all, _ := db.AuditEntries(ctx, "acme", AuditQuery{}); len(all) != 3 || all[0].Actor != "olga" {
		t.Errorf("after tampering: got %+v", all)
	}
}
