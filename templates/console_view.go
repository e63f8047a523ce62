package templates

// Console is the frame of every console page: who is signed in, in which
// organization, and the navigation. Package web fills it from the request's
// principal.
type Console struct {
	// Title is the document title ("Incidents · Acme console").
	Title string
	// Org is the organization acted in; Orgs every organization the user
	// is a member of (for the switcher), each with the user's role.
	Org  string
	Orgs []ConsoleOrg
	// User and Role are the signed-in user and their role in Org.
	User string
	Role string
	// Section is the navigation entry to mark current ("incidents",
	// "components", "maintenance", "oncall", "subscribers", "users",
	// "teams", "tokens", "audit", "account").
	Section string
	// Flash is a one-line message after an action ("Acknowledged #12");
	// Error a refusal to show instead.
	Flash string
	Error string
}

// ConsoleOrg is one organization in the switcher.
type ConsoleOrg struct {
	ID, Name, Role string
}

// ConsoleNav is one navigation entry; the layout shows those the role may
// open (MinRole: viewer, responder, admin, owner).
type ConsoleNav struct {
	Section, Label, Href, MinRole string
}

// ConsoleNavigation lists the console's sections in order.
var ConsoleNavigation = []ConsoleNav{
	{"incidents", "Incidents", "/console/incidents", "viewer"},
	{"components", "Components", "/console/components", "viewer"},
	{"maintenance", "Maintenance", "/console/maintenance", "viewer"},
	{"oncall", "On call", "/console/oncall", "viewer"},
	{"subscribers", "Subscribers", "/console/subscribers", "admin"},
	{"users", "Users", "/console/users", "admin"},
	{"teams", "Teams", "/console/teams", "viewer"},
	{"tokens", "Tokens", "/console/tokens", "viewer"},
	{"audit", "Audit log", "/console/audit", "admin"},
}

// roleRank orders roles for the navigation (web enforces access; this
// only hides links a role cannot open).
func roleRank(r string) int {
	switch r {
	case "owner":
		return 4
	case "admin":
		return 3
	case "responder":
		return 2
	case "viewer":
		return 1
	}
	return 0
}

func (c Console) shows(n ConsoleNav) bool { return roleRank(c.Role) >= roleRank(n.MinRole) }
