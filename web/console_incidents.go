package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The console's incident pages: the on-call engineer's path at 3 a.m.
//
//	GET  /console/incidents            the list, filtered, newest first
//	GET  /console/incidents/{id}       one incident, its actions, its timeline
//	POST /console/incidents/{id}/<action>
//
// Each action is a plain form posting to the same engine action as the API
// (incidentActions, act): the form's fields are the API's JSON fields, so
// one builder validates both. After it the browser is sent back (303) with
// a flash message. A hidden _key field makes each rendered form one event:
// submitting it twice changes the incident once.

// consoleListLimit is the number of incidents on a list page.
const consoleListLimit = 50

// Form fields the console adds to an action's own fields.
const (
	formKey  = "_key"  // the rendered form's idempotency key
	formBack = "_back" // where to return: "list:<filter>"; default the incident
)

// consoleIncidentRoutes registers the console's incident pages and the
// postmortem editor and API (called from routes).
func (s *server) consoleIncidentRoutes(mux *http.ServeMux) {
	if s.auth == nil || s.incidentStore == nil {
		return
	}
	s.console(mux, "GET /console/incidents", roleViewer, s.handleConsoleIncidents)
	s.console(mux, "GET /console/incidents/{id}", roleViewer, s.handleConsoleIncident)
	if s.actions != nil {
		for _, a := range incidentActions() {
			s.console(mux, "POST /console/incidents/{id}/"+a.path, roleResponder, s.handleConsoleAction(a))
		}
	}
	s.postmortemRoutes(mux)
}

// incidentFilter is one of the list's filters.
type incidentFilter struct {
	value, label string
	status       store.IncidentStatus
}

// incidentFilters are the list's filters; the first is the default.
func incidentFilters() []incidentFilter {
	return []incidentFilter{
		{"active", "Active", store.OpenIncidents},
		{"triggered", "Open (triggered)", store.TriggeredIncidents},
		{"acknowledged", "Acknowledged", store.AcknowledgedIncidents},
		{"resolved", "Resolved", store.ResolvedIncidents},
		{"all", "All", store.AllIncidents},
	}
}

func findIncidentFilter(v string) (incidentFilter, bool) {
	fs := incidentFilters()
	if v == "" {
		return fs[0], true
	}
	for _, f := range fs {
		if f.value == v {
			return f, true
		}
	}
	return incidentFilter{}, false
}

// consoleURL is a console path with the organization (and extra query
// parameters) in its query: sessions pick the organization per request.
func consoleURL(path, org string, kv ...string) string {
	q := url.Values{"org": {org}}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return path + "?" + q.Encode()
}

func incidentPath(id string) string { return "/console/incidents/" + url.PathEscape(id) }

// rowAnchor is the list row id of an incident.
func rowAnchor(id string) string { return "incident-" + id }

// newFormKey is a fresh idempotency key for one rendered form.
func newFormKey() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

func (s *server) handleConsoleIncidents(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	filter, ok := findIncidentFilter(q.Get("status"))
	if !ok {
		http.Error(w, "unknown filter: want active, triggered, acknowledged, resolved or all", http.StatusBadRequest)
		return
	}
	f := store.IncidentFilter{Status: filter.status, Limit: consoleListLimit + 1}
	if v := q.Get("before"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			http.Error(w, "before: want the number of the last incident of the previous page", http.StatusBadRequest)
			return
		}
		f.Before = n
	}
	recs, err := s.incidentStore.Incidents(r.Context(), p.Org, f)
	if err != nil {
		s.fail(w, r, fmt.Errorf("list incidents: %w", err))
		return
	}
	now := s.clock.Now()
	names := s.namesOf(p.Org)
	canAct := p.may(roleResponder) && s.actions != nil
	v := templates.ConsoleIncidentList{CanAct: canAct, Back: "list:" + filter.value}
	for _, fl := range incidentFilters() {
		v.Filters = append(v.Filters, templates.ConsoleLink{Label: fl.label,
			Href: consoleURL("/console/incidents", p.Org, "status", fl.value), Current: fl.value == filter.value})
	}
	if len(recs) > consoleListLimit {
		recs = recs[:consoleListLimit]
		v.NextHref = consoleURL("/console/incidents", p.Org, "status", filter.value,
			"before", strconv.Itoa(recs[len(recs)-1].Number))
	}
	if f.Before > 0 {
		v.NewestHref = consoleURL("/console/incidents", p.Org, "status", filter.value)
	}
	for _, rec := range recs {
		v.Rows = append(v.Rows, incidentRow(rec, p, names, canAct, now))
	}
	if len(v.Rows) == 0 {
		v.Empty = "No incidents here."
		if f.Before == 0 && (filter.value == "active" || filter.value == "triggered") {
			v.Empty = "Nothing open. All quiet."
		}
	}
	c := s.consoleFrame(w, r, p, "incidents", "Incidents")
	s.consoleHTML(w, r, http.StatusOK, templates.ConsoleIncidentsPage(c, v))
}

func incidentRow(rec store.IncidentRecord, p Principal, names map[string]string, canAct bool, now time.Time) templates.ConsoleIncidentRow {
	inc := rec.Incident
	row := templates.ConsoleIncidentRow{
		ID:         inc.ID,
		Anchor:     rowAnchor(inc.ID),
		Href:       consoleURL(incidentPath(inc.ID), p.Org),
		Number:     "#" + strconv.Itoa(inc.Number),
		Title:      cleanText(inc.Title),
		Status:     lifecycleStatus(inc.Lifecycle),
		Impact:     label(impactLabels, inc.Impact),
		Components: componentList(inc.Components, names),
		Started:    consoleTime(inc.StartedAt, "2 Jan 15:04 UTC"),
		Age:        incidentAge(inc, now),
		AckedBy:    inc.AckedBy,
	}
	if !inc.Published {
		row.Notes = append(row.Notes, "draft")
	}
	if inc.Lifecycle != incidents.Resolved && inc.SnoozedUntil.After(now) {
		row.Notes = append(row.Notes, "snoozed until "+inc.SnoozedUntil.UTC().Format("15:04 UTC"))
	}
	if inc.Flapping {
		row.Notes = append(row.Notes, "flapping")
	}
	if canAct && inc.Lifecycle == incidents.Triggered {
		row.AckAction = consoleURL(incidentPath(inc.ID)+"/acknowledge", p.Org)
		row.Key = newFormKey()
	}
	return row
}

// lifecycleStatus shows a lifecycle as text beside an icon.
func lifecycleStatus(l incidents.Lifecycle) templates.ConsoleStatus {
	switch l {
	case incidents.Triggered:
		return templates.ConsoleStatus{Class: "st-triggered", Icon: "▲", Label: "Triggered"}
	case incidents.Acknowledged:
		return templates.ConsoleStatus{Class: "st-acknowledged", Icon: "●", Label: "Acknowledged"}
	case incidents.Resolved:
		return templates.ConsoleStatus{Class: "st-resolved", Icon: "✓", Label: "Resolved"}
	}
	return templates.ConsoleStatus{Class: "st-unknown", Icon: "?", Label: string(l)}
}

func consoleTime(t time.Time, layout string) templates.ConsoleTime {
	if t.IsZero() {
		return templates.ConsoleTime{}
	}
	return templates.ConsoleTime{ISO: isoTime(t), Text: t.UTC().Format(layout)}
}

// consoleDateTime is the layout of times on an incident's page.
const consoleDateTime = "2 Jan 2006 15:04:05 UTC"

// incidentAge is how long an open incident has been open, or how long a
// resolved one lasted.
func incidentAge(inc incidents.Incident, now time.Time) string {
	end := now
	if inc.Lifecycle == incidents.Resolved && !inc.EndedAt.IsZero() {
		end = inc.EndedAt
	}
	return shortDuration(end.Sub(inc.StartedAt))
}

// shortDuration is a duration at a glance: "45 s", "12 m", "3 h 5 m", "2 d 4 h".
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", max(int(d/time.Second), 0))
	case d < time.Hour:
		return fmt.Sprintf("%d m", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d m", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d d %d h", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// namesOf is the organization's component names (nil when unknown).
func (s *server) namesOf(org string) map[string]string {
	if s.componentNames == nil {
		return nil
	}
	return s.componentNames(org)
}

func componentName(id string, names map[string]string) string {
	if n := names[id]; n != "" {
		return cleanText(n)
	}
	return id
}

func componentList(ids []string, names map[string]string) string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, componentName(id, names))
	}
	return strings.Join(out, ", ")
}

func (s *server) handleConsoleIncident(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderConsoleIncident(w, r, p, http.StatusOK, "", nil)
}

// renderConsoleIncident renders incident {id}'s page with status; refusal
// and the typed fields of the refused form (draft) are shown when set.
func (s *server) renderConsoleIncident(w http.ResponseWriter, r *http.Request, p Principal, status int, refusal string, draft *formDraft) {
	id := r.PathValue("id")
	rec, tl, err := s.readIncident(r.Context(), p.Org, id)
	if err != nil {
		s.consoleFail(w, r, p, err)
		return
	}
	pm, err := s.postmortemState(r.Context(), p.Org, id)
	if err != nil {
		s.consoleFail(w, r, p, err)
		return
	}
	v := s.incidentView(rec, tl, p, pm, draft)
	c := s.consoleFrame(w, r, p, "incidents", "#"+strconv.Itoa(rec.Number)+" "+cleanText(rec.Title))
	if refusal != "" {
		c.Flash, c.Error = "", refusal
	}
	s.consoleHTML(w, r, status, templates.ConsoleIncidentPage(c, v))
}

// readIncident reads org's incident id and its timeline; an id that cannot
// be an incident's is not found without a lookup.
func (s *server) readIncident(ctx context.Context, org, id string) (store.IncidentRecord, []incidents.Entry, error) {
	if !validIncidentID(id) {
		return store.IncidentRecord{}, nil, errNotFound
	}
	rec, err := s.incidentStore.Incident(ctx, org, id)
	if err != nil {
		return store.IncidentRecord{}, nil, fmt.Errorf("read incident: %w", err)
	}
	tl, err := s.incidentStore.Timeline(ctx, org, id)
	if err != nil {
		return store.IncidentRecord{}, nil, fmt.Errorf("read timeline: %w", err)
	}
	return rec, tl, nil
}

// formDraft is what a refused form held, to fill it in again.
type formDraft struct {
	action string // the incidentAction's path
	fields url.Values
}

func (d *formDraft) get(action, field string) string {
	if d == nil || d.action != action {
		return ""
	}
	return d.fields.Get(field)
}

// snoozeChoices are the snooze form's durations.
var snoozeChoices = [...]struct{ value, label string }{
	{"15m", "15 minutes"}, {"30m", "30 minutes"}, {"1h", "1 hour"}, {"2h", "2 hours"},
	{"4h", "4 hours"}, {"8h", "8 hours"}, {"24h", "24 hours"},
}

func (s *server) incidentView(rec store.IncidentRecord, tl []incidents.Entry, p Principal, pm postmortemLink, draft *formDraft) templates.ConsoleIncident {
	inc := rec.Incident
	now := s.clock.Now()
	names := s.namesOf(p.Org)
	path := incidentPath(inc.ID)
	number := "#" + strconv.Itoa(inc.Number)
	v := templates.ConsoleIncident{
		ID:        inc.ID,
		Number:    number,
		Title:     cleanText(inc.Title),
		ListHref:  consoleURL("/console/incidents", p.Org) + "#" + rowAnchor(inc.ID),
		Status:    lifecycleStatus(inc.Lifecycle),
		Published: inc.Published,
		Impact:    label(impactLabels, inc.Impact),
		Alerts:    inc.Alerts,
		Started:   consoleTime(inc.StartedAt, consoleDateTime),
		Age:       incidentAge(inc, now),
		AckedBy:   inc.AckedBy,
		AckedAt:   consoleTime(inc.AckedAt, consoleDateTime),
		Flapping:  inc.Flapping,
		Open:      inc.Lifecycle != incidents.Resolved,
		CanAct:    p.may(roleResponder) && s.actions != nil,
	}
	if pm.label != "" {
		v.Postmortem = templates.ConsoleLink{Label: pm.label, Href: consoleURL(path+"/postmortem", p.Org)}
	}
	v.PublicStatus = label(publicLabels, string(inc.Public))
	if inc.Lifecycle == incidents.Resolved {
		v.PublicStatus = label(publicLabels, string(incidents.PublicResolved))
		v.Resolved = consoleTime(inc.EndedAt, consoleDateTime)
		v.Duration = incidents.HumanDuration(inc.EndedAt.Sub(inc.StartedAt))
	} else if inc.SnoozedUntil.After(now) {
		v.SnoozedUntil = consoleTime(inc.SnoozedUntil, "15:04 UTC")
	}
	for _, id := range inc.Components {
		c := templates.ConsoleComponent{ID: id, Name: componentName(id, names)}
		if st, ok := inc.Declared[id]; ok {
			c.Declared = label(componentLabels, st)
		}
		v.Components = append(v.Components, c)
	}
	v.CanAcknowledge = v.CanAct && inc.Lifecycle == incidents.Triggered
	if v.CanAct && v.Open {
		v.Actions = templates.ConsoleIncidentActions{
			Acknowledge: consoleURL(path+"/acknowledge", p.Org), AcknowledgeKey: newFormKey(),
			Resolve: consoleURL(path+"/resolve", p.Org), ResolveKey: newFormKey(),
			Snooze: consoleURL(path+"/snooze", p.Org), SnoozeKey: newFormKey(),
			Update: consoleURL(path+"/updates", p.Org), UpdateKey: newFormKey(),
			Impact: consoleURL(path+"/impact", p.Org), ImpactKey: newFormKey(),
			Note: consoleURL(path+"/notes", p.Org), NoteKey: newFormKey(),
		}
		snooze := draft.get("snooze", "for")
		for i, c := range snoozeChoices {
			v.SnoozeOptions = append(v.SnoozeOptions, templates.ConsoleOption{Value: c.value, Label: c.label,
				Selected: c.value == snooze || (snooze == "" && i == 1)})
		}
		impact := draft.get("impact", "impact")
		if impact == "" {
			impact = string(inc.Impact)
		}
		for _, i := range []incidents.Impact{incidents.ImpactNone, incidents.ImpactMinor, incidents.ImpactMajor, incidents.ImpactCritical} {
			v.Impacts = append(v.Impacts, templates.ConsoleOption{Value: string(i), Label: label(impactLabels, i),
				Selected: string(i) == impact})
		}
		status := draft.get("updates", "status")
		if status == "" {
			status = string(inc.Public)
		}
		for _, st := range []incidents.PublicStatus{incidents.Investigating, incidents.Identified, incidents.Monitoring, incidents.PublicResolved} {
			v.PublicStatuses = append(v.PublicStatuses, templates.ConsoleOption{Value: string(st),
				Label: label(publicLabels, string(st)), Selected: string(st) == status})
		}
		for i, id := range inc.Components {
			field := "components." + id
			chosen := draft.get("updates", field)
			if chosen == "" {
				chosen = string(inc.Declared[id])
			}
			f := templates.ConsoleComponentField{Label: componentName(id, names), Name: field,
				FieldID: "update-component-" + strconv.Itoa(i)}
			f.Options = append(f.Options, templates.ConsoleOption{Value: "", Label: "Leave as is", Selected: chosen == ""})
			for _, st := range []incidents.ComponentStatus{incidents.Operational, incidents.DegradedPerformance,
				incidents.PartialOutage, incidents.MajorOutage} {
				f.Options = append(f.Options, templates.ConsoleOption{Value: string(st),
					Label: label(componentLabels, st), Selected: string(st) == chosen})
			}
			v.UpdateComponents = append(v.UpdateComponents, f)
		}
		v.UpdateBody = draft.get("updates", "body")
		v.NoteBody = draft.get("notes", "body")
		v.ResolveBody = draft.get("resolve", "body")
	}
	for i := len(tl) - 1; i >= 0; i-- {
		v.Timeline = append(v.Timeline, timelineEntry(tl[i], inc, names))
	}
	return v
}

// entryKinds word timeline entry kinds.
var entryKinds = map[string]string{
	"opened": "Opened", "joined": "Component joined", "acknowledged": "Acknowledged", "snoozed": "Snoozed",
	"snooze_ended": "Snooze ended", "note": "Note", "update": "Public update", "impact": "Impact",
	"flapping": "Flapping", "stable": "Stable", "resolved": "Resolved", "retriggered": "Re-triggered",
}

// timelineEntry shows one entry; Public marks what visitors were shown (a
// public update, or the resolution of a published incident).
func timelineEntry(e incidents.Entry, inc incidents.Incident, names map[string]string) templates.ConsoleEntry {
	out := templates.ConsoleEntry{
		At:     consoleTime(e.At, consoleDateTime),
		Actor:  cleanText(e.Actor),
		Kind:   label(entryKinds, e.Kind),
		Body:   cleanText(e.Body),
		Public: e.Kind == "update" || (e.Kind == "resolved" && inc.Published),
	}
	switch e.Kind {
	case "update":
		out.Change = label(publicLabels, e.To)
	case "joined":
		out.Change = componentName(e.To, names)
	case "impact":
		out.Change = label(impactLabels, incidents.Impact(e.From)) + " → " + label(impactLabels, incidents.Impact(e.To))
	default:
		if e.From != "" && e.To != "" && e.From != e.To {
			out.Change = e.From + " → " + e.To
		}
	}
	return out
}

// handleConsoleAction serves a console form posting action a: the form's
// fields (but _key and _back) are the API's JSON fields. A refusal of the
// input shows the incident again with the error and what was typed; an
// accepted action redirects with a flash message.
func (s *server) handleConsoleAction(a incidentAction) handlerP {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		if err := r.ParseForm(); err != nil {
			s.consoleFail(w, r, p, fmt.Errorf("read form: %w", err))
			return
		}
		key, back := r.PostForm.Get(formKey), r.PostForm.Get(formBack)
		fields := url.Values{}
		for k, vs := range r.PostForm {
			if k != formKey && k != formBack {
				fields[k] = vs
			}
		}
		id := r.PathValue("id")
		res, err := s.act(r, p, id, key, a, func(v any) error { return decodeForm(fields, v) })
		var ae *apiError
		if errors.As(err, &ae) && ae.status == http.StatusBadRequest {
			s.renderConsoleIncident(w, r, p, http.StatusUnprocessableEntity, "Not done: "+ae.message,
				&formDraft{action: a.path, fields: fields})
			return
		}
		if err != nil {
			s.consoleFail(w, r, p, err)
			return
		}
		setConsoleFlash(w, actionFlash(a, res), false)
		target := consoleURL(incidentPath(id), p.Org)
		if fl, ok := strings.CutPrefix(back, "list:"); ok {
			if f, ok := findIncidentFilter(fl); ok {
				target = consoleURL("/console/incidents", p.Org, "status", f.value) + "#" + rowAnchor(id)
			}
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	}
}

// actionFlash says what an action did.
func actionFlash(a incidentAction, res actResult) string {
	inc := res.after.Incident
	n := "#" + strconv.Itoa(inc.Number)
	if !res.changed {
		if inc.Lifecycle == incidents.Resolved {
			return "Nothing changed: " + n + " is resolved."
		}
		return "Nothing changed: " + n + " was already so."
	}
	switch a.path {
	case "acknowledge":
		return "Acknowledged " + n + "."
	case "resolve":
		return "Resolved " + n + "."
	case "snooze":
		return "Snoozed " + n + " until " + inc.SnoozedUntil.UTC().Format("15:04 UTC") + "."
	case "notes":
		return "Note added to " + n + "."
	case "updates":
		if inc.Lifecycle == incidents.Resolved {
			return "Posted the resolved update; " + n + " is resolved."
		}
		if !res.before.Published {
			return "Posted the update; " + n + " is now on the status page."
		}
		return "Posted the public update on " + n + "."
	case "impact":
		return "Impact of " + n + " is now " + strings.ToLower(label(impactLabels, inc.Impact)) + "."
	}
	return "Done: " + a.name + " " + n + "."
}

// decodeForm reads form fields into an action's request struct through
// the API's own decoder, so a form is held to exactly what a JSON body
// is: "components.<id>" fields make the components object (an empty value
// leaves that component as is), every other field is a string; a field
// given twice, or one the action does not take, is refused.
func decodeForm(form url.Values, v any) error {
	obj := map[string]any{}
	comps := map[string]string{}
	for k, vs := range form {
		if len(vs) != 1 {
			return badField(k, "given %d times, want once", len(vs))
		}
		if id, ok := strings.CutPrefix(k, "components."); ok {
			if vs[0] != "" {
				comps[id] = vs[0]
			}
			continue
		}
		obj[k] = vs[0]
	}
	if len(comps) > 0 {
		obj["components"] = comps
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode form: %w", err)
	}
	return decodeBody(body, v)
}

// consoleFail answers a console request that failed: not found (or
// another organization's) is a console page saying so, anything else goes
// the way of every error (fail).
func (s *server) consoleFail(w http.ResponseWriter, r *http.Request, p Principal, err error) {
	if errors.Is(err, errNotFound) || errors.Is(err, store.ErrNotFound) {
		c := s.consoleFrame(w, r, p, "incidents", "Not found")
		s.consoleHTML(w, r, http.StatusNotFound, templates.ConsoleNotFound(c, consoleURL("/console/incidents", p.Org)))
		return
	}
	var ae *apiError
	if errors.As(err, &ae) {
		http.Error(w, ae.message, ae.status)
		return
	}
	s.fail(w, r, err)
}
