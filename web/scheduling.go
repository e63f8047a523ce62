package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
)

// Scheduling: maintenance windows and on-call overrides made through the
// API and the console. The windows and overrides are stored (SchedulingStore);
// what the configuration file defines (teams, schedules, users, its own
// windows) comes from the Directory and is read-only here. After every
// change SchedulingChanged tells the rest of Lookout (the incident engine,
// Slack's /lookout oncall) to take it.

// SchedulingStore keeps maintenance windows and on-call overrides (store.DB).
// Lookups of another organization's rows return errors wrapping
// store.ErrNotFound.
type SchedulingStore interface {
	Components(ctx context.Context, org string) ([]store.Component, error)
	CreateMaintenanceWindow(ctx context.Context, w store.MaintenanceWindow, body string) (store.MaintenanceWindow, error)
	ChangeMaintenanceWindow(ctx context.Context, org, id string,
		change func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error)) (before, after store.MaintenanceWindow, err error)
	MaintenanceWindow(ctx context.Context, org, id string) (store.MaintenanceWindow, error)
	MaintenanceWindows(ctx context.Context, org string, f store.MaintenanceFilter) ([]store.MaintenanceWindow, error)
	MaintenanceUpdates(ctx context.Context, org, id string) ([]store.MaintenanceUpdate, error)
	CreateOnCallOverride(ctx context.Context, o store.OnCallOverride) (store.OnCallOverride, error)
	OnCallOverrides(ctx context.Context, org string, endsAfter time.Time) ([]store.OnCallOverride, error)
	DeleteOnCallOverride(ctx context.Context, org, id string) (store.OnCallOverride, error)
}

// Directory answers what the configuration defines for an organization:
// its users, teams and schedules, and maintenance windows. The maintenance
// and on-call pages and API, the teams page and API read it. An unknown
// organization yields an empty OrgDirectory.
type Directory interface {
	Directory(ctx context.Context, org string) (OrgDirectory, error)
}

// OrgDirectory is an organization's users, teams and configured
// maintenance windows.
type OrgDirectory struct {
	Users []DirectoryUser
	Teams []DirectoryTeam
	// Maintenances are the windows the configuration file defines: shown,
	// never changed through the API.
	Maintenances []incidents.MaintenanceSchedule
}

// DirectoryUser is a configured user: who can be put on call, and a
// team's member.
type DirectoryUser struct {
	ID, Name, Email string
}

// DirectoryTeam is a team with its members and its schedules as the
// configuration defines them (with the file's overrides).
type DirectoryTeam struct {
	ID, Name  string
	Members   []string
	Schedules []incidents.Schedule
}

func (d OrgDirectory) user(id string) (DirectoryUser, bool) {
	for _, u := range d.Users {
		if u.ID == id {
			return u, true
		}
	}
	return DirectoryUser{}, false
}

func (d OrgDirectory) userName(id string) string {
	if u, ok := d.user(id); ok && u.Name != "" {
		return u.Name
	}
	return id
}

// schedule returns the schedule id and the team owning it.
func (d OrgDirectory) schedule(id string) (incidents.Schedule, DirectoryTeam, bool) {
	for _, t := range d.Teams {
		for _, s := range t.Schedules {
			if s.ID == id {
				return s, t, true
			}
		}
	}
	return incidents.Schedule{}, DirectoryTeam{}, false
}

func (d OrgDirectory) maintenance(id string) (incidents.MaintenanceSchedule, bool) {
	for _, m := range d.Maintenances {
		if m.ID == id {
			return m, true
		}
	}
	return incidents.MaintenanceSchedule{}, false
}

// Scheduling limits.
const (
	// maxMaintenanceWindow bounds a window: longer silences hide real
	// outages.
	maxMaintenanceWindow = 7 * 24 * time.Hour
	// maxOverride bounds an on-call override.
	maxOverride = 31 * 24 * time.Hour
	// startSlack is how far in the past a start may be (a form filled in
	// a minute ago, clocks a little apart).
	startSlack = 5 * time.Minute
	// maxTitle bounds a window's title.
	maxTitle = 200
)

// schedulingRoutes adds the maintenance and on-call API (api_maint.go,
// api_oncall.go) and console pages (console_maint.go, console_oncall.go).
func (s *server) schedulingRoutes(mux *http.ServeMux) {
	if s.auth == nil || s.scheduling == nil || s.directory == nil {
		return
	}
	s.api(mux, "GET /api/v1/maintenances", roleViewer, s.handleListMaintenances)
	s.api(mux, "POST /api/v1/maintenances", roleResponder, s.handleCreateMaintenance)
	s.api(mux, "GET /api/v1/maintenances/{id}", roleViewer, s.handleGetMaintenance)
	s.api(mux, "PATCH /api/v1/maintenances/{id}", roleResponder, s.handlePatchMaintenance)
	s.api(mux, "POST /api/v1/maintenances/{id}/updates", roleResponder, s.handleMaintenanceUpdate)
	s.api(mux, "POST /api/v1/maintenances/{id}/cancel", roleResponder, s.handleMaintenanceEnd(incidents.MaintenanceCancelled))
	s.api(mux, "POST /api/v1/maintenances/{id}/complete", roleResponder, s.handleMaintenanceEnd(incidents.MaintenanceCompleted))
	s.api(mux, "GET /api/v1/oncall", roleViewer, s.handleOnCall)
	s.api(mux, "POST /api/v1/oncall/overrides", roleResponder, s.handleCreateOverride)
	s.api(mux, "DELETE /api/v1/oncall/overrides/{id}", roleResponder, s.handleDeleteOverride)

	s.console(mux, "GET /console/maintenance", roleViewer, s.consoleMaintenanceList)
	s.console(mux, "POST /console/maintenance", roleResponder, s.consoleMaintenanceCreate)
	s.console(mux, "GET /console/maintenance/{id}", roleViewer, s.consoleMaintenanceDetail)
	s.console(mux, "POST /console/maintenance/{id}", roleResponder, s.consoleMaintenanceEdit)
	s.console(mux, "POST /console/maintenance/{id}/updates", roleResponder, s.consoleMaintenanceUpdate)
	s.console(mux, "POST /console/maintenance/{id}/cancel", roleResponder, s.consoleMaintenanceEnd(incidents.MaintenanceCancelled))
	s.console(mux, "POST /console/maintenance/{id}/complete", roleResponder, s.consoleMaintenanceEnd(incidents.MaintenanceCompleted))
	s.console(mux, "GET /console/oncall", roleViewer, s.consoleOnCall)
	s.console(mux, "POST /console/oncall/overrides", roleResponder, s.consoleCreateOverride)
	s.console(mux, "POST /console/oncall/overrides/{id}/delete", roleResponder, s.consoleDeleteOverride)
}

// ---- maintenance windows ----

// maintenanceDraft is a window as a request asks for it: nil fields are
// left as they are.
type maintenanceDraft struct {
	Title      *string
	Components *[]string
	Start, End *time.Time
	Message    *string
}

// conflict is a 409: the request is well formed but the thing it acts on
// cannot take it now.
func conflict(code, field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: code, field: field, message: fmt.Sprintf(format, args...)}
}

// readOnlyMaintenance refuses changes to a window the configuration file
// defines.
func readOnlyMaintenance(id string) *apiError {
	return conflict("read_only", "", "maintenance %q is defined in the configuration file: change it there and reload", id)
}

// titleField validates a window's title.
func titleField(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", badField("title", "required: visitors read it on the status page")
	case len(v) > maxTitle:
		return "", badField("title", "longer than %d bytes", maxTitle)
	case strings.ContainsFunc(v, func(r rune) bool { return unicode.IsControl(r) || r == '\u2028' || r == '\u2029' }):
		return "", badField("title", "must not contain control characters")
	}
	return v, nil
}

// componentsField validates component ids against the organization's.
func (s *server) componentsField(ctx context.Context, org string, ids []string) ([]string, error) {
	if len(ids) == 0 {
		return nil, badField("components", "list at least one component")
	}
	if len(ids) > store.MaxMaintenanceComponents {
		return nil, badField("components", "more than %d components", store.MaxMaintenanceComponents)
	}
	comps, err := s.scheduling.Components(ctx, org)
	if err != nil {
		return nil, fmt.Errorf("read components: %w", err)
	}
	known := map[string]bool{}
	for _, c := range comps {
		known[c.ID] = true
	}
	var out []string
	for _, id := range ids {
		if !known[id] {
			return nil, badField("components", "no component %q in this organization", truncateText(id, 64))
		}
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, nil
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// checkWindow validates a window's times at now: start moved (or new) not
// more than startSlack in the past, end after start and in the future, at
// most maxMaintenanceWindow long.
func checkWindow(start, end, now time.Time, startMoved bool) error {
	switch {
	case startMoved && start.Before(now.Add(-startSlack)):
		return badField("starts_at", "more than %s in the past (now is %s)", "5 minutes", now.UTC().Format(time.RFC3339))
	case !end.After(start):
		return badField("ends_at", "must be after starts_at (%s)", start.UTC().Format(time.RFC3339))
	case !end.After(now):
		return badField("ends_at", "already past (now is %s)", now.UTC().Format(time.RFC3339))
	case end.Sub(start) > maxMaintenanceWindow:
		return badField("ends_at", "the window is longer than %s; split it", "7 days")
	}
	return nil
}

// createMaintenance validates and stores a new window, tells the engine
// and returns it.
func (s *server) createMaintenance(ctx context.Context, p Principal, d maintenanceDraft) (store.MaintenanceWindow, error) {
	var (
		w   = store.MaintenanceWindow{Org: p.Org, CreatedBy: p.User}
		err error
	)
	if d.Title == nil {
		return w, badField("title", "required: visitors read it on the status page")
	}
	if w.Title, err = titleField(*d.Title); err != nil {
		return w, err
	}
	if d.Components == nil {
		return w, badField("components", "list at least one component")
	}
	if w.Components, err = s.componentsField(ctx, p.Org, *d.Components); err != nil {
		return w, err
	}
	if d.Start == nil {
		return w, badField("starts_at", "required")
	}
	if d.End == nil {
		return w, badField("ends_at", "required")
	}
	w.Start, w.End = d.Start.UTC(), d.End.UTC()
	if err := checkWindow(w.Start, w.End, s.clock.Now(), true); err != nil {
		return w, err
	}
	body := ""
	if d.Message != nil {
		if body, err = textField("message", *d.Message, false); err != nil {
			return w, err
		}
	}
	if w, err = s.scheduling.CreateMaintenanceWindow(ctx, w, body); err != nil {
		return w, fmt.Errorf("schedule maintenance: %w", err)
	}
	s.logger.InfoContext(ctx, "maintenance scheduled", "org", p.Org, "user", p.User, "maintenance", w.ID)
	return w, s.tellEngine(ctx, p.Org, w.Schedule(p.User))
}

// tellEngine applies ev (if any) to the organization's incidents and
// has the rest of Lookout take the stored change.
func (s *server) tellEngine(ctx context.Context, org string, evs ...incidents.Event) error {
	if s.actions != nil && len(evs) > 0 {
		if _, err := s.actions.Do(ctx, org, evs...); err != nil {
			return fmt.Errorf("apply maintenance change: %w", err)
		}
	}
	if s.schedulingChanged != nil {
		if err := s.schedulingChanged(ctx, org); err != nil {
			return fmt.Errorf("apply scheduling change: %w", err)
		}
	}
	return nil
}

// findWindow returns the stored window id; a configured one is refused as
// read-only, an unknown one is not found.
func (s *server) findWindow(ctx context.Context, org, id string) (store.MaintenanceWindow, error) {
	if !validIncidentID(id) {
		return store.MaintenanceWindow{}, errNotFound
	}
	w, err := s.scheduling.MaintenanceWindow(ctx, org, id)
	if errors.Is(err, store.ErrNotFound) {
		if dir, derr := s.directory.Directory(ctx, org); derr == nil {
			if _, ok := dir.maintenance(id); ok {
				return w, readOnlyMaintenance(id)
			}
		}
	}
	return w, err
}

// changeWindow applies change to a stored window (refusing configured
// ones and finished ones), then tells the engine what event follows from
// it. It returns the window before and after.
func (s *server) changeWindow(ctx context.Context, p Principal, id string,
	change func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error),
	event func(before, after store.MaintenanceWindow) incidents.Event) (store.MaintenanceWindow, store.MaintenanceWindow, error) {
	if _, err := s.findWindow(ctx, p.Org, id); err != nil {
		return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
	}
	before, after, err := s.scheduling.ChangeMaintenanceWindow(ctx, p.Org, id, func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error) {
		if st := w.StatusAt(now); st == incidents.MaintenanceCompleted || st == incidents.MaintenanceCancelled {
			return store.MaintenanceUpdate{}, conflict("finished", "", "maintenance %s is %s: nothing can change", id, st)
		}
		u, err := change(w, now)
		u.Actor = p.User
		return u, err
	})
	if err != nil {
		return before, after, err
	}
	var evs []incidents.Event
	if ev := event(before, after); ev != nil {
		evs = append(evs, ev)
	}
	return before, after, s.tellEngine(ctx, p.Org, evs...)
}

// rescheduleMaintenance applies a PATCH: title, components, times, with
// an optional message. A started window keeps its start.
func (s *server) rescheduleMaintenance(ctx context.Context, p Principal, id string, d maintenanceDraft) (store.MaintenanceWindow, store.MaintenanceWindow, error) {
	var (
		title  string
		comps  []string
		body   string
		err    error
		hasMsg = d.Message != nil
	)
	if d.Title == nil && d.Components == nil && d.Start == nil && d.End == nil && d.Message == nil {
		return store.MaintenanceWindow{}, store.MaintenanceWindow{}, &apiError{status: http.StatusBadRequest, code: "empty_change",
			message: "nothing to change: send title, components, starts_at, ends_at or message"}
	}
	if d.Title != nil {
		if title, err = titleField(*d.Title); err != nil {
			return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
		}
	}
	if d.Components != nil {
		if comps, err = s.componentsField(ctx, p.Org, *d.Components); err != nil {
			return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
		}
	}
	if hasMsg {
		if body, err = textField("message", *d.Message, false); err != nil {
			return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
		}
	}
	return s.changeWindow(ctx, p, id, func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error) {
		old := *w
		started := w.StatusAt(now) != incidents.MaintenanceScheduled
		if d.Title != nil {
			w.Title = title
		}
		if d.Components != nil {
			w.Components = comps
		}
		startMoved := false
		if d.Start != nil && !d.Start.Equal(w.Start) {
			if started {
				return store.MaintenanceUpdate{}, conflict("started", "starts_at",
					"starts_at: the window started at %s; only ends_at, title and components can change", w.Start.Format(time.RFC3339))
			}
			w.Start, startMoved = d.Start.UTC(), true
		}
		if d.End != nil {
			w.End = d.End.UTC()
		}
		if err := checkWindow(w.Start, w.End, now, startMoved); err != nil {
			return store.MaintenanceUpdate{}, err
		}
		change := describeChange(old, *w)
		if change == "" && !hasMsg {
			return store.MaintenanceUpdate{}, &apiError{status: http.StatusBadRequest, code: "empty_change",
				message: "nothing to change: the window already is as asked"}
		}
		return store.MaintenanceUpdate{Body: body, Change: change}, nil
	}, func(_, after store.MaintenanceWindow) incidents.Event { return after.Schedule(p.User) })
}

// describeChange says in words how a window changed ("" for not at all).
func describeChange(a, b store.MaintenanceWindow) string {
	var parts []string
	if a.Title != b.Title {
		parts = append(parts, fmt.Sprintf("title %q → %q", a.Title, b.Title))
	}
	if !slices.Equal(a.Components, b.Components) {
		parts = append(parts, "components "+strings.Join(a.Components, ", ")+" → "+strings.Join(b.Components, ", "))
	}
	if !a.Start.Equal(b.Start) {
		parts = append(parts, "start "+utcText(a.Start)+" → "+utcText(b.Start))
	}
	if !a.End.Equal(b.End) {
		parts = append(parts, "end "+utcText(a.End)+" → "+utcText(b.End))
	}
	return strings.Join(parts, "; ")
}

func utcText(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// windowSummary describes a window for the audit log.
func windowSummary(w store.MaintenanceWindow) string {
	return fmt.Sprintf("%q [%s] %s – %s", w.Title, strings.Join(w.Components, ", "), utcText(w.Start), utcText(w.End))
}

// postMaintenanceUpdate posts a message, optionally moving the window
// forward (in_progress, verifying, completed).
func (s *server) postMaintenanceUpdate(ctx context.Context, p Principal, id, status, body string) (store.MaintenanceWindow, store.MaintenanceWindow, error) {
	to := incidents.MaintenanceStatus(status)
	switch to {
	case "", incidents.MaintenanceScheduled, incidents.MaintenanceInProgress, incidents.MaintenanceVerifying, incidents.MaintenanceCompleted:
	default:
		return store.MaintenanceWindow{}, store.MaintenanceWindow{}, badField("status", "want scheduled, in_progress, verifying or completed")
	}
	b, err := textField("body", body, true)
	if err != nil {
		return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
	}
	return s.changeWindow(ctx, p, id, func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error) {
		cur := w.StatusAt(now)
		u := store.MaintenanceUpdate{Body: b}
		if to == "" || to == cur {
			return u, nil
		}
		if maintenanceRank(to) < maintenanceRank(cur) {
			return u, badField("status", "the window is %s; its status only moves forward", cur)
		}
		if to == incidents.MaintenanceCompleted {
			w.EndedAt = now
		}
		w.Status = to
		u.Change = "status " + string(cur) + " → " + string(to)
		return u, nil
	}, func(before, after store.MaintenanceWindow) incidents.Event {
		if after.Status == before.Status {
			return nil
		}
		return incidents.MaintenanceAdvance{ID: after.ID, Actor: p.User, To: after.Status}
	})
}

func maintenanceRank(s incidents.MaintenanceStatus) int {
	return slices.Index([]incidents.MaintenanceStatus{incidents.MaintenanceScheduled, incidents.MaintenanceInProgress,
		incidents.MaintenanceVerifying, incidents.MaintenanceCompleted}, s)
}

// endMaintenance cancels a window or completes a running one early.
func (s *server) endMaintenance(ctx context.Context, p Principal, id string, to incidents.MaintenanceStatus, body string) (store.MaintenanceWindow, store.MaintenanceWindow, error) {
	b, err := textField("body", body, false)
	if err != nil {
		return store.MaintenanceWindow{}, store.MaintenanceWindow{}, err
	}
	return s.changeWindow(ctx, p, id, func(w *store.MaintenanceWindow, now time.Time) (store.MaintenanceUpdate, error) {
		cur := w.StatusAt(now)
		if to == incidents.MaintenanceCompleted && cur == incidents.MaintenanceScheduled {
			return store.MaintenanceUpdate{}, conflict("not_started", "", "maintenance %s has not started: cancel it instead", id)
		}
		w.Status, w.EndedAt = to, now
		return store.MaintenanceUpdate{Body: b, Change: "status " + string(cur) + " → " + string(to)}, nil
	}, func(_, after store.MaintenanceWindow) incidents.Event {
		if to == incidents.MaintenanceCancelled {
			return incidents.MaintenanceCancel{ID: after.ID, Actor: p.User}
		}
		return incidents.MaintenanceAdvance{ID: after.ID, Actor: p.User, To: to}
	})
}

// configuredWindow shows a configured window as a stored one would be.
func configuredWindow(org string, m incidents.MaintenanceSchedule) store.MaintenanceWindow {
	return store.MaintenanceWindow{Org: org, ID: m.ID, Title: m.Title, Components: m.Components, Start: m.Start, End: m.End,
		Status: incidents.MaintenanceScheduled, CreatedBy: "config"}
}

// listedWindow is a window in a list, stored or configured.
type listedWindow struct {
	store.MaintenanceWindow
	configured bool
}

// listWindows returns the organization's windows that f selects, stored
// and configured together in the selection's order, and whether more
// follow (f.Limit > 0).
func (s *server) listWindows(ctx context.Context, org string, f store.MaintenanceFilter) ([]listedWindow, bool, error) {
	limit := f.Limit
	if limit > 0 {
		f.Limit = limit + 1
	}
	stored, err := s.scheduling.MaintenanceWindows(ctx, org, f)
	if err != nil {
		return nil, false, err
	}
	dir, err := s.directory.Directory(ctx, org)
	if err != nil {
		return nil, false, fmt.Errorf("read directory: %w", err)
	}
	asc := f.When.Ascending()
	less := func(a, b store.MaintenanceWindow) bool { // a comes before b
		if !a.Start.Equal(b.Start) {
			return a.Start.Before(b.Start) == asc
		}
		return (a.ID < b.ID) == asc
	}
	var out []listedWindow
	for _, w := range stored {
		out = append(out, listedWindow{MaintenanceWindow: w})
	}
	after := store.MaintenanceWindow{Start: f.AfterStart, ID: f.AfterID}
	for _, m := range dir.Maintenances {
		w := configuredWindow(org, m)
		if !f.When.Matches(w.StatusAt(f.Now)) || (f.AfterID != "" && !less(after, w)) {
			continue
		}
		out = append(out, listedWindow{MaintenanceWindow: w, configured: true})
	}
	slices.SortStableFunc(out, func(a, b listedWindow) int {
		switch {
		case less(a.MaintenanceWindow, b.MaintenanceWindow):
			return -1
		case less(b.MaintenanceWindow, a.MaintenanceWindow):
			return 1
		}
		return 0
	})
	more := false
	if limit > 0 && len(out) > limit {
		out, more = out[:limit], true
	}
	return out, more, nil
}

// ---- on call ----

// scheduleView is one schedule at a moment: who is on call, who is next,
// the shifts of the coming days and the overrides not yet over.
type scheduleView struct {
	ID       string
	Team     DirectoryTeam
	TimeZone string
	Now      *shiftView
	Next     *shiftView
	Upcoming []shiftView
	// Overrides are the configured ones (ID "") then the stored ones, in
	// creation order.
	Overrides []overrideView
}

// shiftView is a shift; a zero Start or End is beyond what was looked at.
type shiftView struct {
	Users      []string
	Start, End time.Time
}

type overrideView struct {
	store.OnCallOverride
	Configured bool
}

// Look-behind and look-ahead of the on-call views: a shift running longer
// shows an unknown start or end.
const (
	shiftHorizon = 31 * 24 * time.Hour
	upcomingSpan = 7 * 24 * time.Hour
)

// onCallViews computes every schedule of the organization (of team, when
// set) at at, with the stored overrides applied after the configured ones.
func (s *server) onCallViews(ctx context.Context, org, team string, at time.Time) (OrgDirectory, []scheduleView, error) {
	dir, err := s.directory.Directory(ctx, org)
	if err != nil {
		return dir, nil, fmt.Errorf("read directory: %w", err)
	}
	ovs, err := s.scheduling.OnCallOverrides(ctx, org, at)
	if err != nil {
		return dir, nil, err
	}
	var out []scheduleView
	for _, t := range dir.Teams {
		if team != "" && t.ID != team {
			continue
		}
		merged := store.WithOverrides(t.Schedules, ovs)
		for i, sc := range merged {
			v := scheduleView{ID: sc.ID, Team: t, TimeZone: "UTC"}
			if sc.TimeZone != nil {
				v.TimeZone = sc.TimeZone.String()
			}
			from, to := at.Add(-shiftHorizon), at.Add(shiftHorizon)
			for _, sh := range sc.Shifts(from, to) {
				sv := shiftView{Users: sh.Users, Start: sh.Start, End: sh.End}
				if sv.Start.Equal(from) {
					sv.Start = time.Time{}
				}
				if sv.End.Equal(to) {
					sv.End = time.Time{}
				}
				switch {
				case !sh.Start.After(at) && sh.End.After(at):
					v.Now = &sv
				case sh.Start.After(at) && v.Next == nil:
					v.Next = &sv
				}
				if sh.End.After(at) && sh.Start.Before(at.Add(upcomingSpan)) {
					v.Upcoming = append(v.Upcoming, sv)
				}
			}
			for _, o := range t.Schedules[i].Overrides {
				if o.End.After(at) {
					v.Overrides = append(v.Overrides, overrideView{Configured: true, OnCallOverride: store.OnCallOverride{
						Org: org, Schedule: sc.ID, User: o.User, Start: o.Start, End: o.End, CreatedBy: "config"}})
				}
			}
			for _, o := range ovs {
				if o.Schedule == sc.ID {
					v.Overrides = append(v.Overrides, overrideView{OnCallOverride: o})
				}
			}
			out = append(out, v)
		}
	}
	if team != "" && len(out) == 0 && !slices.ContainsFunc(dir.Teams, func(t DirectoryTeam) bool { return t.ID == team }) {
		return dir, nil, badField("team", "no team %q in this organization", truncateText(team, 64))
	}
	return dir, out, nil
}

// overrideDraft is an override as a request asks for it.
type overrideDraft struct {
	Schedule, User string
	Start, End     *time.Time
}

// createOverride validates and stores an override and has the engine and
// Slack take it.
func (s *server) createOverride(ctx context.Context, p Principal, d overrideDraft) (store.OnCallOverride, error) {
	dir, err := s.directory.Directory(ctx, p.Org)
	if err != nil {
		return store.OnCallOverride{}, fmt.Errorf("read directory: %w", err)
	}
	if d.Schedule == "" {
		return store.OnCallOverride{}, badField("schedule", "required")
	}
	_, team, ok := dir.schedule(d.Schedule)
	if !ok {
		return store.OnCallOverride{}, badField("schedule", "no schedule %q in this organization", truncateText(d.Schedule, 64))
	}
	if d.User == "" {
		return store.OnCallOverride{}, badField("user", "required")
	}
	if _, ok := dir.user(d.User); !ok {
		return store.OnCallOverride{}, badField("user", "no user %q in this organization", truncateText(d.User, 64))
	}
	if len(team.Members) > 0 && !slices.Contains(team.Members, d.User) {
		return store.OnCallOverride{}, badField("user", "%s is not a member of team %s (members: %s)", d.User, team.ID, strings.Join(team.Members, ", "))
	}
	if d.Start == nil {
		return store.OnCallOverride{}, badField("starts_at", "required")
	}
	if d.End == nil {
		return store.OnCallOverride{}, badField("ends_at", "required")
	}
	now := s.clock.Now()
	start, end := d.Start.UTC(), d.End.UTC()
	switch {
	case start.Before(now.Add(-startSlack)):
		return store.OnCallOverride{}, badField("starts_at", "more than %s in the past (now is %s)", "5 minutes", now.UTC().Format(time.RFC3339))
	case !end.After(start):
		return store.OnCallOverride{}, badField("ends_at", "must be after starts_at (%s)", start.Format(time.RFC3339))
	case end.Sub(start) > maxOverride:
		return store.OnCallOverride{}, badField("ends_at", "an override lasts at most %s", "31 days")
	}
	o, err := s.scheduling.CreateOnCallOverride(ctx, store.OnCallOverride{Org: p.Org, Schedule: d.Schedule, User: d.User,
		Start: start, End: end, CreatedBy: p.User})
	if err != nil {
		return o, err
	}
	s.logger.InfoContext(ctx, "on-call override added", "org", p.Org, "user", p.User, "override", o.ID, "schedule", o.Schedule)
	return o, s.tellEngine(ctx, p.Org)
}

func (s *server) deleteOverride(ctx context.Context, p Principal, id string) (store.OnCallOverride, error) {
	if !validIncidentID(id) {
		return store.OnCallOverride{}, errNotFound
	}
	o, err := s.scheduling.DeleteOnCallOverride(ctx, p.Org, id)
	if err != nil {
		return o, err
	}
	s.logger.InfoContext(ctx, "on-call override deleted", "org", p.Org, "user", p.User, "override", o.ID, "schedule", o.Schedule)
	return o, s.tellEngine(ctx, p.Org)
}

func overrideSummary(o store.OnCallOverride) string {
	return fmt.Sprintf("%s on call for %s %s – %s", o.User, o.Schedule, utcText(o.Start), utcText(o.End))
}
