package web

import (
	"net/http"
	"time"
)

// apiShift is a span during which the same people are on call; a null
// bound lies beyond the 31 days looked at either side.
type apiShift struct {
	Users    []string   `json:"users"`
	StartsAt *time.Time `json:"starts_at"`
	EndsAt   *time.Time `json:"ends_at"`
}

// apiOverride is an on-call override; configured ones have no id and are
// read-only.
type apiOverride struct {
	ID        string     `json:"id,omitempty"`
	Schedule  string     `json:"schedule"`
	User      string     `json:"user"`
	StartsAt  time.Time  `json:"starts_at"`
	EndsAt    time.Time  `json:"ends_at"`
	Source    string     `json:"source"` // "api" or "config"
	CreatedBy string     `json:"created_by"`
	CreatedAt *time.Time `json:"created_at"`
}

type apiSchedule struct {
	ID       string    `json:"id"`
	TimeZone string    `json:"time_zone"`
	Now      *apiShift `json:"now"`  // null: nobody on call
	Next     *apiShift `json:"next"` // null: nobody within 31 days
	// Shifts are those of the next 7 days, the current one first.
	Shifts    []apiShift    `json:"shifts"`
	Overrides []apiOverride `json:"overrides"` // not yet over
}

type apiTeam struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	Members   []string      `json:"members"`
	Schedules []apiSchedule `json:"schedules"`
}

func newAPIShift(sh *shiftView) *apiShift {
	if sh == nil {
		return nil
	}
	return &apiShift{Users: orEmpty(sh.Users), StartsAt: timePtr(sh.Start), EndsAt: timePtr(sh.End)}
}

func newAPIOverride(o overrideView) apiOverride {
	v := apiOverride{ID: o.ID, Schedule: o.Schedule, User: o.User, StartsAt: o.Start.UTC(), EndsAt: o.End.UTC(),
		Source: "api", CreatedBy: o.CreatedBy, CreatedAt: timePtr(o.CreatedAt)}
	if o.Configured {
		v.Source = "config"
	}
	return v
}

// handleOnCall is GET /api/v1/oncall?team=&at=: per team and schedule,
// who is on call at at (default now) and who is next.
func (s *server) handleOnCall(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	at := s.clock.Now()
	if v := q.Get("at"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			s.failAPI(w, r, badField("at", "want an RFC 3339 time such as 2026-03-10T04:00:00Z"))
			return
		}
		at = t
	}
	dir, views, err := s.onCallViews(r.Context(), p.Org, q.Get("team"), at)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	resp := struct {
		At    time.Time         `json:"at"`
		Teams []apiTeam         `json:"teams"`
		Users map[string]string `json:"users"` // id → name
	}{At: at.UTC(), Teams: []apiTeam{}, Users: map[string]string{}}
	for _, u := range dir.Users {
		resp.Users[u.ID] = dir.userName(u.ID)
	}
	for _, v := range views {
		if n := len(resp.Teams); n == 0 || resp.Teams[n-1].ID != v.Team.ID {
			name := v.Team.Name
			if name == "" {
				name = v.Team.ID
			}
			resp.Teams = append(resp.Teams, apiTeam{ID: v.Team.ID, Name: name, Members: orEmpty(v.Team.Members), Schedules: []apiSchedule{}})
		}
		t := &resp.Teams[len(resp.Teams)-1]
		sc := apiSchedule{ID: v.ID, TimeZone: v.TimeZone, Now: newAPIShift(v.Now), Next: newAPIShift(v.Next),
			Shifts: []apiShift{}, Overrides: []apiOverride{}}
		for i := range v.Upcoming {
			sc.Shifts = append(sc.Shifts, *newAPIShift(&v.Upcoming[i]))
		}
		for _, o := range v.Overrides {
			sc.Overrides = append(sc.Overrides, newAPIOverride(o))
		}
		t.Schedules = append(t.Schedules, sc)
	}
	respondJSON(w, http.StatusOK, resp)
}

// handleCreateOverride is POST /api/v1/oncall/overrides: 201 with the
// override.
func (s *server) handleCreateOverride(w http.ResponseWriter, r *http.Request, p Principal) {
	var req struct {
		Schedule string  `json:"schedule"`
		User     string  `json:"user"`
		StartsAt *string `json:"starts_at"`
		EndsAt   *string `json:"ends_at"`
	}
	if err := readJSON(r, &req); err != nil {
		s.failAPI(w, r, err)
		return
	}
	d := overrideDraft{Schedule: req.Schedule, User: req.User}
	var err error
	if d.Start, err = apiTime("starts_at", req.StartsAt); err != nil {
		s.failAPI(w, r, err)
		return
	}
	if d.End, err = apiTime("ends_at", req.EndsAt); err != nil {
		s.failAPI(w, r, err)
		return
	}
	o, err := s.createOverride(r.Context(), p, d)
	if o.ID != "" {
		noteAudit(r, o.ID, "added: "+overrideSummary(o))
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusCreated, struct {
		Override apiOverride `json:"override"`
	}{newAPIOverride(overrideView{OnCallOverride: o})})
}

// handleDeleteOverride is DELETE /api/v1/oncall/overrides/{id}: 200 with
// the deleted override.
func (s *server) handleDeleteOverride(w http.ResponseWriter, r *http.Request, p Principal) {
	o, err := s.deleteOverride(r.Context(), p, r.PathValue("id"))
	if o.ID != "" {
		noteAudit(r, o.ID, "deleted: "+overrideSummary(o))
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusOK, struct {
		Override apiOverride `json:"override"`
	}{newAPIOverride(overrideView{OnCallOverride: o})})
}
