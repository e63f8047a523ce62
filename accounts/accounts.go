// Package accounts is Lookout's identity and access core: accounts that
// sign in with a password (argon2id) and optionally a TOTP code, their
// sessions, organization memberships with a role, API tokens (lko_…), and
// the login throttle. Organizations come from the configuration (SetOrgs);
// everything else lives in the store.
//
// The web layer asks two questions through it — who holds this session,
// who holds this token — and drives sign-in, password changes, enrollment,
// memberships and tokens. Time comes from the injected clock.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexedwards/argon2id"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/store"
)

// Errors the service returns; web maps them to statuses and messages.
var (
	// ErrCredentials: unknown user, wrong password or wrong code. One
	// error for all, so a response tells nothing about which.
	ErrCredentials = errors.New("invalid username, password or code")
	// ErrCodeRequired: the password is right and the account has a second
	// factor: ask for the code.
	ErrCodeRequired = errors.New("a two-factor code is required")
	// ErrPasswordLength: a new password outside MinPassword..MaxPassword
	// bytes, or a login password longer than MaxPassword (refused before
	// any hashing).
	ErrPasswordLength = fmt.Errorf("a password has %d to %d bytes", MinPassword, MaxPassword)
	// ErrUsername: a username that is not an id (lowercase letters,
	// digits and dashes, at most 63).
	ErrUsername = errors.New("a username is 1 to 63 lowercase letters, digits or dashes, starting with a letter or digit")
	// ErrRole: not one of owner, admin, responder, viewer.
	ErrRole = errors.New("a role is owner, admin, responder or viewer")
	// ErrRoleTooHigh: a token (or member) with a role above the creator's.
	ErrRoleTooHigh = errors.New("the role is above your own")
	// ErrUnknownOrg: an organization the configuration does not define.
	ErrUnknownOrg = errors.New("unknown organization")
)

// ThrottledError is a refused sign-in attempt: too many from the client
// address or for the username. RetryAfter says when to try again.
type ThrottledError struct{ RetryAfter time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many sign-in attempts; try again in %s", e.RetryAfter.Round(time.Second))
}

// Password bounds, in bytes (checked before hashing: a 1 MB password costs
// nothing).
const (
	MinPassword = 12
	MaxPassword = 128
)

// Session lifetimes: a session ends after IdleTimeout without a request, or
// AbsoluteTimeout after sign-in, whichever comes first.
const (
	IdleTimeout     = 12 * time.Hour
	AbsoluteTimeout = 7 * 24 * time.Hour
)

// Params are the argon2id parameters of new hashes: OWASP's first
// recommendation (m=19 MiB, t=2, p=1). About 40 ms on one core of the
// development machine; existing hashes keep the parameters they carry.
var Params = argon2id.Params{Memory: 19 * 1024, Iterations: 2, Parallelism: 1, SaltLength: 16, KeyLength: 32}

// Org is an organization as the configuration defines it.
type Org struct {
	ID, Name string
	// RequireTOTP sends members without a second factor to enroll before
	// anything else.
	RequireTOTP bool
}

// Principal is who a session or token acts as in one organization.
type Principal struct {
	Org, User, Role string
	// EnrollTOTP: Org requires a second factor this account lacks; only
	// the account page may be used until it enrolls.
	EnrollTOTP bool
}

// Options configure New.
type Options struct {
	DB     *store.DB
	Clock  clock.Clock // default: the wall clock
	Logger *slog.Logger
	// Params overrides the argon2id parameters (tests use cheap ones);
	// nil: Params.
	Params *argon2id.Params
}

// Service is the accounts core. Safe for concurrent use.
type Service struct {
	db     *store.DB
	clock  clock.Clock
	log    *slog.Logger
	params *argon2id.Params
	// dummy is a hash of a random password, compared against when the
	// username is unknown so that costs the same as a wrong password.
	dummy string
	// hashing bounds concurrent argon2id computations (memory: 19 MiB
	// each).
	hashing chan struct{}

	mu   sync.RWMutex
	orgs map[string]Org
	// orgOrder is the configuration's order (a session without ?org= acts
	// in the first organization the account belongs to).
	orgOrder []string

	throttle *throttle
	tokens   *tokenCache
	sessions *sessionCache
	// sessionLookups counts session resolutions that reached the store.
	sessionLookups atomic.Int64
	// lookups counts token lookups that reached the store (a malformed
	// token makes none).
	lookups atomic.Int64
	// hashes counts argon2id computations (a refused over-long password
	// makes none).
	hashes atomic.Int64
}

// New returns a Service over opts.DB.
func New(opts Options) (*Service, error) {
	if opts.DB == nil {
		return nil, errors.New("accounts: needs a store")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	p := opts.Params
	if p == nil {
		pp := Params
		p = &pp
	}
	s := &Service{
		db:       opts.DB,
		clock:    opts.Clock,
		log:      opts.Logger,
		params:   p,
		hashing:  make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		orgs:     map[string]Org{},
		throttle: newThrottle(),
		tokens:   newTokenCache(),
		sessions: newSessionCache(),
	}
	dummy, err := argon2id.CreateHash(randomText(24), p)
	if err != nil {
		return nil, fmt.Errorf("accounts: dummy hash: %w", err)
	}
	s.dummy = dummy
	return s, nil
}

// SetOrgs replaces the organizations (from the configuration, at start and
// on every reload). Memberships of an organization no longer configured are
// kept but give no access.
func (s *Service) SetOrgs(orgs []Org) {
	m := make(map[string]Org, len(orgs))
	order := make([]string, 0, len(orgs))
	for _, o := range orgs {
		m[o.ID] = o
		order = append(order, o.ID)
	}
	s.mu.Lock()
	s.orgs, s.orgOrder = m, order
	s.mu.Unlock()
	s.forget()
}

// forget clears the caches of resolved tokens and sessions: after any
// change of who may do what.
func (s *Service) forget() {
	s.tokens.clear()
	s.sessions.clear()
}

// Org returns the configured organization with that id.
func (s *Service) Org(id string) (Org, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	o, ok := s.orgs[id]
	return o, ok
}

// Orgs returns the configured organizations, in configuration order.
func (s *Service) Orgs() []Org {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Org, 0, len(s.orgOrder))
	for _, id := range s.orgOrder {
		out = append(out, s.orgs[id])
	}
	return out
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)

// ValidUsername reports whether name can be a username (the shape of a
// config user id).
func ValidUsername(name string) bool { return usernameRE.MatchString(name) }

// The roles, most powerful first.
const (
	RoleOwner     = "owner"
	RoleAdmin     = "admin"
	RoleResponder = "responder"
	RoleViewer    = "viewer"
)

// Rank orders roles: owner 4 … viewer 1, anything else 0.
func Rank(role string) int {
	switch role {
	case RoleOwner:
		return 4
	case RoleAdmin:
		return 3
	case RoleResponder:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// ValidRole reports whether role is one of the four.
func ValidRole(role string) bool { return Rank(role) > 0 }

// lower returns the less powerful of two roles.
func lower(a, b string) string {
	if Rank(a) <= Rank(b) {
		return a
	}
	return b
}

// Account returns the account with that username.
func (s *Service) Account(ctx context.Context, username string) (store.Account, error) {
	return s.db.AccountByUsername(ctx, username)
}

// Memberships returns the configured organizations username belongs to,
// in configuration order.
func (s *Service) Memberships(ctx context.Context, username string) ([]store.Membership, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	ms, err := s.db.MembershipsOf(ctx, a.ID)
	if err != nil {
		return nil, err
	}
	return s.ordered(ms), nil
}

// ordered keeps the memberships of configured organizations, in
// configuration order.
func (s *Service) ordered(ms []store.Membership) []store.Membership {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []store.Membership
	for _, id := range s.orgOrder {
		for _, m := range ms {
			if m.Org == id {
				out = append(out, m)
			}
		}
	}
	return out
}
