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
		defer s.sessions.drop(sha256.Sum256([]byte(req.Replace)))
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
	defer s.sessions.drop(sha256.Sum256([]byte(id)))
	return s.db.DeleteSession(ctx, sum(id))
}

// SignOutOthers ends every session of username but keep (the session
// asking) and returns how many ended.
func (s *Service) SignOutOthers(ctx context.Context, username, keep string) (int64, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return 0, err
	}
	var k []byte
	if wellFormedSession(keep) {
		k = sum(keep)
	}
	defer s.sessions.clear()
	return s.db.DeleteSessionsExcept(ctx, a.ID, k)
}

// touchEvery bounds how often a session's last_seen is written.
const touchEvery = time.Minute

// sessionCacheTTL bounds how long a resolved session is trusted without
// reading the store again. Signing out, password changes, disabling, and
// membership and second-factor changes made through this process clear
// the cache at once; the operator's CLI, another process, is seen within
// this long.
const sessionCacheTTL = 10 * time.Second

// liveSession is a session as Session needs it: the account it belongs to
// and its memberships, when it was last seen and when it ends.
type liveSession struct {
	account     int64
	username    string
	totp        bool
	memberships []store.Membership
	lastSeen    time.Time
	expires     time.Time
}

// lookupSession returns the live session with that id: from the cache, or
// from the store (session, account, memberships), which it then caches.
func (s *Service) lookupSession(ctx context.Context, id string) (liveSession, bool) {
	if !wellFormedSession(id) {
		return liveSession{}, false
	}
	h := sha256.Sum256([]byte(id))
	now := s.clock.Now()
	if ls, ok := s.sessions.get(h, now); ok {
		if now.Before(ls.expires) && now.Sub(ls.lastSeen) < IdleTimeout {
			s.touchSession(ctx, h, &ls, now)
			return ls, true
		}
		s.sessions.drop(h)
	}
	gen := s.sessions.generation()
	s.sessionLookups.Add(1)
	sess, err := s.db.SessionByHash(ctx, h[:])
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "session lookup failed", "err", err)
		}
		return liveSession{}, false
	}
	if !now.Before(sess.ExpiresAt) || now.Sub(sess.LastSeen) >= IdleTimeout {
		if err := s.db.DeleteSession(ctx, sess.Hash); err != nil {
			s.log.ErrorContext(ctx, "delete expired session", "err", err)
		}
		return liveSession{}, false
	}
	a, err := s.db.AccountByID(ctx, sess.Account)
	if err != nil || !a.DisabledAt.IsZero() {
		return liveSession{}, false
	}
	ms, err := s.db.MembershipsOf(ctx, a.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "memberships lookup failed", "err", err)
		return liveSession{}, false
	}
	ls := liveSession{account: a.ID, username: a.Username, totp: a.TOTPSecret != nil, memberships: ms,
		lastSeen: sess.LastSeen, expires: sess.ExpiresAt}
	s.touchSession(ctx, h, &ls, now)
	s.sessions.put(h, ls, now.Add(sessionCacheTTL), gen)
	return ls, true
}

// touchSession writes the session's last use, at most once per touchEvery.
func (s *Service) touchSession(ctx context.Context, h [32]byte, ls *liveSession, now time.Time) {
	if now.Sub(ls.lastSeen) < touchEvery {
		return
	}
	if err := s.db.TouchSession(context.WithoutCancel(ctx), h[:], now); err != nil {
		s.log.ErrorContext(ctx, "touch session", "err", err)
		return
	}
	ls.lastSeen = now
	s.sessions.update(h, func(c *liveSession) { c.lastSeen = now })
}

// Session resolves a session cookie into the account acting in org ("" for
// its first organization, in configuration order). ok is false for an
// unknown, expired or revoked session, a disabled account, or an
// organization the account is no member of.
func (s *Service) Session(ctx context.Context, id, org string) (Principal, bool) {
	ls, ok := s.lookupSession(ctx, id)
	if !ok {
		return Principal{}, false
	}
	for _, m := range s.ordered(ls.memberships) {
		if org == "" || m.Org == org {
			o, _ := s.Org(m.Org)
			return Principal{Org: m.Org, User: ls.username, Role: m.Role,
				EnrollTOTP: o.RequireTOTP && !ls.totp}, true
		}
	}
	return Principal{}, false
}

// SessionUser returns the username of a live session, whatever its
// memberships (ok is false for an unknown, expired or revoked session or a
// disabled account).
func (s *Service) SessionUser(ctx context.Context, id string) (string, bool) {
	ls, ok := s.lookupSession(ctx, id)
	return ls.username, ok
}

// sessionCache keeps resolved sessions for sessionCacheTTL; sign-outs
// drop theirs, password and membership changes clear it.
type sessionCache = ttlCache[liveSession]

func newSessionCache() *sessionCache { return newTTLCache[liveSession]() }

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
