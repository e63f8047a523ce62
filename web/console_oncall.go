package web

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lookout-status/lookout/templates"
)

// The on-call console page (console_maint.templ): per team and schedule,
// who is on call now and next, the shifts of the next 7 days, the
// overrides, and a form to add one.

// overrideFormValues is what the override form holds.
type overrideFormValues struct {
	Schedule, User, Start, End string
}

// consoleOnCall is GET /console/oncall.
func (s *server) consoleOnCall(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderOnCall(w, r, p, http.StatusOK, "", nil)
}

func (s *server) renderOnCall(w http.ResponseWriter, r *http.Request, p Principal, status int, problem string, typed *overrideFormValues) {
	now := s.clock.Now()
	dir, views, err := s.onCallViews(r.Context(), p.Org, "", now)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	page := templates.OnCallPage{Console: s.chrome(r, p, "oncall", "On call"), At: maintTime(now)}
	page.Console.Error = problem
	if problem == "" {
		page.Console.Flash, _ = takeConsoleFlash(w, r)
	}
	who := func(users []string) string {
		names := make([]string, len(users))
		for i, u := range users {
			names[i] = dir.userName(u)
			if names[i] != u {
				names[i] += " (" + u + ")"
			}
		}
		return strings.Join(names, ", ")
	}
	bound := func(t time.Time, none string) string {
		if t.IsZero() {
			return none
		}
		return maintTime(t)
	}
	writer := p.may(roleResponder)
	for _, v := range views {
		if n := len(page.Teams); n == 0 || page.Teams[n-1].ID != v.Team.ID {
			name := v.Team.Name
			if name == "" {
				name = v.Team.ID
			}
			page.Teams = append(page.Teams, templates.OnCallTeam{ID: v.Team.ID, Name: name})
		}
		sc := templates.OnCallSchedule{ID: v.ID, TimeZone: v.TimeZone, Now: "Nobody", Next: "Nobody within 31 days"}
		if v.Now != nil {
			sc.Now = who(v.Now.Users) + " until " + bound(v.Now.End, "beyond 31 days")
		}
		if v.Next != nil {
			sc.Next = who(v.Next.Users) + " from " + bound(v.Next.Start, "?")
		}
		for _, sh := range v.Upcoming {
			sc.Shifts = append(sc.Shifts, templates.ShiftRow{Who: who(sh.Users),
				From: bound(sh.Start, "more than 31 days ago"), Until: bound(sh.End, "beyond 31 days")})
		}
		for _, o := range v.Overrides {
			row := templates.OverrideRow{Who: who([]string{o.User}), From: maintTime(o.Start), Until: maintTime(o.End),
				Source: "api", CreatedBy: o.CreatedBy}
			if o.Configured {
				row.Source, row.CreatedBy = "config", "configuration file"
			} else if writer {
				row.Delete = maintURL(p, "/console/oncall/overrides/"+url.PathEscape(o.ID)+"/delete")
			}
			sc.Overrides = append(sc.Overrides, row)
		}
		t := &page.Teams[len(page.Teams)-1]
		t.Schedules = append(t.Schedules, sc)
	}
	if writer && len(views) > 0 {
		v := overrideFormValues{
			Start: formTimeValue(now.UTC().Truncate(time.Hour).Add(time.Hour)),
			End:   formTimeValue(now.UTC().Truncate(time.Hour).Add(9 * time.Hour)),
		}
		if typed != nil {
			v = *typed
		}
		f := &templates.OverrideForm{Action: maintURL(p, "/console/oncall/overrides"), Start: v.Start, End: v.End}
		for _, sv := range views {
			f.Schedules = append(f.Schedules, templates.SchedChoice{Value: sv.ID, Label: sv.Team.ID + " / " + sv.ID, Selected: sv.ID == v.Schedule})
		}
		for _, u := range dir.Users {
			f.Users = append(f.Users, templates.SchedChoice{Value: u.ID, Label: who([]string{u.ID}), Selected: u.ID == v.User})
		}
		page.Form = f
	}
	s.renderConsole(w, r, status, templates.OnCall(page))
}

// consoleCreateOverride is POST /console/oncall/overrides.
func (s *server) consoleCreateOverride(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	f := r.PostForm
	v := overrideFormValues{Schedule: f.Get("schedule"), User: f.Get("user"), Start: f.Get("start"), End: f.Get("end")}
	d := overrideDraft{Schedule: v.Schedule, User: v.User}
	var err error
	if d.Start, err = formTime("starts_at", v.Start); err == nil {
		if d.End, err = formTime("ends_at", v.End); err == nil {
			o, cerr := s.createOverride(r.Context(), p, d)
			if o.ID != "" {
				noteAudit(r, o.ID, "added: "+overrideSummary(o))
			}
			if err = cerr; err == nil {
				s.seeOther(w, r, p, "/console/oncall", fmt.Sprintf("%s is on call for %s from %s until %s.",
					o.User, o.Schedule, maintTime(o.Start), maintTime(o.End)))
				return
			}
		}
	}
	if status, msg, ok := formProblem(err); ok {
		s.renderOnCall(w, r, p, status, msg, &v)
		return
	}
	s.fail(w, r, err)
}

// consoleDeleteOverride is POST /console/oncall/overrides/{id}/delete.
func (s *server) consoleDeleteOverride(w http.ResponseWriter, r *http.Request, p Principal) {
	o, err := s.deleteOverride(r.Context(), p, r.PathValue("id"))
	if o.ID != "" {
		noteAudit(r, o.ID, "deleted: "+overrideSummary(o))
	}
	if err != nil {
		s.fail(w, r, consoleNotFound(err))
		return
	}
	s.seeOther(w, r, p, "/console/oncall", "Override of "+o.User+" deleted.")
}
