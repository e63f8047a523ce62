package web

import (
	"context"
	"net/http"
	"strings"
)

// Principal is who a request acts as: a user of an organization, with a
// role (owner, admin, responder or viewer).
type Principal struct {
	Org  string
	User string
	Role string
	// Via is how the request authenticated: "token", "session" or
	// "slack" (set by the web layer; audit entries record it).
	Via string
	// EnrollTOTP: the organization requires a second factor the user
	// lacks; only the account page answers until they enroll.
	EnrollTOTP bool
}

// Authenticator resolves an API token into the principal it acts as; ok is
// false for an unknown, revoked or expired token. Implementations compare in
// constant time (e.g. SHA-256 digests with subtle.ConstantTimeCompare).
type Authenticator interface {
	Token(ctx context.Context, token string) (Principal, bool)
	// Session resolves a session cookie's value into the user acting in
	// org (the request's ?org= parameter; "" for the user's first
	// organization); ok is false for an unknown, expired or revoked
	// session, or a user who is no member of org.
	Session(ctx context.Context, id, org string) (Principal, bool)
}

// The roles, from most to least powerful.
const (
	roleOwner     = "owner"
	roleAdmin     = "admin"
	roleResponder = "responder"
	roleViewer    = "viewer"
)

// roleRank orders the roles; an unknown role ranks 0 and may do nothing.
func roleRank(role string) int {
	switch role {
	case roleOwner:
		return 4
	case roleAdmin:
		return 3
	case roleResponder:
		return 2
	case roleViewer:
		return 1
	}
	return 0
}

// may reports whether p's role is at least min.
func (p Principal) may(min string) bool {
	return roleRank(p.Role) >= max(roleRank(min), 1)
}

// Token shape bounds: config accepts tokens of at least minTokenLen
// printable ASCII characters without spaces (config.MinTokenLength); a
// longer one than maxBearerLen is never legitimate.
const (
	minTokenLen  = 24
	maxBearerLen = 512
)

// bearerToken returns the token of an "Authorization: Bearer <token>"
// header; ok is false when there is none or it cannot be a token, so a
// malformed one never reaches a lookup.
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, token, found := strings.Cut(h, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return token, wellFormedToken(token)
}

// wellFormedToken accepts what a configured token can be.
func wellFormedToken(t string) bool {
	if len(t) < minTokenLen || len(t) > maxBearerLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

func quoteRole(role string) string {
	if role == "" {
		return "(none)"
	}
	return role
}
