package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/accounts"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// Members and API tokens, as JSON (/api/v1/users, /api/v1/tokens) and as
// console pages (/console/users, /console/tokens). Owners manage members;
// any member but a viewer makes tokens for themselves, with a role no
// higher than their own (HOSTILE 22: a viewer creating a token is 403,
// audited). A member revokes their own tokens; admins and owners revoke
// any of the organization's.

// accountsError maps the accounts core's refusals to API errors.
func accountsError(err error) error {
	switch {
	case errors.Is(err, accounts.ErrUsername):
		return badField("username", "%v", err)
	case errors.Is(err, accounts.ErrRole), errors.Is(err, accounts.ErrRoleTooHigh):
		return badField("role", "%v", err)
	case errors.Is(err, accounts.ErrTokenName):
		return badField("name", "%v", err)
	case errors.Is(err, accounts.ErrSelf):
		return &apiError{status: http.StatusConflict, code: "self", message: err.Error()}
	case errors.Is(err, accounts.ErrOtherOrganizations):
		return &apiError{status: http.StatusForbidden, code: "other_organizations", message: err.Error()}
	case errors.Is(err, store.ErrLastOwner):
		return &apiError{status: http.StatusConflict, code: "last_owner", message: "an organization keeps at least one owner"}
	case errors.Is(err, store.ErrExists):
		return &apiError{status: http.StatusConflict, code: "exists", message: "already a member"}
	}
	return err
}

type apiUser struct {
	ID          string    `json:"id"`
	Username    string    `json:"username"`
	Role        string    `json:"role"`
	TOTP        bool      `json:"totp"`
	Disabled    bool      `json:"disabled"`
	MemberSince time.Time `json:"member_since"`
}

func newAPIUser(m store.Membership) apiUser {
	return apiUser{ID: m.Username, Username: m.Username, Role: m.Role, TOTP: m.TOTP, Disabled: m.Disabled, MemberSince: m.CreatedAt}
}

func (s *server) handleListUsers(w http.ResponseWriter, r *http.Request, p Principal) {
	ms, err := s.accounts.Members(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	resp := struct {
		Users      []apiUser `json:"users"`
		NextCursor *string   `json:"next_cursor"`
	}{Users: make([]apiUser, 0, len(ms))}
	for _, m := range ms {
		resp.Users = append(resp.Users, newAPIUser(m))
	}
	respondJSON(w, http.StatusOK, resp)
}

func (s *server) handleAddUser(w http.ResponseWriter, r *http.Request, p Principal) {
	var in struct {
		Username string `json:"username"`
		Role     string `json:"role"`
	}
	if err := readJSON(r, &in); err != nil {
		s.failAPI(w, r, err)
		return
	}
	password, err := s.accounts.AddMember(r.Context(), p.Org, in.Username, in.Role)
	if err != nil {
		s.failAPI(w, r, accountsError(err))
		return
	}
	m, err := s.accounts.Member(r.Context(), p.Org, in.Username)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	noteAudit(r, in.Username, addSummary(in.Role, password != ""))
	respondJSON(w, http.StatusCreated, struct {
		User     apiUser `json:"user"`
		Password string  `json:"password,omitempty"`
	}{newAPIUser(m), password})
}

func addSummary(role string, created bool) string {
	if created {
		return "added as " + role + " (new account)"
	}
	return "added as " + role
}

// handlePatchUser changes a member's role, disables or enables their
// account, or both: {"role"?, "disabled"?}.
func (s *server) handlePatchUser(w http.ResponseWriter, r *http.Request, p Principal) {
	var in struct {
		Role     *string `json:"role"`
		Disabled *bool   `json:"disabled"`
	}
	if err := readJSON(r, &in); err != nil {
		s.failAPI(w, r, err)
		return
	}
	if in.Role == nil && in.Disabled == nil {
		s.failAPI(w, r, badField("role", "give role, disabled or both"))
		return
	}
	id := r.PathValue("id")
	var summaries []string
	if in.Role != nil {
		summary, err := s.setRole(r, p.Org, id, *in.Role)
		if err != nil {
			s.failAPI(w, r, accountsError(err))
			return
		}
		summaries = append(summaries, summary)
	}
	if in.Disabled != nil {
		summary, err := s.setDisabled(r, p, id, *in.Disabled)
		noteAudit(r, id, strings.Join(append(summaries, summary), "; "))
		if err != nil {
			s.failAPI(w, r, accountsError(err))
			return
		}
		summaries = append(summaries, summary)
	}
	noteAudit(r, id, strings.Join(summaries, "; "))
	m, err := s.accounts.Member(r.Context(), p.Org, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusOK, struct {
		User apiUser `json:"user"`
	}{newAPIUser(m)})
}

// setDisabled disables or enables a member's account and says what
// happened, for the audit log (a refusal too).
func (s *server) setDisabled(r *http.Request, p Principal, username string, disabled bool) (string, error) {
	verb := "enable"
	if disabled {
		verb = "disable"
	}
	if err := s.accounts.DisableMember(r.Context(), p.Org, p.User, username, disabled); err != nil {
		if msg, ok := formError(err); ok {
			return verb + " refused: " + msg, err
		}
		return verb + " failed", err
	}
	if disabled {
		return "account disabled; its sessions ended, its tokens stopped", nil
	}
	return "account enabled", nil
}

// setRole changes a member's role and says how, for the audit log.
func (s *server) setRole(r *http.Request, org, username, role string) (string, error) {
	before, err := s.accounts.Member(r.Context(), org, username)
	if err != nil {
		return "", err
	}
	if err := s.accounts.SetRole(r.Context(), org, username, role); err != nil {
		return "", err
	}
	return "role " + before.Role + " → " + role, nil
}

func (s *server) handleDeleteUser(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	if err := s.accounts.RemoveMember(r.Context(), p.Org, id); err != nil {
		s.failAPI(w, r, accountsError(err))
		return
	}
	noteAudit(r, id, "removed; their tokens revoked")
	w.WriteHeader(http.StatusNoContent)
}

var assignableRoles = []string{roleOwner, roleAdmin, roleResponder, roleViewer}

func (s *server) handleUsersPage(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderUsers(w, r, p, "", "")
}

func (s *server) renderUsers(w http.ResponseWriter, r *http.Request, p Principal, createdUser, createdPassword string) {
	ms, err := s.accounts.Members(r.Context(), p.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.UsersPage{Console: s.consoleFrame(w, r, p, "users", "Users"), CanEdit: p.may(roleOwner),
		Roles: assignableRoles, CreatedUser: createdUser, CreatedPassword: createdPassword}
	for _, m := range ms {
		v.Members = append(v.Members, templates.MemberRow{Username: m.Username, Role: m.Role,
			Since: accountTime(m.CreatedAt), TOTP: m.TOTP, Disabled: m.Disabled, Self: m.Username == p.User})
	}
	s.consoleHTML(w, r, http.StatusOK, templates.UsersView(v))
}

// formError explains a refused console form in words.
func formError(err error) (string, bool) {
	var ae *apiError
	if errors.As(accountsError(err), &ae) {
		return ae.message, true
	}
	return "", false
}

func (s *server) handleAddUserForm(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	username, role := r.PostForm.Get("username"), r.PostForm.Get("role")
	password, err := s.accounts.AddMember(r.Context(), p.Org, username, role)
	if err != nil {
		msg, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		noteAudit(r, "", "add refused: "+msg)
		setConsoleFlash(w, msg, true)
		back(w, r, "/console/users", p)
		return
	}
	noteAudit(r, username, addSummary(role, password != ""))
	if password != "" {
		// The generated password is shown once, in this response.
		s.renderUsers(w, r, p, username, password)
		return
	}
	setConsoleFlash(w, "Added "+username+" as "+role+".", false)
	back(w, r, "/console/users", p)
}

func (s *server) handleSetRoleForm(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	summary, err := s.setRole(r, p.Org, id, r.PostForm.Get("role"))
	if errors.Is(err, store.ErrNotFound) {
		s.fail(w, r, errNotFound)
		return
	}
	if err != nil {
		msg, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		noteAudit(r, id, "role change refused: "+msg)
		setConsoleFlash(w, msg, true)
	} else {
		noteAudit(r, id, summary)
		setConsoleFlash(w, id+": "+summary+".", false)
	}
	back(w, r, "/console/users", p)
}

// handleDisableUserForm disables (disabled) or enables a member's account
// from the users page.
func (s *server) handleDisableUserForm(disabled bool) handlerP {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		id := r.PathValue("id")
		summary, err := s.setDisabled(r, p, id, disabled)
		noteAudit(r, id, summary)
		switch {
		case err == nil:
			setConsoleFlash(w, id+": "+summary+".", false)
		case errors.Is(err, store.ErrNotFound):
			s.fail(w, r, errNotFound)
			return
		default:
			msg, ok := formError(err)
			if !ok {
				s.fail(w, r, err)
				return
			}
			setConsoleFlash(w, msg, true)
		}
		back(w, r, "/console/users", p)
	}
}

func (s *server) handleRemoveUserForm(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	if err := s.accounts.RemoveMember(r.Context(), p.Org, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.fail(w, r, errNotFound)
			return
		}
		msg, ok := formError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		noteAudit(r, id, "removal refused: "+msg)
		setConsoleFlash(w, msg, true)
	} else {
		noteAudit(r, id, "removed; their tokens revoked")
		setConsoleFlash(w, "Removed "+id+".", false)
	}
	back(w, r, "/console/users", p)
}

type apiToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

func newAPIToken(t store.APIToken) apiToken {
	return apiToken{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		ExpiresAt: timePtr(t.ExpiresAt), LastUsedAt: timePtr(t.LastUsedAt), RevokedAt: timePtr(t.RevokedAt)}
}

func (s *server) handleListTokens(w http.ResponseWriter, r *http.Request, p Principal) {
	ts, err := s.accounts.Tokens(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	resp := struct {
		Tokens     []apiToken `json:"tokens"`
		NextCursor *string    `json:"next_cursor"`
	}{Tokens: make([]apiToken, 0, len(ts))}
	for _, t := range ts {
		resp.Tokens = append(resp.Tokens, newAPIToken(t))
	}
	respondJSON(w, http.StatusOK, resp)
}

// maxTokenLife bounds expires_in.
const maxTokenLife = 366 * 24 * time.Hour

// parseLife reads "30d", "12h", "90m"…; "" is never.
func parseLife(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	var d time.Duration
	var err error
	if n, ok := strings.CutSuffix(v, "d"); ok {
		var days int
		days, err = strconv.Atoi(n)
		d = time.Duration(days) * 24 * time.Hour
	} else {
		d, err = time.ParseDuration(v)
	}
	if err != nil || d < time.Minute || d > maxTokenLife {
		return 0, badField("expires_in", "want a duration from 1m to 366d, such as 30d or 12h")
	}
	return d, nil
}

// createToken makes a token for p: named, with a role up to p's.
func (s *server) createToken(r *http.Request, p Principal, name, role, life string) (string, store.APIToken, error) {
	d, err := parseLife(life)
	if err != nil {
		return "", store.APIToken{}, err
	}
	req := accounts.TokenRequest{Org: p.Org, Name: name, Role: role, CreatedBy: p.User, CreatorRole: p.Role}
	if d > 0 {
		req.Expires = s.clock.Now().Add(d)
	}
	tok, rec, err := s.accounts.CreateToken(r.Context(), req)
	if err != nil {
		return "", store.APIToken{}, accountsError(err)
	}
	noteAudit(r, rec.ID, fmt.Sprintf("token %q created, role %s, expires %s", name, role, orNever(rec.ExpiresAt)))
	return tok, rec, nil
}

func orNever(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func (s *server) handleCreateToken(w http.ResponseWriter, r *http.Request, p Principal) {
	var in struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		ExpiresIn string `json:"expires_in"`
	}
	if err := readJSON(r, &in); err != nil {
		s.failAPI(w, r, err)
		return
	}
	tok, rec, err := s.createToken(r, p, in.Name, in.Role, in.ExpiresIn)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusCreated, struct {
		Value string   `json:"value"`
		Token apiToken `json:"token"`
	}{tok, newAPIToken(rec)})
}

// revokeToken revokes p's organization's token id: the maker's own, or any
// for an admin.
func (s *server) revokeToken(r *http.Request, p Principal, id string) error {
	t, err := s.accounts.TokenByID(r.Context(), p.Org, id)
	if err != nil {
		return err
	}
	if t.CreatedBy != p.User && !p.may(roleAdmin) {
		return &apiError{status: http.StatusForbidden, code: "forbidden",
			message: "you may revoke your own tokens; admin or above may revoke any"}
	}
	if err := s.accounts.RevokeToken(r.Context(), p.Org, id); err != nil {
		return err
	}
	noteAudit(r, id, fmt.Sprintf("token %q revoked", t.Name))
	return nil
}

func (s *server) handleRevokeToken(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := s.revokeToken(r, p, r.PathValue("id")); err != nil {
		s.failAPI(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *server) handleTokensPage(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderTokens(w, r, p, "", "")
}

func (s *server) renderTokens(w http.ResponseWriter, r *http.Request, p Principal, newToken, newName string) {
	ts, err := s.accounts.Tokens(r.Context(), p.Org)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.TokensPage{Console: s.consoleFrame(w, r, p, "tokens", "API tokens"),
		CanCreate: p.may(roleResponder), New: newToken, NewName: newName}
	for _, role := range assignableRoles {
		if roleRank(role) <= roleRank(p.Role) {
			v.Roles = append(v.Roles, role)
		}
	}
	now := s.clock.Now()
	for _, t := range ts {
		status := "active"
		switch {
		case !t.RevokedAt.IsZero():
			status = "revoked"
		case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
			status = "expired"
		}
		v.Tokens = append(v.Tokens, templates.TokenRow{ID: t.ID, Name: t.Name, Role: t.Role, CreatedBy: orCLI(t.CreatedBy),
			Created: accountTime(t.CreatedAt), Expires: accountTime(t.ExpiresAt), LastUsed: accountTime(t.LastUsedAt),
			Status: status, CanRevoke: status == "active" && p.may(roleResponder) && (t.CreatedBy == p.User || p.may(roleAdmin))})
	}
	s.consoleHTML(w, r, http.StatusOK, templates.TokensView(v))
}

func orCLI(by string) string {
	if by == "" {
		return "(command line)"
	}
	return by
}

func (s *server) handleCreateTokenForm(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	name := strings.TrimSpace(r.PostForm.Get("name"))
	tok, _, err := s.createToken(r, p, name, r.PostForm.Get("role"), r.PostForm.Get("expires"))
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			s.fail(w, r, err)
			return
		}
		noteAudit(r, "", "token creation refused: "+ae.message)
		setConsoleFlash(w, ae.message, true)
		back(w, r, "/console/tokens", p)
		return
	}
	// The token is shown once, in this response.
	s.renderTokens(w, r, p, tok, name)
}

func (s *server) handleRevokeTokenForm(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := s.revokeToken(r, p, r.PathValue("id")); err != nil {
		var ae *apiError
		switch {
		case errors.As(err, &ae):
			setConsoleFlash(w, ae.message, true)
		case errors.Is(err, store.ErrNotFound):
			s.fail(w, r, errNotFound)
			return
		default:
			s.fail(w, r, err)
			return
		}
	} else {
		setConsoleFlash(w, "Token revoked.", false)
	}
	back(w, r, "/console/tokens", p)
}
