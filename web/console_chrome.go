package web

import (
	"net/http"

	"github.com/lookout-status/lookout/templates"
)

// chrome is the frame of a console page for p: who is signed in, where,
// and the section to mark current.
func (s *server) chrome(r *http.Request, p Principal, section, title string) templates.Console {
	c := templates.Console{
		Title:   title + " · Lookout",
		Org:     p.Org,
		Orgs:    []templates.ConsoleOrg{{ID: p.Org, Name: p.Org, Role: p.Role}},
		User:    p.User,
		Role:    p.Role,
		Section: section,
	}
	// A signed-in member switches between their organizations.
	if s.accounts != nil && p.Via == "session" {
		if ms, err := s.accounts.Memberships(r.Context(), p.User); err == nil && len(ms) > 0 {
			c.Orgs = c.Orgs[:0]
			for _, m := range ms {
				name := m.Org
				if o, ok := s.accounts.Org(m.Org); ok && o.Name != "" {
					name = o.Name
				}
				c.Orgs = append(c.Orgs, templates.ConsoleOrg{ID: m.Org, Name: name, Role: m.Role})
			}
		}
	}
	return c
}
