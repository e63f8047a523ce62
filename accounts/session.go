package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/lookout-status/lookout/store"
)

// LoginRequest is one sign-in attempt.
type LoginRequest struct {
	Username, Password string
	// Code is a TOTP code or a recovery code, for accounts with a second
	// factor.
	Code string
	// ClientIP is the peer address (never X-Forwarded-For); UserAgent is
	// kept for the account page's list of sessions.
	ClientIP, UserAgent string
	// Device is the device cookie the browser presented, if any.
	Device string
	// Replace is the session cookie the browser presented, if any: it is
	// revoked, and a new session id issued (no session fixation).
	Replace string
}

// LoginResult is a successful sign-in.
type LoginResult struct {
	// Session is the new session cookie's value (shown to the browser
	// only; the store keeps its SHA-256).
	Session   string
	ExpiresAt time.Time
	// Device is a fresh device cookie value for this username.
	Device string
}

// sessionIDLen is the length of a session id: 32 random bytes, base64url.
const sessionIDLen = 43

func wellFormedSession(id string) bool {
	if len(id) != sessionIDLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(id)
	return err == nil
}

func sum(v string) []byte {
	s := sha256.Sum256([]byte(v))
	return s[:]
}

// Login checks a sign-in attempt and, when it succeeds, starts a session.
// It returns ErrPasswordLength for a password longer than MaxPassword (no
// hashing), *ThrottledError when the client address or the username has
// tried too often, ErrCodeRequired when the password is right but the
// account's second factor is missing, and ErrCredentials otherwise.
func (s *Service) Login(ctx context.Context, req LoginRequest) (LoginResult, error) {
	if len(req.Password) > MaxPassword {
		return LoginResult{}, ErrPasswordLength
	}
	now := s.clock.Now()
	if d := s.throttle.ip.take(req.ClientIP, now); d > 0 {
		s.log.WarnContext(ctx, "sign-in throttled", "client_ip", req.ClientIP, "by", "address")
		return LoginResult{}, &ThrottledError{RetryAfter: retryAfter(d)}
	}
	trusted := s.throttle.trusted(req.Username, req.Device)
	if !trusted {
		if d := s.throttle.user.wait(req.Username, now); d > 0 {
			s.log.WarnContext(ctx, "sign-in throttled", "client_ip", req.ClientIP, "by", "username")
			return LoginResult{}, &ThrottledError{RetryAfter: retryAfter(d)}
		}
	}
	fail := func(reason string) (LoginResult, error) {
		if !trusted {
			s.throttle.user.take(req.Username, now)
		}
		s.log.InfoContext(ctx, "sign-in refused", "client_ip", req.ClientIP, "reason", reason)
		return LoginResult{}, ErrCredentials
	}

	var hash string
	a, err := s.db.AccountByUsername(ctx, req.Username)
	switch {
	case err == nil && a.DisabledAt.IsZero():
		hash = a.PasswordHash
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return LoginResult{}, fmt.Errorf("sign in: %w", err)
	}
	ok, err := s.verify(ctx, req.Password, hash)
	if err != nil {
		return LoginResult{}, fmt.Errorf("sign in: %w", err)
	}
	if !ok {
		if hash == "" {
			return fail("unknown or disabled account")
		}
		return fail("wrong password")
	}
	if a.TOTPSecret != nil {
		if req.Code == "" {
			return LoginResult{}, ErrCodeRequired
		}
		ok, err := s.checkCode(ctx, a, req.Code)
		if err != nil {
			return LoginResult{}, fmt.Errorf("sign in: %w", err)
		}
		if !ok {
			return fail("wrong code")
		}
	}

	id := newSessionID()
	var replace []byte
	if wellFormedSession(req.Replace) {
		replace = sum(req.Replace)
	}
	expires := now.Add(AbsoluteTimeout)
	if err := s.db.CreateSession(ctx, store.Session{
		Hash: sum(id), Account: a.ID, CreatedAt: now, LastSeen: now, ExpiresAt: expires,
		UserAgent: truncate(req.UserAgent, 200), ClientIP: req.ClientIP,
	}, replace); err != nil {
		return LoginResult{}, fmt.Errorf("sign in: %w", err)
	}
	s.log.InfoContext(ctx, "signed in", "user", a.Username, "client_ip", req.ClientIP)
	return LoginResult{Session: id, ExpiresAt: expires, Device: s.throttle.device(req.Username)}, nil
}

func newSessionID() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Logout ends the session with that id (a missing one is no error).
func (s *Service) Logout(ctx context.Context, id string) error {
	if !wellFormedSession(id) {
		return nil
	}
	return s.db.DeleteSession(ctx, sum(id))
}

// touchEvery bounds how often a session's last_seen is written.
const touchEvery = time.Minute

// lookupSession returns the live session with that id and its account.
func (s *Service) lookupSession(ctx context.Context, id string) (store.Session, store.Account, bool) {
	if !wellFormedSession(id) {
		return store.Session{}, store.Account{}, false
	}
	sess, err := s.db.SessionByHash(ctx, sum(id))
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "session lookup failed", "err", err)
		}
		return store.Session{}, store.Account{}, false
	}
	now := s.clock.Now()
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= IdleTimeout {
		if err := s.db.DeleteSession(ctx, sess.Hash); err != nil {
			s.log.ErrorContext(ctx, "delete expired session", "err", err)
		}
		return store.Session{}, store.Account{}, false
	}
	a, err := s.db.AccountByID(ctx, sess.Account)
	if err != nil || !a.DisabledAt.IsZero() {
		return store.Session{}, store.Account{}, false
	}
	if now.Sub(sess.LastSeen) >= touchEvery {
		if err := s.db.TouchSession(ctx, sess.Hash, now); err != nil {
			s.log.ErrorContext(ctx, "touch session", "err", err)
		}
	}
	return sess, a, true
}

// Session resolves a session cookie into the account acting in org ("" for
// its first organization, in configuration order). ok is false for an
// unknown, expired or revoked session, a disabled account, or an
// organization the account is no member of.
func (s *Service) Session(ctx context.Context, id, org string) (Principal, bool) {
	_, a, ok := s.lookupSession(ctx, id)
	if !ok {
		return Principal{}, false
	}
	all, err := s.db.MembershipsOf(ctx, a.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "memberships lookup failed", "err", err)
		return Principal{}, false
	}
	ms := s.ordered(all)
	for _, m := range ms {
		if org == "" || m.Org == org {
			o, _ := s.Org(m.Org)
			return Principal{Org: m.Org, User: a.Username, Role: m.Role,
				EnrollTOTP: o.RequireTOTP && a.TOTPSecret == nil}, true
		}
	}
	return Principal{}, false
}

// SessionAccount returns the account of a live session (for the account
// page).
func (s *Service) SessionAccount(ctx context.Context, id string) (store.Account, bool) {
	_, a, ok := s.lookupSession(ctx, id)
	return a, ok
}

// Sessions lists username's sessions, newest first; current marks the one
// with id.
func (s *Service) Sessions(ctx context.Context, username string) ([]store.Session, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	return s.db.SessionsOf(ctx, a.ID)
}

// IsSession reports whether the stored session hash is that of id.
func IsSession(hash []byte, id string) bool {
	return wellFormedSession(id) && string(hash) == string(sum(id))
}

// PruneSessions deletes expired sessions.
func (s *Service) PruneSessions(ctx context.Context) (int64, error) {
	now := s.clock.Now()
	return s.db.DeleteExpiredSessions(ctx, now, now.Add(-IdleTimeout))
}
