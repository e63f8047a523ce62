package web

import (
	"net/http"

	"github.com/lookout-status/lookout/templates"
)

// chrome is the frame of a console page for p: who is signed in, where,
// and the section to mark current.
func (s *server) chrome(_ *http.Request, p Principal, section, title string) templates.Console {
	return templates.Console{
		Title:   title + " · Lookout",
		Org:     p.Org,
		Orgs:    []templates.ConsoleOrg{{ID: p.Org, Name: p.Org, Role: p.Role}},
		User:    p.User,
		Role:    p.Role,
		Section: section,
	}
}
