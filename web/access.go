package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Access control lives here, in one place. Every route is registered
// through public, member or console, each recording a routeRule; the
// authorization test walks s.rules, so a route without a rule cannot
// exist. Handlers never check roles themselves: they receive the
// Principal the rule admitted.

// routeRule is who may call a route.
type routeRule struct {
	Pattern string
	// Role is the least role admitted ("" for a public route, or one that
	// authenticates by its own means: a request signature, a token in the
	// path).
	Role string
	// HTML marks a console page: an unauthenticated GET is redirected to
	// the sign-in page instead of answered 401.
	HTML bool
}

// SessionCookie names the session cookie. The __Host- prefix makes the
// browser refuse it unless Secure, Path=/ and without Domain.
const SessionCookie = "__Host-lookout_session"

// AuditEntry is one write, allowed or refused, as the audit log keeps it.
// It never holds a secret: Summary is written by handlers that know what
// is safe to record.
type AuditEntry struct {
	Time     time.Time
	Org      string
	Actor    string // the user (or token owner) who acted
	Role     string
	Via      string // "token", "session", "slack", "cli"
	Action   string // the route pattern, e.g. "POST /api/v1/incidents/{id}/acknowledge"
	Target   string // the object acted on, e.g. the incident id
	Status   int    // the HTTP status answered
	Summary  string // before/after, in words
	ClientIP string
}

// AuditLog records audit entries (append-only).
type AuditLog interface {
	Record(ctx context.Context, e AuditEntry) error
}

type handlerP = func(w http.ResponseWriter, r *http.Request, p Principal)

// public registers a route anyone may call.
func (s *server) public(mux *http.ServeMux, pattern string, h http.Handler) {
	s.rules = append(s.rules, routeRule{Pattern: pattern})
	mux.Handle(pattern, h)
}

// member registers an API route for members whose role is at least min:
// they authenticate with a bearer token or a session cookie. Unauthenticated
// requests get 401, a role below min 403; writes are audited either way.
func (s *server) member(mux *http.ServeMux, pattern, min string, h handlerP) {
	s.rules = append(s.rules, routeRule{Pattern: pattern, Role: min})
	mux.Handle(pattern, s.admit(min, false, h))
}

// api registers an /api/v1 route for members (as member). Token requests
// carry no cookie for a cross-site form to ride on, so the general
// cross-origin check is bypassed for them (a browser app on another origin
// may call the API with its token); a cookie-authenticated write still
// passes the strict check in s.principal.
func (s *server) api(mux *http.ServeMux, pattern, min string, h handlerP) {
	s.member(mux, pattern, min, h)
	s.csrf.AddInsecureBypassPattern(pattern)
}

// console registers a console page (HTML) for members whose role is at
// least min; an unauthenticated GET is redirected to /login.
func (s *server) console(mux *http.ServeMux, pattern, min string, h handlerP) {
	s.rules = append(s.rules, routeRule{Pattern: pattern, Role: min, HTML: true})
	mux.Handle(pattern, s.admit(min, true, h))
}

// principal authenticates r: a bearer token first, else the session
// cookie. A session-authenticated request that changes state must pass the
// strict cross-origin check (no bypass patterns): a cookie is exactly what a
// cross-site form would carry.
func (s *server) principal(r *http.Request) (Principal, error) {
	if s.auth == nil {
		return Principal{}, errUnauthorized
	}
	if r.Header.Get("Authorization") != "" {
		token, ok := bearerToken(r)
		if !ok {
			return Principal{}, errUnauthorized
		}
		p, ok := s.auth.Token(r.Context(), token)
		if !ok {
			return Principal{}, errUnauthorized
		}
		if p.Via == "" {
			p.Via = "token"
		}
		return p, nil
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || !wellFormedSessionID(c.Value) {
		return Principal{}, errUnauthorized
	}
	if !safeMethod(r.Method) {
		if err := s.csrfStrict.Check(r); err != nil {
			return Principal{}, errForbidden
		}
	}
	// A member of several organizations picks one per request: console
	// links and form actions carry ?org=.
	p, ok := s.auth.Session(r.Context(), c.Value, r.URL.Query().Get("org"))
	if !ok {
		if s.accounts != nil {
			if _, live := s.accounts.SessionUser(r.Context(), c.Value); live {
				return Principal{}, errNoMembership
			}
		}
		return Principal{}, errUnauthorized
	}
	p.Via = "session"
	return p, nil
}

// errNoMembership: a live session whose account is no member of the
// organization asked for (?org=), or of any.
var errNoMembership = errors.New("no membership")

// maxSessionID bounds a session cookie's value (ids are 43 base64url
// characters; anything much longer is not one of ours).
const maxSessionID = 128

func wellFormedSessionID(v string) bool {
	if len(v) < 16 || len(v) > maxSessionID {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// admit wraps h with authentication, the role check and the audit record
// of every write.
func (s *server) admit(min string, html bool, h handlerP) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := s.principal(r)
		if err != nil {
			if html && safeMethod(r.Method) && err == errUnauthorized {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			if err == errNoMembership {
				if html && safeMethod(r.Method) {
					s.noMembershipPage(w, r)
					return
				}
				s.failAPI(w, r, &apiError{status: http.StatusForbidden, code: "no_membership",
					message: "you are not a member of this organization"})
				return
			}
			if err == errForbidden {
				s.failAPI(w, r, &apiError{status: http.StatusForbidden, code: "forbidden",
					message: "cross-origin request refused"})
				return
			}
			s.logger.InfoContext(r.Context(), "credentials refused", "route", r.Pattern, "remote_addr", r.RemoteAddr)
			s.failAPI(w, r, errUnauthorized)
			return
		}
		// An organization that requires a second factor: a member without
		// one may only enroll (login.go).
		if p.EnrollTOTP && !enrollAllowed(r.Pattern) {
			if html && safeMethod(r.Method) {
				http.Redirect(w, r, "/console/account?org="+url.QueryEscape(p.Org), http.StatusSeeOther)
				return
			}
			s.failAPI(w, r, &apiError{status: http.StatusForbidden, code: "totp_required",
				message: "this organization requires two-factor authentication: turn it on at /console/account"})
			return
		}
		write := !safeMethod(r.Method)
		if !p.may(min) {
			s.logger.WarnContext(r.Context(), "request refused: role too low",
				"org", p.Org, "user", p.User, "role", p.Role, "route", r.Pattern)
			if write {
				s.audit(r, p, http.StatusForbidden, &auditNote{})
			}
			s.failAPI(w, r, &apiError{status: http.StatusForbidden, code: "forbidden",
				message: "role " + quoteRole(p.Role) + " may not do this; " + min + " or above may"})
			return
		}
		if !write {
			h(w, r, p)
			return
		}
		note := &auditNote{}
		rec := &statusRecorder{ResponseWriter: w}
		h(rec, r.WithContext(context.WithValue(r.Context(), auditKey{}, note)), p)
		s.audit(r, p, rec.status(), note)
	})
}

// auditNote is what a handler adds to its route's audit entry.
type auditNote struct{ target, summary string }

type auditKey struct{}

// noteAudit sets the target and a before/after summary of the write r is
// making; call it from a handler admitted by member or console. The summary
// must never hold a secret.
func noteAudit(r *http.Request, target, summary string) {
	if n, ok := r.Context().Value(auditKey{}).(*auditNote); ok {
		n.target, n.summary = target, summary
	}
}

func (s *server) audit(r *http.Request, p Principal, status int, n *auditNote) {
	if s.auditLog == nil {
		return
	}
	target := n.target
	if target == "" {
		target = r.PathValue("id")
	}
	e := AuditEntry{
		Time: s.clock.Now().UTC(), Org: p.Org, Actor: p.User, Role: p.Role, Via: p.Via,
		Action: r.Pattern, Target: target, Status: status, Summary: n.summary,
		ClientIP: clientIP(r),
	}
	// The write has happened: record it even if the client went away.
	if err := s.auditLog.Record(context.WithoutCancel(r.Context()), e); err != nil {
		s.logger.ErrorContext(r.Context(), "audit record failed", "route", r.Pattern, "err", err)
	}
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}
