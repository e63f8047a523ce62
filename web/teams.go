package web

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The teams of the configuration (/console/teams, /api/v1/teams): their
// members and who is on call in each of their schedules now, from the
// Directory, with the on-call overrides stored through the API applied as
// the on-call page and the engine apply them.

// teamView is a team as the teams page and API show it.
type teamView struct {
	ID, Name  string
	Members   []DirectoryUser
	Schedules []teamScheduleView
}

type teamScheduleView struct {
	ID     string
	OnCall []string
}

// teamViews returns org's teams, their members and who is on call at at.
func (s *server) teamViews(ctx context.Context, org string, at time.Time) ([]teamView, error) {
	dir, err := s.directory.Directory(ctx, org)
	if err != nil {
		return nil, fmt.Errorf("read directory: %w", err)
	}
	var ovs []store.OnCallOverride
	if s.scheduling != nil {
		if ovs, err = s.scheduling.OnCallOverrides(ctx, org, at); err != nil {
			return nil, err
		}
	}
	out := make([]teamView, 0, len(dir.Teams))
	for _, t := range dir.Teams {
		v := teamView{ID: t.ID, Name: t.Name}
		if v.Name == "" {
			v.Name = t.ID
		}
		for _, m := range t.Members {
			u, ok := dir.user(m)
			if !ok {
				u = DirectoryUser{ID: m}
			}
			if u.Name == "" {
				u.Name = m
			}
			v.Members = append(v.Members, u)
		}
		for _, sc := range store.WithOverrides(t.Schedules, ovs) {
			v.Schedules = append(v.Schedules, teamScheduleView{ID: sc.ID, OnCall: sc.OnCall(at)})
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *server) handleListTeams(w http.ResponseWriter, r *http.Request, p Principal) {
	ts, err := s.teamViews(r.Context(), p.Org, s.clock.Now())
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	type member struct {
		ID    string `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email,omitempty"`
	}
	type schedule struct {
		ID     string   `json:"id"`
		OnCall []string `json:"on_call"`
	}
	type team struct {
		ID        string     `json:"id"`
		Name      string     `json:"name"`
		Members   []member   `json:"members"`
		Schedules []schedule `json:"schedules"`
	}
	resp := struct {
		Teams      []team  `json:"teams"`
		NextCursor *string `json:"next_cursor"`
	}{Teams: []team{}}
	for _, t := range ts {
		out := team{ID: t.ID, Name: t.Name, Members: []member{}, Schedules: []schedule{}}
		for _, m := range t.Members {
			out.Members = append(out.Members, member{m.ID, m.Name, m.Email})
		}
		for _, sc := range t.Schedules {
			out.Schedules = append(out.Schedules, schedule{sc.ID, orEmpty(sc.OnCall)})
		}
		resp.Teams = append(resp.Teams, out)
	}
	respondJSON(w, http.StatusOK, resp)
}

func (s *server) handleTeamsPage(w http.ResponseWriter, r *http.Request, p Principal) {
	ts, err := s.teamViews(r.Context(), p.Org, s.clock.Now())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.TeamsPage{Console: s.consoleFrame(w, r, p, "teams", "Teams")}
	for _, t := range ts {
		row := templates.TeamRow{ID: t.ID, Name: t.Name}
		for _, m := range t.Members {
			row.Members = append(row.Members, m.Name)
		}
		for _, sc := range t.Schedules {
			row.Schedules = append(row.Schedules, templates.ScheduleRow{ID: sc.ID, OnCall: sc.OnCall})
		}
		v.Teams = append(v.Teams, row)
	}
	s.consoleHTML(w, r, http.StatusOK, templates.TeamsView(v))
}
