package templates

// The view models of the sign-in page and the account, users, tokens,
// teams and audit pages (console_accounts.templ). Everything is formatted
// by package web.

// Login is the sign-in page.
type Login struct {
	Username string
	// Next is where to go after signing in (a same-origin path).
	Next string
	// AskCode shows the two-factor field as required.
	AskCode bool
	Error   string
}

// AccountPage is the signed-in user's own page.
type AccountPage struct {
	Console
	Username   string
	MustEnroll bool   // an organization requires a second factor
	TOTP       bool   // enrolled
	CodesLeft  int    // unused recovery codes
	PendingURI string // an enrollment in progress: the otpauth:// URI
	PendingKey string // and its key, to type in
	// PendingQR is the URI as a QR code: a data:image/png;base64 URL made
	// by the server ("" for none).
	PendingQR   string
	Sessions    []SessionRow
	CanPassword bool // signed in with a session (not a token)
	// CanSignOutOthers: signed in with a session, and others exist.
	CanSignOutOthers bool
}

// SessionRow is one signed-in browser.
type SessionRow struct {
	Created, LastSeen, UserAgent, ClientIP string
	Current                                bool
}

// RecoveryPage shows new recovery codes, once.
type RecoveryPage struct {
	Console
	Codes []string
}

// UsersPage lists an organization's members.
type UsersPage struct {
	Console
	CanEdit bool // the viewer is an owner
	Members []MemberRow
	Roles   []string
	// Created is set right after adding a member who had no account:
	// their username and generated password, shown once.
	CreatedUser, CreatedPassword string
}

// MemberRow is one member.
type MemberRow struct {
	Username, Role, Since string
	TOTP, Disabled        bool
	// Self is the owner viewing the page (who cannot disable themselves).
	Self bool
}

// NoMembershipPage is what a signed-in account sees where it is no member:
// of any organization (Orgs empty), or of the one asked for.
type NoMembershipPage struct {
	Username string
	// Org is the organization asked for ("" for none).
	Org string
	// Orgs are the organizations the account does belong to.
	Orgs []string
}

// TokensPage lists an organization's API tokens.
type TokensPage struct {
	Console
	CanCreate bool
	Roles     []string // roles a new token may have (up to the user's)
	Tokens    []TokenRow
	// New is a token just created, shown once.
	New, NewName string
}

// TokenRow is one token (never its value).
type TokenRow struct {
	ID, Name, Role, CreatedBy, Created, Expires, LastUsed, Status string
	CanRevoke                                                     bool
}

// TeamsPage lists an organization's teams from the configuration.
type TeamsPage struct {
	Console
	Teams []TeamRow
}

// TeamRow is one team.
type TeamRow struct {
	ID, Name  string
	Members   []string
	Schedules []ScheduleRow
}

// ScheduleRow is one schedule and who is on call now.
type ScheduleRow struct {
	ID     string
	OnCall []string
}

// AuditPage lists audit entries, newest first.
type AuditPage struct {
	Console
	Actor, Action, Target string
	Entries               []AuditRow
	// Next is the link to the next (older) page; "" at the end.
	Next string
}

// AuditRow is one audit entry.
type AuditRow struct {
	Time, Actor, Role, Via, Action, Target, Summary, ClientIP string
	Status                                                    int
}
