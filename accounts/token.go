package accounts

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/lookout-status/lookout/store"
)

// API tokens look like GitHub's: "lko_", 30 random base62 characters
// (178 bits), and a 6-character base62 CRC32 of the rest. The prefix makes
// them findable by secret scanners; the checksum lets Valid refuse a typo
// or a forgery without touching the database. Only their SHA-256 is
// stored; the token is shown once.
const (
	TokenPrefix  = "lko_"
	tokenRandom  = 30
	tokenSum     = 6
	TokenLength  = len(TokenPrefix) + tokenRandom + tokenSum
	maxTokenName = 64
	// tokenCacheTTL bounds how long a resolved token is trusted without
	// looking again; revocation and membership changes made through this
	// process clear the cache at once.
	tokenCacheTTL = 30 * time.Second
	// tokenTouchEvery bounds writes of a token's last use.
	tokenTouchEvery = time.Minute
	maxCached       = 4096
)

// ErrTokenName: a token name that is empty, too long or holds control
// characters.
var ErrTokenName = fmt.Errorf("a token name is 1 to %d printable characters", maxTokenName)

// checksum is the base62 CRC32 of body, 6 characters.
func checksum(body string) string {
	v := crc32.ChecksumIEEE([]byte(body))
	var out [tokenSum]byte
	for i := tokenSum - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

func newToken() string {
	body := TokenPrefix + randomText(tokenRandom)
	return body + checksum(body)
}

// Valid reports whether token has the shape and checksum of a Lookout
// token. It touches nothing: a malformed token never reaches a lookup.
func Valid(token string) bool {
	if len(token) != TokenLength || !strings.HasPrefix(token, TokenPrefix) {
		return false
	}
	for i := len(TokenPrefix); i < len(token); i++ {
		if strings.IndexByte(base62, token[i]) < 0 {
			return false
		}
	}
	body := token[:len(token)-tokenSum]
	return subtle.ConstantTimeCompare([]byte(checksum(body)), []byte(token[len(body):])) == 1
}

// TokenRequest asks for a new token.
type TokenRequest struct {
	Org, Name, Role string
	// CreatedBy is the member making it; CreatorRole their role, above
	// which the token may not go. Both "" for the operator's CLI.
	CreatedBy, CreatorRole string
	// Expires is when the token stops working (zero: never).
	Expires time.Time
}

// CreateToken makes a token and returns it (the only time it is seen) with
// its stored record.
func (s *Service) CreateToken(ctx context.Context, req TokenRequest) (string, store.APIToken, error) {
	if _, ok := s.Org(req.Org); !ok {
		return "", store.APIToken{}, ErrUnknownOrg
	}
	if !ValidRole(req.Role) {
		return "", store.APIToken{}, ErrRole
	}
	if req.CreatedBy != "" && Rank(req.Role) > Rank(req.CreatorRole) {
		return "", store.APIToken{}, ErrRoleTooHigh
	}
	if !validName(req.Name) {
		return "", store.APIToken{}, ErrTokenName
	}
	now := s.clock.Now()
	if !req.Expires.IsZero() && !req.Expires.After(now) {
		return "", store.APIToken{}, errors.New("the expiry is in the past")
	}
	tok := newToken()
	t := store.APIToken{
		ID: "tok_" + randomText(12), Org: req.Org, Name: req.Name, Role: req.Role, Hash: sum(tok),
		CreatedBy: req.CreatedBy, CreatedAt: now, ExpiresAt: req.Expires,
	}
	if err := s.db.CreateToken(ctx, t); err != nil {
		return "", store.APIToken{}, err
	}
	return tok, t, nil
}

func validName(n string) bool {
	if n == "" || len(n) > maxTokenName || strings.TrimSpace(n) != n {
		return false
	}
	for _, r := range n {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Tokens returns org's tokens, newest first.
func (s *Service) Tokens(ctx context.Context, org string) ([]store.APIToken, error) {
	return s.db.Tokens(ctx, org)
}

// TokenByID returns org's token with that id (ErrNotFound for another
// organization's).
func (s *Service) TokenByID(ctx context.Context, org, id string) (store.APIToken, error) {
	return s.db.Token(ctx, org, id)
}

// RevokeToken revokes org's token id, at once for this process's cache.
func (s *Service) RevokeToken(ctx context.Context, org, id string) error {
	err := s.db.RevokeToken(ctx, org, id)
	s.tokens.clear()
	return err
}

// Token resolves an API token into the principal it acts as: its
// organization, the member who made it (or "token:NAME" for one made by
// the CLI), and its role — capped at the maker's current role, and dead
// once the maker left the organization or was disabled. ok is false for a
// malformed, unknown, revoked or expired token.
func (s *Service) Token(ctx context.Context, token string) (Principal, bool) {
	if !Valid(token) {
		return Principal{}, false
	}
	h := sha256.Sum256([]byte(token))
	now := s.clock.Now()
	if c, ok := s.tokens.get(h, now); ok {
		s.touch(ctx, c.id, now)
		return c.p, true
	}
	s.lookups.Add(1)
	// A revocation (or membership change) that clears the cache while
	// this lookup reads must not be undone by its put.
	gen := s.tokens.generation()
	t, err := s.db.TokenByHash(ctx, h[:])
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.ErrorContext(ctx, "token lookup failed", "err", err)
		}
		return Principal{}, false
	}
	if subtle.ConstantTimeCompare(t.Hash, h[:]) != 1 || !t.RevokedAt.IsZero() ||
		(!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return Principal{}, false
	}
	if _, ok := s.Org(t.Org); !ok {
		return Principal{}, false
	}
	p := Principal{Org: t.Org, User: "token:" + t.Name, Role: t.Role}
	if t.CreatedBy != "" {
		p.User = t.CreatedBy
		m, err := s.db.Member(ctx, t.Org, t.CreatedBy)
		switch {
		case err == nil && m.Disabled:
			return Principal{}, false
		case err == nil:
			p.Role = lower(t.Role, m.Role)
		case errors.Is(err, store.ErrNotFound):
			// No member: fine for a config user without an account
			// (their config token made it), not for an account that
			// left the organization.
			if _, err := s.db.AccountByUsername(ctx, t.CreatedBy); !errors.Is(err, store.ErrNotFound) {
				return Principal{}, false
			}
		default:
			s.log.ErrorContext(ctx, "token maker lookup failed", "err", err)
			return Principal{}, false
		}
	}
	s.tokens.put(h, cachedToken{p: p, id: t.ID, expires: t.ExpiresAt, until: now.Add(tokenCacheTTL)}, gen)
	s.touch(ctx, t.ID, now)
	return p, true
}

// touch records a token's use, at most once per tokenTouchEvery.
func (s *Service) touch(ctx context.Context, id string, now time.Time) {
	if !s.tokens.due(id, now) {
		return
	}
	if err := s.db.TouchToken(context.WithoutCancel(ctx), id, now); err != nil {
		s.log.ErrorContext(ctx, "record token use", "err", err)
	}
}

// tokenCache keeps resolved tokens for tokenCacheTTL (or until the
// token's own expiry, if sooner) and when each token's use was last
// written. Revocations and membership changes clear it.
type tokenCache struct {
	*ttlCache[cachedToken]
	mu      sync.Mutex
	touched map[string]time.Time
}

type cachedToken struct {
	p       Principal
	id      string
	expires time.Time // the token's own expiry (zero: none)
	until   time.Time // the cache entry's
}

func newTokenCache() *tokenCache {
	return &tokenCache{ttlCache: newTTLCache[cachedToken](), touched: map[string]time.Time{}}
}

// put stores e unless the cache was cleared since gen was read.
func (c *tokenCache) put(h [32]byte, e cachedToken, gen uint64) {
	until := e.until
	if !e.expires.IsZero() && e.expires.Before(until) {
		until = e.expires
	}
	c.ttlCache.put(h, e, until, gen)
}

// due reports whether token id's use should be written now, and if so
// notes it.
func (c *tokenCache) due(id string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if last, ok := c.touched[id]; ok && now.Sub(last) < tokenTouchEvery {
		return false
	}
	if len(c.touched) >= maxCached {
		clear(c.touched)
	}
	c.touched[id] = now
	return true
}
