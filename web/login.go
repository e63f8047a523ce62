package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// Signing in and out, and the account page. Sessions live in the
// __Host-lookout_session cookie (Secure, HttpOnly, SameSite=Lax, Path=/);
// the server keeps only its SHA-256. The sign-in form keeps the general
// cross-origin protection (no login CSRF), and the throttle keys on the
// peer address: X-Forwarded-For is not trusted.

// deviceCookie marks a browser that signed in as a user before: it is
// exempt from that username's sign-in throttle (accounts/throttle.go).
const deviceCookie = "__Host-lookout_device"

// consoleHome is where a sign-in without ?next= lands.
const consoleHome = "/console/incidents"

// accountRoutes registers sign-in, the account, users, tokens, teams and
// audit pages and their API.
func (s *server) accountRoutes(mux *http.ServeMux) {
	api := func(pattern, min string, h handlerP) {
		s.member(mux, pattern, min, h)
		s.csrf.AddInsecureBypassPattern(pattern)
	}
	if s.accounts != nil {
		s.public(mux, "GET /login", http.HandlerFunc(s.handleLoginForm))
		s.public(mux, "POST /login", http.HandlerFunc(s.handleLogin))
		s.public(mux, "POST /logout", http.HandlerFunc(s.handleLogout))

		s.console(mux, "GET /console/account", roleViewer, s.handleAccount)
		s.console(mux, "POST /console/account/password", roleViewer, s.handleChangePassword)
		s.console(mux, "POST /console/account/totp", roleViewer, s.handleBeginTOTP)
		s.console(mux, "POST /console/account/totp/confirm", roleViewer, s.handleConfirmTOTP)
		s.console(mux, "POST /console/account/totp/disable", roleViewer, s.handleDisableTOTP)
		s.console(mux, "POST /console/account/sessions/others/signout", roleViewer, s.handleSignOutOthers)

		s.console(mux, "GET /console/users", roleAdmin, s.handleUsersPage)
		s.console(mux, "POST /console/users", roleOwner, s.handleAddUserForm)
		s.console(mux, "POST /console/users/{id}/role", roleOwner, s.handleSetRoleForm)
		s.console(mux, "POST /console/users/{id}/remove", roleOwner, s.handleRemoveUserForm)
		s.console(mux, "POST /console/users/{id}/disable", roleOwner, s.handleDisableUserForm(true))
		s.console(mux, "POST /console/users/{id}/enable", roleOwner, s.handleDisableUserForm(false))
		api("GET /api/v1/users", roleAdmin, s.handleListUsers)
		api("POST /api/v1/users", roleOwner, s.handleAddUser)
		api("PATCH /api/v1/users/{id}", roleOwner, s.handlePatchUser)
		api("DELETE /api/v1/users/{id}", roleOwner, s.handleDeleteUser)

		s.console(mux, "GET /console/tokens", roleViewer, s.handleTokensPage)
		s.console(mux, "POST /console/tokens", roleResponder, s.handleCreateTokenForm)
		s.console(mux, "POST /console/tokens/{id}/revoke", roleResponder, s.handleRevokeTokenForm)
		api("GET /api/v1/tokens", roleViewer, s.handleListTokens)
		api("POST /api/v1/tokens", roleResponder, s.handleCreateToken)
		api("DELETE /api/v1/tokens/{id}", roleResponder, s.handleRevokeToken)
	}
	if s.directory != nil && s.auth != nil {
		s.console(mux, "GET /console/teams", roleViewer, s.handleTeamsPage)
		api("GET /api/v1/teams", roleViewer, s.handleListTeams)
	}
	if s.auditReader != nil && s.auth != nil {
		s.console(mux, "GET /console/audit", roleAdmin, s.handleAuditPage)
		api("GET /api/v1/audit", roleAdmin, s.handleListAudit)
		api("GET /api/v1/audit/export", roleAdmin, s.handleExportAudit)
	}
}

// enrollAllowed lists what a member who must enroll a second factor may
// still use: the account page and its forms.
func enrollAllowed(pattern string) bool {
	return pattern == "GET /console/account" || strings.HasPrefix(pattern, "POST /console/account/")
}

// safeNext returns next when it is a same-origin path ("/…", not "//…"
// nor "/\…"), else the console's home: ?next= never redirects elsewhere.
func safeNext(next string) string {
	if next == "" || len(next) > 2000 || next[0] != '/' || strings.HasPrefix(next, "//") ||
		strings.ContainsAny(next, "\\\x00\r\n\t") {
		return consoleHome
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return consoleHome
	}
	return next
}

func (s *server) handleLoginForm(w http.ResponseWriter, r *http.Request) {
	// Already signed in: straight through.
	if c, err := r.Cookie(SessionCookie); err == nil {
		if _, ok := s.accounts.Session(r.Context(), c.Value, ""); ok {
			http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
	}
	s.consoleHTML(w, r, http.StatusOK, templates.LoginPage(templates.Login{Next: safeNext(r.URL.Query().Get("next"))}))
}

func (s *server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	view := templates.Login{Username: r.PostForm.Get("username"), Next: safeNext(r.PostForm.Get("next"))}
	if len(view.Username) > 63 {
		view.Username = strings.ToValidUTF8(view.Username[:63], "")
	}
	req := accounts.LoginRequest{
		Username: r.PostForm.Get("username"), Password: r.PostForm.Get("password"), Code: r.PostForm.Get("code"),
		ClientIP: clientIP(r), UserAgent: r.UserAgent(),
	}
	if c, err := r.Cookie(deviceCookie); err == nil {
		req.Device = c.Value
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		req.Replace = c.Value
	}
	res, err := s.accounts.Login(r.Context(), req)
	var throttled *accounts.ThrottledError
	switch {
	case err == nil:
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter/time.Second)))
		view.Error = throttled.Error()
		s.consoleHTML(w, r, http.StatusTooManyRequests, templates.LoginPage(view))
		return
	case errors.Is(err, accounts.ErrPasswordLength):
		view.Error = "That password is too long: passwords have at most 128 bytes."
		s.consoleHTML(w, r, http.StatusBadRequest, templates.LoginPage(view))
		return
	case errors.Is(err, accounts.ErrCodeRequired):
		view.AskCode = true
		view.Error = "Enter your password again with the code from your authenticator app (or a recovery code)."
		s.consoleHTML(w, r, http.StatusUnauthorized, templates.LoginPage(view))
		return
	case errors.Is(err, accounts.ErrCredentials):
		view.Error = "Invalid username, password or code."
		s.consoleHTML(w, r, http.StatusUnauthorized, templates.LoginPage(view))
		return
	default:
		s.fail(w, r, err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: res.Session, Path: "/",
		Expires: res.ExpiresAt, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.SetCookie(w, &http.Cookie{Name: deviceCookie, Value: res.Device, Path: "/",
		MaxAge: int((90 * 24 * time.Hour).Seconds()), Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	s.auditSignIn(r, req.Username)
	http.Redirect(w, r, view.Next, http.StatusSeeOther)
}

// auditSignIn records a sign-in in the audit log of each organization the
// user belongs to.
func (s *server) auditSignIn(r *http.Request, username string) {
	if s.auditLog == nil {
		return
	}
	ms, err := s.accounts.Memberships(r.Context(), username)
	if err != nil {
		s.logger.ErrorContext(r.Context(), "audit sign-in", "err", err)
		return
	}
	for _, m := range ms {
		e := AuditEntry{Time: s.clock.Now().UTC(), Org: m.Org, Actor: username, Role: m.Role, Via: "session",
			Action: "POST /login", Status: http.StatusSeeOther, Summary: "signed in", ClientIP: clientIP(r)}
		if err := s.auditLog.Record(context.WithoutCancel(r.Context()), e); err != nil {
			s.logger.ErrorContext(r.Context(), "audit sign-in", "err", err)
		}
	}
}

func (s *server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(SessionCookie); err == nil {
		if err := s.accounts.Logout(r.Context(), c.Value); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// noMembershipPage answers a console page asked for by a signed-in
// account where it is no member (403): a clear page, not a bounce to the
// sign-in form, which would only send it back here.
func (s *server) noMembershipPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user, _ := s.accounts.SessionUser(ctx, sessionID(r))
	v := templates.NoMembershipPage{Username: user}
	ms, err := s.accounts.Memberships(ctx, user)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, err)
		return
	}
	for _, m := range ms {
		v.Orgs = append(v.Orgs, m.Org)
	}
	if len(v.Orgs) > 0 {
		v.Org = r.URL.Query().Get("org")
		if len(v.Org) > 63 {
			v.Org = strings.ToValidUTF8(v.Org[:63], "")
		}
	}
	s.consoleHTML(w, r, http.StatusForbidden, templates.NoMembershipView(v))
}

// sessionID is the session cookie r carries ("" for none).
func sessionID(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// back redirects (303) to the console page path of p's organization.
func back(w http.ResponseWriter, r *http.Request, path string, p Principal) {
	http.Redirect(w, r, path+"?org="+url.QueryEscape(p.Org), http.StatusSeeOther)
}

func (s *server) handleAccount(w http.ResponseWriter, r *http.Request, p Principal) {
	ctx := r.Context()
	a, err := s.accounts.Account(ctx, p.User)
	if errors.Is(err, store.ErrNotFound) {
		// A config token's user without an account.
		s.fail(w, r, errNotFound)
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.AccountPage{Console: s.consoleFrame(w, r, p, "account", "Your account"),
		Username: a.Username, MustEnroll: p.EnrollTOTP, TOTP: a.TOTPSecret != nil, CanPassword: p.Via == "session"}
	if v.TOTP {
		if v.CodesLeft, err = s.accounts.RecoveryCodesLeft(ctx, a.Username); err != nil {
			s.fail(w, r, err)
			return
		}
	} else if en, ok := s.accounts.PendingTOTP(ctx, a.Username); ok {
		v.PendingURI, v.PendingKey = en.URI, en.Secret
		if v.PendingQR, err = qrDataURL(en.URI); err != nil {
			// The key is shown as text and as a link all the same.
			s.logger.ErrorContext(ctx, "draw enrollment qr code", "err", err)
		}
	}
	sessions, err := s.accounts.Sessions(ctx, a.Username)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	cur := sessionID(r)
	for _, se := range sessions {
		v.Sessions = append(v.Sessions, templates.SessionRow{
			Created: accountTime(se.CreatedAt), LastSeen: accountTime(se.LastSeen),
			UserAgent: se.UserAgent, ClientIP: se.ClientIP, Current: accounts.IsSession(se.Hash, cur),
		})
	}
	v.CanSignOutOthers = v.CanPassword && len(sessions) > 1
	s.consoleHTML(w, r, http.StatusOK, templates.AccountView(v))
}

func accountTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// sessionOnly refuses account changes made with a token: a token holder
// is not the person.
func sessionOnly(w http.ResponseWriter, r *http.Request, p Principal) bool {
	if p.Via == "session" {
		return true
	}
	setConsoleFlash(w, "Sign in with your password to change your account.", true)
	back(w, r, "/console/account", p)
	return false
}

func (s *server) handleChangePassword(w http.ResponseWriter, r *http.Request, p Principal) {
	if !sessionOnly(w, r, p) {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	next := r.PostForm.Get("new")
	msg, bad := "Password changed. Every other session is signed out.", false
	if next != r.PostForm.Get("confirm") {
		msg, bad = "The new passwords differ.", true
	} else {
		err := s.accounts.ChangePassword(r.Context(), p.User, r.PostForm.Get("current"), next, sessionID(r))
		switch {
		case err == nil:
			noteAudit(r, p.User, "password changed; other sessions signed out")
		case errors.Is(err, accounts.ErrCredentials):
			msg, bad = "The current password is wrong.", true
		case errors.Is(err, accounts.ErrPasswordLength):
			msg, bad = "A password has 12 to 128 bytes.", true
		default:
			s.fail(w, r, err)
			return
		}
	}
	if bad {
		noteAudit(r, p.User, "password change refused")
	}
	setConsoleFlash(w, msg, bad)
	back(w, r, "/console/account", p)
}

// handleSignOutOthers ends every session of the account but this one.
func (s *server) handleSignOutOthers(w http.ResponseWriter, r *http.Request, p Principal) {
	if !sessionOnly(w, r, p) {
		return
	}
	n, err := s.accounts.SignOutOthers(r.Context(), p.User, sessionID(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	msg := fmt.Sprintf("Signed out %d other session(s).", n)
	if n == 1 {
		msg = "Signed out 1 other session."
	}
	noteAudit(r, p.User, fmt.Sprintf("signed out %d other session(s)", n))
	setConsoleFlash(w, msg, false)
	back(w, r, "/console/account", p)
}

func (s *server) handleBeginTOTP(w http.ResponseWriter, r *http.Request, p Principal) {
	if !sessionOnly(w, r, p) {
		return
	}
	if _, err := s.accounts.BeginTOTP(r.Context(), p.User); err != nil && !errors.Is(err, accounts.ErrTOTPEnrolled) {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, p.User, "two-factor enrollment started")
	back(w, r, "/console/account", p)
}

func (s *server) handleConfirmTOTP(w http.ResponseWriter, r *http.Request, p Principal) {
	if !sessionOnly(w, r, p) {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	codes, err := s.accounts.ConfirmTOTP(r.Context(), p.User, r.PostForm.Get("code"))
	switch {
	case err == nil:
	case errors.Is(err, accounts.ErrCredentials), errors.Is(err, accounts.ErrTOTPNotPending), errors.Is(err, accounts.ErrTOTPEnrolled):
		noteAudit(r, p.User, "two-factor confirmation refused")
		setConsoleFlash(w, "That code does not match; try the one your app shows now.", true)
		back(w, r, "/console/account", p)
		return
	default:
		s.fail(w, r, err)
		return
	}
	noteAudit(r, p.User, "two-factor authentication turned on")
	p.EnrollTOTP = false
	s.consoleHTML(w, r, http.StatusOK, templates.RecoveryView(templates.RecoveryPage{
		Console: s.consoleFrame(w, r, p, "account", "Recovery codes"), Codes: codes}))
}

func (s *server) handleDisableTOTP(w http.ResponseWriter, r *http.Request, p Principal) {
	if !sessionOnly(w, r, p) {
		return
	}
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	err := s.accounts.DisableTOTP(r.Context(), p.User, r.PostForm.Get("password"))
	msg, bad := "Two-factor authentication is off.", false
	switch {
	case err == nil:
	case errors.Is(err, accounts.ErrCredentials):
		msg, bad = "The password is wrong.", true
	case errors.Is(err, accounts.ErrTOTPRequired):
		msg, bad = err.Error()+".", true
	default:
		s.fail(w, r, err)
		return
	}
	noteAudit(r, p.User, msg)
	setConsoleFlash(w, msg, bad)
	back(w, r, "/console/account", p)
}
