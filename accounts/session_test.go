package accounts

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// TestSessionCache: a session is read from the store once per
// sessionCacheTTL, not once a request; every change made through the
// service takes effect at once all the same, and one made behind its back
// (the operator's CLI, another process) within sessionCacheTTL.
func TestSessionCache(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "alice", "owner")
	e.member(t, "acme", "bob", "owner")
	e.member(t, "globex", "alice", "viewer")
	login := func() string { return e.login(t, LoginRequest{Username: "alice", Password: pw}).Session }
	role := func(sess, org string) string {
		p, ok := e.s.Session(ctx, sess, org)
		if !ok {
			return "(signed out)"
		}
		return p.Role
	}
	check := func(what, sess, org, want string) {
		t.Helper()
		if got := role(sess, org); got != want {
			t.Errorf("%s: got %s, want %s", what, got, want)
		}
	}

	laptop := login()
	before := e.s.sessionLookups.Load()
	for range 5 {
		check("cached", laptop, "acme", "owner")
	}
	check("cached, another organization", laptop, "globex", "viewer")
	if n := e.s.sessionLookups.Load() - before; n != 1 {
		t.Errorf("6 requests within %s: got %d store lookups, want 1", sessionCacheTTL, n)
	}
	e.clock.Advance(sessionCacheTTL)
	check("after the TTL", laptop, "acme", "owner")
	if n := e.s.sessionLookups.Load() - before; n != 2 {
		t.Errorf("after the TTL: got %d store lookups, want 2", n)
	}

	// Last use is still written once a minute.
	e.clock.Advance(touchEvery)
	check("a minute on", laptop, "acme", "owner")
	e.clock.Advance(sessionCacheTTL / 2)
	check("cached again", laptop, "acme", "owner")
	ss, err := e.db.SessionByHash(ctx, sum(laptop))
	if err != nil || !ss.LastSeen.Equal(e.clock.Now().Add(-sessionCacheTTL/2)) {
		t.Errorf("last seen: got %v (%v), want %v", ss.LastSeen, err, e.clock.Now().Add(-sessionCacheTTL/2))
	}

	// Changes through the service: at once.
	if err := e.s.SetRole(ctx, "acme", "alice", RoleViewer); err != nil {
		t.Fatal(err)
	}
	check("role changed", laptop, "acme", "viewer")
	if err := e.s.RemoveMember(ctx, "globex", "alice"); err != nil {
		t.Fatal(err)
	}
	check("removed from globex", laptop, "globex", "(signed out)")

	phone, tablet := login(), login()
	check("phone", phone, "acme", "viewer")
	check("tablet", tablet, "acme", "viewer")
	if n, err := e.s.SignOutOthers(ctx, "alice", laptop); err != nil || n != 2 {
		t.Fatalf("sign out others: got %d, %v; want 2", n, err)
	}
	check("the session that asked", laptop, "acme", "viewer")
	check("phone, signed out by the laptop", phone, "acme", "(signed out)")
	check("tablet, signed out by the laptop", tablet, "acme", "(signed out)")

	if err := e.s.Logout(ctx, laptop); err != nil {
		t.Fatal(err)
	}
	check("signed out", laptop, "acme", "(signed out)")

	phone = login()
	check("phone", phone, "acme", "viewer")
	if err := e.s.SetPassword(ctx, "alice", "another long password"); err != nil {
		t.Fatal(err)
	}
	check("password set", phone, "acme", "(signed out)")

	phone = e.login(t, LoginRequest{Username: "alice", Password: "another long password"}).Session
	check("phone", phone, "acme", "viewer")
	if err := e.s.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	check("disabled", phone, "acme", "(signed out)")
	if err := e.s.SetDisabled(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}

	// Behind the service's back: within the TTL.
	phone = e.login(t, LoginRequest{Username: "alice", Password: "another long password"}).Session
	check("phone", phone, "acme", "viewer")
	h := sha256.Sum256([]byte(phone))
	if err := e.db.DeleteSession(ctx, h[:]); err != nil {
		t.Fatal(err)
	}
	check("deleted by another process, cached", phone, "acme", "viewer")
	e.clock.Advance(sessionCacheTTL)
	check("deleted by another process, after the TTL", phone, "acme", "(signed out)")
}

// TestSessionCacheRace: a lookup that read the store before a sign-out
// does not put the signed-out session back in the cache.
func TestSessionCacheRace(t *testing.T) {
	c := newSessionCache()
	var h [32]byte
	gen := c.generation()
	c.drop(h) // a sign-out between the lookup's read and its put
	c.put(h, liveSession{username: "alice"}, t0.Add(time.Minute), gen)
	if _, ok := c.get(h, t0); ok {
		t.Error("a session read before its sign-out was cached")
	}
	c.put(h, liveSession{username: "alice"}, t0.Add(time.Minute), c.generation())
	if _, ok := c.get(h, t0); !ok {
		t.Error("a fresh lookup was not cached")
	}
}

// BenchmarkSession is a cached session's resolution: what a session cookie
// adds to each console or API request.
func BenchmarkSession(b *testing.B) {
	s := newEnv(b).s
	ctx := context.Background()
	if _, err := s.AddMember(ctx, "acme", "alice", RoleViewer); err != nil {
		b.Fatal(err)
	}
	if err := s.SetPassword(ctx, "alice", pw); err != nil {
		b.Fatal(err)
	}
	res, err := s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "192.0.2.1"})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Session(ctx, res.Session, "acme"); !ok {
			b.Fatal("refused")
		}
	}
}

// TestTokenCacheRace: a lookup that read a token before its revocation
// cleared the cache does not put the revoked token back.
func TestTokenCacheRace(t *testing.T) {
	c := newTokenCache()
	var h [32]byte
	gen := c.generation()
	c.clear() // a revocation between the lookup's read and its put
	c.put(h, cachedToken{p: Principal{Org: "acme"}, until: t0.Add(time.Minute)}, gen)
	if _, ok := c.get(h, t0); ok {
		t.Error("a token read before its revocation was cached")
	}
	c.put(h, cachedToken{p: Principal{Org: "acme"}, until: t0.Add(time.Minute)}, c.generation())
	if _, ok := c.get(h, t0); !ok {
		t.Error("a fresh lookup was not cached")
	}
}
