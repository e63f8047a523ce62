package web

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The maintenance console pages (console_maint.templ). Forms post, then
// redirect back (303) with a flash message carried in a short-lived cookie;
// a refused form is shown again with the error and what was typed.

// consoleURL is a console path for p's organization.
func maintURL(p Principal, path string) string { return consoleURL(path, p.Org) }

// seeOther redirects back after a successful form with a flash message.
func (s *server) seeOther(w http.ResponseWriter, r *http.Request, p Principal, path, flash string) {
	setConsoleFlash(w, flash, false)
	http.Redirect(w, r, maintURL(p, path), http.StatusSeeOther)
}

// renderConsole renders page with status, into a buffer so a failed
// render is a clean 500.
func (s *server) renderConsole(w http.ResponseWriter, r *http.Request, status int, page templ.Component) {
	var buf bytes.Buffer
	if err := page.Render(r.Context(), &buf); err != nil {
		s.fail(w, r, fmt.Errorf("render console page: %w", err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes()) // a failed write means the client left
}

// formProblem returns the status and message of a refusal to show on the
// form, or ok false when err is no refusal of the form's input.
func formProblem(err error) (int, string, bool) {
	var ae *apiError
	if errors.As(err, &ae) && ae.status >= 400 && ae.status < 500 && ae.status != http.StatusNotFound {
		return ae.status, ae.message, true
	}
	return 0, "", false
}

// consoleTimeLayout is a datetime-local input's value.
const consoleTimeLayout = "2006-01-02T15:04"

// formTime parses a datetime-local value as UTC; "" is nil.
func formTime(field, v string) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	for _, layout := range []string{consoleTimeLayout, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, time.UTC); err == nil {
			return &t, nil
		}
	}
	return nil, badField(field, "want a date and time such as 2026-03-10T04:00 (UTC)")
}

func formTimeValue(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(consoleTimeLayout)
}

// consoleTime shows a time to responders, in UTC.
func maintTime(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04 UTC") }

func windowWhen(w store.MaintenanceWindow) string {
	return maintTime(w.Start) + " – " + maintTime(w.End)
}

var maintenanceLabels = map[incidents.MaintenanceStatus]string{
	incidents.MaintenanceScheduled:  "Scheduled",
	incidents.MaintenanceInProgress: "In progress",
	incidents.MaintenanceVerifying:  "Verifying",
	incidents.MaintenanceCompleted:  "Completed",
	incidents.MaintenanceCancelled:  "Cancelled",
}

// componentChoices lists the organization's components, checking those in
// selected.
func (s *server) componentChoices(r *http.Request, org string, selected []string) ([]templates.SchedChoice, error) {
	comps, err := s.scheduling.Components(r.Context(), org)
	if err != nil {
		return nil, fmt.Errorf("read components: %w", err)
	}
	out := make([]templates.SchedChoice, 0, len(comps))
	for _, c := range comps {
		name := c.Name
		if name == "" {
			name = c.ID
		}
		sel := false
		for _, id := range selected {
			sel = sel || id == c.ID
		}
		out = append(out, templates.SchedChoice{Value: c.ID, Label: name, Selected: sel})
	}
	return out, nil
}

func (s *server) maintenanceRow(p Principal, w listedWindow, now time.Time) templates.MaintenanceRow {
	st := w.StatusAt(now)
	row := templates.MaintenanceRow{Title: w.Title, Href: maintURL(p, "/console/maintenance/"+url.PathEscape(w.ID)),
		Status: string(st), StatusLabel: maintenanceLabels[st], Components: strings.Join(w.Components, ", "), When: windowWhen(w.MaintenanceWindow)}
	if w.configured {
		row.Source = "config"
	}
	return row
}

// maintenanceFormValues is what the schedule form holds.
type maintenanceFormValues struct {
	Title, Start, End, Message string
	Components                 []string
}

func readMaintenanceForm(r *http.Request) (maintenanceFormValues, error) {
	if err := r.ParseForm(); err != nil {
		return maintenanceFormValues{}, &apiError{status: http.StatusBadRequest, code: "invalid_form", message: "the form could not be read"}
	}
	f := r.PostForm
	return maintenanceFormValues{Title: f.Get("title"), Start: f.Get("start"), End: f.Get("end"),
		Message: f.Get("message"), Components: f["components"]}, nil
}

func (v maintenanceFormValues) draft(withStart bool) (maintenanceDraft, error) {
	d := maintenanceDraft{Title: &v.Title, Components: &v.Components}
	if strings.TrimSpace(v.Message) != "" {
		d.Message = &v.Message
	}
	var err error
	if withStart || strings.TrimSpace(v.Start) != "" {
		if d.Start, err = formTime("starts_at", v.Start); err != nil {
			return d, err
		}
		if d.Start == nil && withStart {
			return d, badField("starts_at", "required")
		}
	}
	if d.End, err = formTime("ends_at", v.End); err != nil {
		return d, err
	}
	if d.End == nil {
		return d, badField("ends_at", "required")
	}
	return d, nil
}

// consoleMaintenanceList is GET /console/maintenance.
func (s *server) consoleMaintenanceList(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderMaintenanceList(w, r, p, http.StatusOK, nil, "")
}

// renderMaintenanceList shows the lists and the form (holding typed, after
// a refusal shown as problem).
func (s *server) renderMaintenanceList(w http.ResponseWriter, r *http.Request, p Principal, status int, typed *maintenanceFormValues, problem string) {
	ctx := r.Context()
	now := s.clock.Now()
	page := templates.MaintenanceListPage{Console: s.chrome(r, p, "maintenance", "Maintenance")}
	page.Console.Error = problem
	if problem == "" {
		page.Console.Flash, _ = takeConsoleFlash(w, r)
	}
	lists := []struct {
		when  store.MaintenanceWhen
		limit int
		into  *[]templates.MaintenanceRow
	}{
		{store.MaintenanceActive, 100, &page.Active},
		{store.MaintenanceUpcoming, 100, &page.Upcoming},
		{store.MaintenancePast, 20, &page.Past},
	}
	for _, l := range lists {
		ws, _, err := s.listWindows(ctx, p.Org, store.MaintenanceFilter{When: l.when, Now: now, Limit: l.limit})
		if err != nil {
			s.fail(w, r, fmt.Errorf("list maintenances: %w", err))
			return
		}
		for _, wnd := range ws {
			if l.when == store.MaintenancePast && wnd.End.Before(now.AddDate(0, 0, -14)) {
				continue
			}
			*l.into = append(*l.into, s.maintenanceRow(p, wnd, now))
		}
	}
	if p.may(roleResponder) {
		v := maintenanceFormValues{ // an hour from the next full hour
			Start: formTimeValue(now.UTC().Truncate(time.Hour).Add(time.Hour)),
			End:   formTimeValue(now.UTC().Truncate(time.Hour).Add(2 * time.Hour)),
		}
		form, err := s.maintenanceForm(r, p.Org, v, typed, templates.MaintenanceForm{
			Action: maintURL(p, "/console/maintenance"), Submit: "Schedule maintenance", Legend: "Schedule maintenance",
			MessageLabel: "Message (optional; visitors read it)",
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page.Form = form
	}
	s.renderConsole(w, r, status, templates.MaintenanceList(page))
}

// maintenanceForm fills f, a schedule or edit form, with v's values, or
// with what the user typed when their submission was refused.
func (s *server) maintenanceForm(r *http.Request, org string, v maintenanceFormValues, typed *maintenanceFormValues, f templates.MaintenanceForm) (*templates.MaintenanceForm, error) {
	if typed != nil {
		v = *typed
	}
	comps, err := s.componentChoices(r, org, v.Components)
	if err != nil {
		return nil, err
	}
	f.Title, f.Components, f.Start, f.End, f.Message = v.Title, comps, v.Start, v.End, v.Message
	return &f, nil
}

// consoleMaintenanceCreate is POST /console/maintenance.
func (s *server) consoleMaintenanceCreate(w http.ResponseWriter, r *http.Request, p Principal) {
	v, err := readMaintenanceForm(r)
	if err == nil {
		var d maintenanceDraft
		if d, err = v.draft(true); err == nil {
			var wnd store.MaintenanceWindow
			wnd, err = s.createMaintenance(r.Context(), p, d)
			if wnd.ID != "" {
				noteAudit(r, wnd.ID, "scheduled "+windowSummary(wnd))
			}
			if err == nil {
				s.seeOther(w, r, p, "/console/maintenance/"+url.PathEscape(wnd.ID), "Scheduled “"+wnd.Title+"”.")
				return
			}
		}
	}
	if status, msg, ok := formProblem(err); ok {
		s.renderMaintenanceList(w, r, p, status, &v, msg)
		return
	}
	s.fail(w, r, err)
}

// consoleMaintenanceDetail is GET /console/maintenance/{id}.
func (s *server) consoleMaintenanceDetail(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderMaintenanceDetail(w, r, p, http.StatusOK, "", nil)
}

// renderMaintenanceDetail shows a window; after a refused form, problem
// and what was typed into the edit form.
func (s *server) renderMaintenanceDetail(w http.ResponseWriter, r *http.Request, p Principal, status int, problem string, typed *maintenanceFormValues) {
	id := r.PathValue("id")
	d, err := s.maintenanceDetail(r, p.Org, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errNotFound
		}
		s.fail(w, r, err)
		return
	}
	st := incidents.MaintenanceStatus(d.Status)
	page := templates.MaintenanceDetailPage{
		Console: s.chrome(r, p, "maintenance", d.Title),
		Title:   d.Title, Status: d.Status, StatusLabel: maintenanceLabels[st],
		Components: strings.Join(d.Components, ", "), When: maintTime(d.StartsAt) + " – " + maintTime(d.EndsAt),
		Source: "Scheduled by " + d.CreatedBy,
	}
	page.Console.Error = problem
	if problem == "" {
		page.Console.Flash, _ = takeConsoleFlash(w, r)
	}
	finished := st == incidents.MaintenanceCompleted || st == incidents.MaintenanceCancelled
	switch {
	case d.ReadOnly:
		page.Source = "Configuration file"
		page.ReadOnlyNote = "This window is defined in the configuration file: change it there and reload."
	case finished:
		page.ReadOnlyNote = "This window is over: nothing can change."
	}
	for i := len(d.Updates) - 1; i >= 0; i-- {
		u := d.Updates[i]
		page.Updates = append(page.Updates, templates.MaintenanceUpdateRow{At: maintTime(u.At), Actor: u.Actor,
			StatusLabel: maintenanceLabels[incidents.MaintenanceStatus(u.Status)], Body: u.Body, Change: u.Change})
	}
	if p.may(roleResponder) && !d.ReadOnly && !finished {
		base := "/console/maintenance/" + url.PathEscape(id)
		uf := &templates.MaintenanceUpdateForm{Action: maintURL(p, base+"/updates")}
		for _, to := range []incidents.MaintenanceStatus{incidents.MaintenanceScheduled, incidents.MaintenanceInProgress,
			incidents.MaintenanceVerifying, incidents.MaintenanceCompleted} {
			if maintenanceRank(to) >= maintenanceRank(st) {
				uf.Statuses = append(uf.Statuses, templates.SchedChoice{Value: string(to), Label: maintenanceLabels[to], Selected: to == st})
			}
		}
		page.Update = uf
		page.Cancel = maintURL(p, base+"/cancel")
		if st != incidents.MaintenanceScheduled {
			page.Complete = maintURL(p, base+"/complete")
		}
		v := maintenanceFormValues{Title: d.Title, Components: d.Components, Start: formTimeValue(d.StartsAt), End: formTimeValue(d.EndsAt)}
		form, err := s.maintenanceForm(r, p.Org, v, typed, templates.MaintenanceForm{
			Action: maintURL(p, base), Submit: "Save changes", Legend: "Reschedule or change",
			StartLocked: st != incidents.MaintenanceScheduled, StartLockedText: maintTime(d.StartsAt),
			MessageLabel: "Message with the change (optional; visitors read it)",
		})
		if err != nil {
			s.fail(w, r, err)
			return
		}
		page.Edit = form
	}
	s.renderConsole(w, r, status, templates.MaintenanceDetail(page))
}

// consoleMaintenanceEdit is POST /console/maintenance/{id}.
func (s *server) consoleMaintenanceEdit(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	v, err := readMaintenanceForm(r)
	if err == nil {
		var d maintenanceDraft
		if d, err = v.draft(false); err == nil {
			var before, after store.MaintenanceWindow
			before, after, err = s.rescheduleMaintenance(r.Context(), p, id, d)
			if after.ID != "" {
				noteAudit(r, id, "before: "+windowSummary(before)+"; after: "+windowSummary(after))
			}
			if err == nil {
				s.seeOther(w, r, p, "/console/maintenance/"+url.PathEscape(id), "Saved.")
				return
			}
		}
	}
	s.consoleFormFailed(w, r, p, err, &v)
}

// consoleFormFailed shows the detail page again with a refusal, or fails.
func (s *server) consoleFormFailed(w http.ResponseWriter, r *http.Request, p Principal, err error, typed *maintenanceFormValues) {
	if status, msg, ok := formProblem(err); ok {
		s.renderMaintenanceDetail(w, r, p, status, msg, typed)
		return
	}
	if errors.Is(err, store.ErrNotFound) {
		err = errNotFound
	}
	s.fail(w, r, err)
}

// consoleMaintenanceUpdate is POST /console/maintenance/{id}/updates.
func (s *server) consoleMaintenanceUpdate(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	before, after, err := s.postMaintenanceUpdate(r.Context(), p, id, r.PostForm.Get("status"), r.PostForm.Get("body"))
	if after.ID != "" {
		noteAudit(r, id, fmt.Sprintf("update posted; status %s → %s", before.StatusAt(after.UpdatedAt), after.StatusAt(after.UpdatedAt)))
	}
	if err != nil {
		s.consoleFormFailed(w, r, p, err, nil)
		return
	}
	s.seeOther(w, r, p, "/console/maintenance/"+url.PathEscape(id), "Update posted.")
}

// consoleMaintenanceEnd is POST /console/maintenance/{id}/cancel and
// /complete.
func (s *server) consoleMaintenanceEnd(to incidents.MaintenanceStatus) handlerP {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		id := r.PathValue("id")
		if err := r.ParseForm(); err != nil {
			s.fail(w, r, err)
			return
		}
		before, after, err := s.endMaintenance(r.Context(), p, id, to, r.PostForm.Get("body"))
		if after.ID != "" {
			noteAudit(r, id, fmt.Sprintf("status %s → %s: %s", before.StatusAt(after.UpdatedAt), to, windowSummary(after)))
		}
		if err != nil {
			s.consoleFormFailed(w, r, p, err, nil)
			return
		}
		s.seeOther(w, r, p, "/console/maintenance/"+url.PathEscape(id), maintenanceLabels[to]+".")
	}
}

// consoleNotFound maps the store's not found to the console's.
func consoleNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	return err
}
