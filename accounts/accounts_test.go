package accounts

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/argon2id"
	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 10, 3, 12, 0, 0, time.UTC)

// cheap keeps tests fast; TestParamsCost measures the real ones.
var cheap = &argon2id.Params{Memory: 64, Iterations: 1, Parallelism: 1, SaltLength: 16, KeyLength: 32}

const pw = "correct horse battery"

type env struct {
	s     *Service
	db    *store.DB
	clock *clock.Fake
}

func newEnv(tb testing.TB) *env {
	tb.Helper()
	fc := clock.NewFake(t0)
	db, err := store.Open(context.Background(), filepath.Join(tb.TempDir(), "lookout.db"), store.Options{Now: fc.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	s, err := New(Options{DB: db, Clock: fc, Params: cheap})
	if err != nil {
		tb.Fatal(err)
	}
	s.SetOrgs([]Org{{ID: "acme", Name: "Acme"}, {ID: "globex", Name: "Globex", RequireTOTP: true}})
	return &env{s: s, db: db, clock: fc}
}

// member creates username with pw as a member of org.
func (e *env) member(t *testing.T, org, username, role string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.s.db.AccountByUsername(ctx, username); errors.Is(err, store.ErrNotFound) {
		if _, err := e.s.CreateAccount(ctx, username, pw); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := e.s.db.AccountByUsername(ctx, username)
	if err := e.db.PutMember(ctx, org, a.ID, role); err != nil {
		t.Fatal(err)
	}
}

func (e *env) login(t *testing.T, req LoginRequest) LoginResult {
	t.Helper()
	if req.ClientIP == "" {
		req.ClientIP = "192.0.2.1"
	}
	r, err := e.s.Login(context.Background(), req)
	if err != nil {
		t.Fatalf("login %s: %v", req.Username, err)
	}
	return r
}

func TestLoginAndSession(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "alice", "responder")
	e.member(t, "globex", "alice", "viewer")

	res := e.login(t, LoginRequest{Username: "alice", Password: pw, Replace: "attacker-chosen-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})
	if len(res.Session) != 43 || strings.Contains(res.Session, "attacker") {
		t.Fatalf("got session %q", res.Session)
	}
	cases := []struct {
		org      string
		wantOK   bool
		wantRole string
		enroll   bool
	}{
		{"", true, "responder", false},
		{"acme", true, "responder", false},
		{"globex", true, "viewer", true}, // globex requires TOTP
		{"initech", false, "", false},
	}
	for _, c := range cases {
		p, ok := e.s.Session(ctx, res.Session, c.org)
		if ok != c.wantOK || p.Role != c.wantRole || p.EnrollTOTP != c.enroll || ok && p.User != "alice" {
			t.Errorf("session in %q: got %+v %v; want role %q ok %v enroll %v", c.org, p, ok, c.wantRole, c.wantOK, c.enroll)
		}
	}

	// Fixation: signing in again with the old cookie retires it.
	res2 := e.login(t, LoginRequest{Username: "alice", Password: pw, Replace: res.Session})
	if res2.Session == res.Session {
		t.Fatal("the session id was not rotated")
	}
	if _, ok := e.s.Session(ctx, res.Session, ""); ok {
		t.Error("the replaced session still works")
	}

	// Idle timeout: activity keeps it alive, silence ends it.
	for range 15 {
		e.clock.Advance(11 * time.Hour)
		if _, ok := e.s.Session(ctx, res2.Session, ""); !ok && e.clock.Now().Sub(t0) < AbsoluteTimeout {
			t.Fatalf("session died at %s while in use", e.clock.Now().Sub(t0))
		}
	}
	// 165 h in: the absolute end (168 h) is near; 11 h more passes it.
	e.clock.Advance(11 * time.Hour)
	if _, ok := e.s.Session(ctx, res2.Session, ""); ok {
		t.Errorf("session alive at %s, past the absolute timeout", e.clock.Now().Sub(t0))
	}
	res3 := e.login(t, LoginRequest{Username: "alice", Password: pw})
	e.clock.Advance(IdleTimeout)
	if _, ok := e.s.Session(ctx, res3.Session, ""); ok {
		t.Error("session alive after the idle timeout")
	}

	if err := e.s.Logout(ctx, res3.Session); err != nil {
		t.Fatal(err)
	}
}

func TestLoginRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "alice", "owner")
	before := e.s.hashes.Load()
	_, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: strings.Repeat("x", 1<<20), ClientIP: "192.0.2.9"})
	if !errors.Is(err, ErrPasswordLength) || e.s.hashes.Load() != before {
		t.Errorf("1 MB password: got %v after %d hashes; want ErrPasswordLength and none", err, e.s.hashes.Load()-before)
	}
	for _, c := range []struct{ name, user, pass string }{
		{"wrong password", "alice", "wrong password!"},
		{"unknown user", "nobody", pw},
	} {
		before := e.s.hashes.Load()
		_, err := e.s.Login(ctx, LoginRequest{Username: c.user, Password: c.pass, ClientIP: "192.0.2.9"})
		if !errors.Is(err, ErrCredentials) {
			t.Errorf("%s: got %v, want ErrCredentials", c.name, err)
		}
		// An unknown user costs one hash, like a wrong password.
		if n := e.s.hashes.Load() - before; n != 1 {
			t.Errorf("%s: got %d hashes, want 1", c.name, n)
		}
	}
	if err := e.s.SetDisabled(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "192.0.2.9"}); !errors.Is(err, ErrCredentials) {
		t.Errorf("disabled account: got %v, want ErrCredentials", err)
	}
}

func TestThrottle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "alice", "owner")

	// One address: 20 attempts, then 429s with a wait.
	for i := range ipBurst {
		_, err := e.s.Login(ctx, LoginRequest{Username: "u" + string(rune('a'+i)), Password: "nope nope nope", ClientIP: "198.51.100.7"})
		if !errors.Is(err, ErrCredentials) {
			t.Fatalf("attempt %d: got %v", i, err)
		}
	}
	_, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "198.51.100.7"})
	var th *ThrottledError
	if !errors.As(err, &th) || th.RetryAfter != 3*time.Second {
		t.Fatalf("21st attempt from one address: got %v, want throttled for 3s", err)
	}
	// Another address is not affected.
	device := e.login(t, LoginRequest{Username: "alice", Password: pw, ClientIP: "203.0.113.1"}).Device
	e.clock.Advance(th.RetryAfter)
	e.login(t, LoginRequest{Username: "alice", Password: pw, ClientIP: "198.51.100.7"})

	// One username, many addresses: 10 failures, then 429 for that name…
	for i := range userBurst {
		_, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: "wrong password", ClientIP: "10.0.0." + string(rune('0'+i))})
		if !errors.Is(err, ErrCredentials) {
			t.Fatalf("failure %d: got %v", i, err)
		}
	}
	_, err = e.s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "203.0.113.50"})
	if !errors.As(err, &th) || th.RetryAfter != time.Minute {
		t.Fatalf("after 10 failures: got %v, want throttled for 1m", err)
	}
	// …but not for alice's own browser, which signed in before: the
	// attacker cannot keep her out.
	e.login(t, LoginRequest{Username: "alice", Password: pw, ClientIP: "203.0.113.1", Device: device})
	// A device cookie of another user does not help.
	if _, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "203.0.113.2", Device: e.s.throttle.device("bob")}); !errors.As(err, &th) {
		t.Errorf("bob's device cookie for alice: got %v, want throttled", err)
	}
}

func TestChangePasswordKillsOtherSessions(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "alice", "owner")
	laptop := e.login(t, LoginRequest{Username: "alice", Password: pw}).Session
	phone := e.login(t, LoginRequest{Username: "alice", Password: pw}).Session
	if err := e.s.ChangePassword(ctx, "alice", "wrong", "a new long password", laptop); !errors.Is(err, ErrCredentials) {
		t.Fatalf("wrong current password: got %v", err)
	}
	if err := e.s.ChangePassword(ctx, "alice", pw, "short", laptop); !errors.Is(err, ErrPasswordLength) {
		t.Fatalf("short password: got %v", err)
	}
	if err := e.s.ChangePassword(ctx, "alice", pw, "a new long password", laptop); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.s.Session(ctx, laptop, ""); !ok {
		t.Error("the session that changed the password was signed out")
	}
	if _, ok := e.s.Session(ctx, phone, ""); ok {
		t.Error("another session survived the password change")
	}
	if _, err := e.s.Login(ctx, LoginRequest{Username: "alice", Password: pw, ClientIP: "192.0.2.1"}); !errors.Is(err, ErrCredentials) {
		t.Errorf("old password: got %v", err)
	}
	e.login(t, LoginRequest{Username: "alice", Password: "a new long password"})
}

func TestTOTP(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "globex", "gina", "owner")
	en, err := e.s.BeginTOTP(ctx, "gina")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.URI, "otpauth://totp/Lookout:gina?") || !strings.Contains(en.URI, "secret="+en.Secret) {
		t.Errorf("got URI %q", en.URI)
	}
	if _, err := e.s.ConfirmTOTP(ctx, "gina", "000000"); !errors.Is(err, ErrCredentials) {
		t.Fatalf("wrong confirmation code: got %v", err)
	}
	code, _ := TOTPCode(en.Secret, e.clock.Now())
	codes, err := e.s.ConfirmTOTP(ctx, "gina", code)
	if err != nil || len(codes) != RecoveryCodes {
		t.Fatalf("confirm: got %d codes, %v", len(codes), err)
	}
	if p, ok := e.s.Session(ctx, e.login(t, LoginRequest{Username: "gina", Password: pw, Code: code2(t, en, e.clock.Now().Add(30*time.Second))}).Session, ""); !ok || p.EnrollTOTP {
		t.Errorf("enrolled member: got %+v %v", p, ok)
	}

	e.clock.Advance(2 * time.Minute)
	login := func(code string) error {
		_, err := e.s.Login(ctx, LoginRequest{Username: "gina", Password: pw, Code: code, ClientIP: "192.0.2.1"})
		return err
	}
	now := code2(t, en, e.clock.Now())
	cases := []struct {
		name string
		code string
		want error
	}{
		{"no code", "", ErrCodeRequired},
		{"wrong code", "123456", ErrCredentials},
		{"current code", now, nil},
		{"the same code again (replay)", now, ErrCredentials},
		{"the previous step's code, after a newer one", code2(t, en, e.clock.Now().Add(-30*time.Second)), ErrCredentials},
		{"the next step's code (drift)", code2(t, en, e.clock.Now().Add(30*time.Second)), nil},
		{"two steps ahead", code2(t, en, e.clock.Now().Add(90*time.Second)), ErrCredentials},
		{"a recovery code", strings.ToUpper(codes[0]), nil},
		{"the same recovery code again", codes[0], ErrCredentials},
	}
	for _, c := range cases {
		if err := login(c.code); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	if err := e.s.DisableTOTP(ctx, "gina", pw); !errors.Is(err, ErrTOTPRequired) {
		t.Errorf("disable while globex requires it: got %v", err)
	}
}

func code2(t *testing.T, en Enrollment, at time.Time) string {
	t.Helper()
	c, err := TOTPCode(en.Secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTPVector checks the RFC 6238 appendix B vector (SHA-1, 8 digits
// there; the low 6 digits here).
func TestTOTPVector(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1234567890, "005924"}, {2000000000, "279037"}} {
		if got := totpCode(secret, c.unix/30); got != c.want {
			t.Errorf("t=%d: got %s, want %s", c.unix, got, c.want)
		}
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.member(t, "acme", "olga", "owner")
	e.member(t, "acme", "alice", "responder")

	tok, rec, err := e.s.CreateToken(ctx, TokenRequest{Org: "acme", Name: "ci", Role: "responder", CreatedBy: "alice", CreatorRole: "responder"})
	if err != nil {
		t.Fatal(err)
	}
	if !Valid(tok) || len(tok) != 40 || !strings.HasPrefix(tok, "lko_") {
		t.Fatalf("got token %q", tok)
	}
	if _, _, err := e.s.CreateToken(ctx, TokenRequest{Org: "acme", Name: "x", Role: "admin", CreatedBy: "alice", CreatorRole: "responder"}); !errors.Is(err, ErrRoleTooHigh) {
		t.Errorf("token above the creator's role: got %v", err)
	}
	p, ok := e.s.Token(ctx, tok)
	if !ok || p != (Principal{Org: "acme", User: "alice", Role: "responder"}) {
		t.Fatalf("got %+v %v", p, ok)
	}

	// Malformed tokens never reach the store.
	flip := []byte(tok)
	flip[10] ^= 1
	before := e.s.lookups.Load()
	for _, bad := range []string{"", "lko_", tok + "x", tok[:39], string(flip), strings.Replace(tok, "lko_", "lkx_", 1), "lko_" + strings.Repeat("!", 36)} {
		if _, ok := e.s.Token(ctx, bad); ok {
			t.Errorf("malformed token %q accepted", bad)
		}
	}
	if n := e.s.lookups.Load() - before; n != 0 {
		t.Errorf("malformed tokens made %d lookups, want 0", n)
	}
	// A well-formed unknown one is looked up and refused.
	if _, ok := e.s.Token(ctx, newToken()); ok || e.s.lookups.Load()-before != 1 {
		t.Errorf("unknown token: ok %v after %d lookups", ok, e.s.lookups.Load()-before)
	}

	// Cached: no lookup for the next minute's worth of requests…
	before = e.s.lookups.Load()
	for range 100 {
		e.s.Token(ctx, tok)
	}
	if n := e.s.lookups.Load() - before; n != 0 {
		t.Errorf("got %d lookups for a cached token, want 0", n)
	}
	// …and last use recorded once.
	got, _ := e.s.TokenByID(ctx, "acme", rec.ID)
	if !got.LastUsedAt.Equal(t0) {
		t.Errorf("last used %v, want %v", got.LastUsedAt, t0)
	}

	// Demoting the maker caps the token; removing them kills it.
	if err := e.s.SetRole(ctx, "acme", "alice", "viewer"); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.Token(ctx, tok); p.Role != "viewer" {
		t.Errorf("after demotion: got role %q, want viewer", p.Role)
	}
	if err := e.s.RemoveMember(ctx, "acme", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.s.Token(ctx, tok); ok {
		t.Error("token of a removed member still works")
	}

	// Revocation is immediate despite the cache; expiry is honoured.
	cli, crec, err := e.s.CreateToken(ctx, TokenRequest{Org: "acme", Name: "deploy", Role: "admin", Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := e.s.Token(ctx, cli); !ok || p.User != "token:deploy" || p.Role != "admin" {
		t.Fatalf("CLI token: got %+v %v", p, ok)
	}
	e.clock.Advance(time.Hour)
	if _, ok := e.s.Token(ctx, cli); ok {
		t.Error("expired token accepted")
	}
	owner, orec, _ := e.s.CreateToken(ctx, TokenRequest{Org: "acme", Name: "o", Role: "owner", CreatedBy: "olga", CreatorRole: "owner"})
	e.s.Token(ctx, owner)
	if err := e.s.RevokeToken(ctx, "globex", orec.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke through another organization: got %v", err)
	}
	if err := e.s.RevokeToken(ctx, "acme", orec.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.s.Token(ctx, owner); ok {
		t.Error("revoked token accepted")
	}
	_ = crec
}

// TestParamsCost measures the production argon2id parameters (the figure
// docs/access.md quotes).
func TestParamsCost(t *testing.T) {
	start := time.Now()
	h, err := argon2id.CreateHash(pw, &Params)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("argon2id m=%d KiB t=%d p=%d: %s per hash", Params.Memory, Params.Iterations, Params.Parallelism, time.Since(start))
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("got %q", h)
	}
}

// BenchmarkToken is a cached token's resolution: what a token adds to
// each API request.
func BenchmarkToken(b *testing.B) {
	s := newEnv(b).s
	tok, _, err := s.CreateToken(context.Background(), TokenRequest{Org: "acme", Name: "bench", Role: "viewer"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := s.Token(ctx, tok); !ok {
			b.Fatal("refused")
		}
	}
}
