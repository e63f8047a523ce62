package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
)

// IncidentActions applies events to an organization's incidents and returns
// their effects once committed (the incident engine's Do).
type IncidentActions interface {
	Do(ctx context.Context, org string, evs ...incidents.Event) ([]incidents.Effect, error)
}

// IncidentReader reads committed incidents (store.DB). Incident and
// Timeline return an error wrapping store.ErrNotFound for an incident the
// organization does not have.
type IncidentReader interface {
	Incident(ctx context.Context, org, id string) (store.IncidentRecord, error)
	Incidents(ctx context.Context, org string, f store.IncidentFilter) ([]store.IncidentRecord, error)
	Timeline(ctx context.Context, org, id string) ([]incidents.Entry, error)
}

// API limits.
const (
	defaultListLimit = 50
	maxListLimit     = 200
	// maxText bounds a note, update or resolution text.
	maxText = 16 << 10
	// maxSnooze bounds a snooze: longer silences belong in maintenance.
	maxSnooze = 7 * 24 * time.Hour
	// maxIdempotencyKey bounds the Idempotency-Key header.
	maxIdempotencyKey = 255
)

// apiIncident is an incident as the API shows it.
type apiIncident struct {
	ID             string     `json:"id"`
	Number         int        `json:"number"`
	Title          string     `json:"title"`
	Status         string     `json:"status"` // triggered, acknowledged, resolved
	PublicStatus   string     `json:"public_status"`
	Published      bool       `json:"published"`
	Impact         string     `json:"impact"`
	Components     []string   `json:"components"`
	Alerts         []string   `json:"alerts"`
	Flapping       bool       `json:"flapping"`
	StartedAt      time.Time  `json:"started_at"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	AcknowledgedBy string     `json:"acknowledged_by,omitempty"`
	SnoozedUntil   *time.Time `json:"snoozed_until"`
	ResolvedAt     *time.Time `json:"resolved_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// apiIncidentDetail is an incident with its timeline.
type apiIncidentDetail struct {
	apiIncident
	Timeline []apiEntry `json:"timeline"`
}

type apiEntry struct {
	Seq   int       `json:"seq"`
	At    time.Time `json:"at"`
	Actor string    `json:"actor"`
	Kind  string    `json:"kind"`
	From  string    `json:"from,omitempty"`
	To    string    `json:"to,omitempty"`
	Body  string    `json:"body,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// newAPIIncident shows rec as of now (a snooze that has ended is not shown).
func newAPIIncident(rec store.IncidentRecord, now time.Time) apiIncident {
	inc := rec.Incident
	v := apiIncident{
		ID:             inc.ID,
		Number:         inc.Number,
		Title:          inc.Title,
		Status:         string(inc.Lifecycle),
		PublicStatus:   string(inc.Public),
		Published:      inc.Published,
		Impact:         string(inc.Impact),
		Components:     orEmpty(inc.Components),
		Alerts:         orEmpty(inc.Alerts),
		Flapping:       inc.Flapping,
		StartedAt:      inc.StartedAt.UTC(),
		AcknowledgedAt: timePtr(inc.AckedAt),
		AcknowledgedBy: inc.AckedBy,
		ResolvedAt:     timePtr(inc.EndedAt),
		UpdatedAt:      rec.UpdatedAt.UTC(),
	}
	if inc.Lifecycle != incidents.Resolved && inc.SnoozedUntil.After(now) {
		v.SnoozedUntil = timePtr(inc.SnoozedUntil)
	}
	return v
}

func newAPIIncidentDetail(rec store.IncidentRecord, tl []incidents.Entry, now time.Time) apiIncidentDetail {
	d := apiIncidentDetail{apiIncident: newAPIIncident(rec, now), Timeline: make([]apiEntry, 0, len(tl))}
	for _, e := range tl {
		d.Timeline = append(d.Timeline, apiEntry{Seq: e.Seq, At: e.At.UTC(), Actor: e.Actor, Kind: e.Kind,
			From: e.From, To: e.To, Body: e.Body})
	}
	return d
}

func (s *server) handleListIncidents(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	var f store.IncidentFilter
	switch q.Get("status") {
	case "", "all":
		f.Status = store.AllIncidents
	case "open":
		f.Status = store.OpenIncidents
	case "resolved":
		f.Status = store.ResolvedIncidents
	default:
		s.failAPI(w, r, badField("status", "want open, resolved or all"))
		return
	}
	limit := defaultListLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.failAPI(w, r, badField("limit", "want a whole number from 1 to %d", maxListLimit))
			return
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.failAPI(w, r, badField("before", "want the next_cursor of the previous page"))
			return
		}
		f.Before = n
	}
	// One more than the page tells whether there is a next page.
	f.Limit = limit + 1
	recs, err := s.incidentStore.Incidents(r.Context(), p.Org, f)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("list incidents: %w", err))
		return
	}
	resp := struct {
		Incidents  []apiIncident `json:"incidents"`
		NextCursor *string       `json:"next_cursor"`
	}{Incidents: make([]apiIncident, 0, min(len(recs), limit))}
	if len(recs) > limit {
		recs = recs[:limit]
		next := strconv.Itoa(recs[limit-1].Number)
		resp.NextCursor = &next
	}
	for _, rec := range recs {
		resp.Incidents = append(resp.Incidents, newAPIIncident(rec, s.clock.Now()))
	}
	respondJSON(w, http.StatusOK, resp)
}

func (s *server) handleGetIncident(w http.ResponseWriter, r *http.Request, p Principal) {
	d, err := s.incidentDetail(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusOK, struct {
		Incident apiIncidentDetail `json:"incident"`
	}{d})
}

// incidentDetail reads an incident with its timeline; an id that cannot be
// an incident's is not found without a lookup.
func (s *server) incidentDetail(ctx context.Context, org, id string) (apiIncidentDetail, error) {
	if !validIncidentID(id) {
		return apiIncidentDetail{}, errNotFound
	}
	rec, err := s.incidentStore.Incident(ctx, org, id)
	if err != nil {
		return apiIncidentDetail{}, fmt.Errorf("read incident: %w", err)
	}
	tl, err := s.incidentStore.Timeline(ctx, org, id)
	if err != nil {
		return apiIncidentDetail{}, fmt.Errorf("read timeline: %w", err)
	}
	return newAPIIncidentDetail(rec, tl, s.clock.Now()), nil
}

// validIncidentID accepts what Lookout issues ("<org>-<n>"): short,
// printable ASCII without spaces or slashes.
func validIncidentID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c >= 0x7f || c == '/' {
			return false
		}
	}
	return true
}

// action names who does what to which incident, and the id the engine
// recognises a repeat of the same request by.
type action struct {
	eventID  string
	incident string
	actor    string
}

// actionBuilder reads an action's request into its event: decode fills the
// action's request struct (from a JSON body for the API, from a form for
// the console, with the same field names) and the builder validates it.
type actionBuilder func(decode func(any) error, a action) (incidents.Event, error)

// incidentAction is one thing a responder does to an incident, the same
// through the API (POST /api/v1/incidents/{id}/<path>) and the console
// (POST /console/incidents/{id}/<path>).
type incidentAction struct {
	name  string // for logs and audit summaries
	path  string
	build actionBuilder
}

// incidentActions is the one list of incident actions.
func incidentActions() []incidentAction {
	return []incidentAction{
		{"acknowledge", "acknowledge", buildAcknowledge},
		{"resolve", "resolve", buildResolve},
		{"snooze", "snooze", buildSnooze},
		{"note", "notes", buildNote},
		{"update", "updates", buildUpdate},
		{"impact", "impact", buildImpact},
	}
}

// actResult is what an applied action did.
type actResult struct {
	changed bool
	// before and after are the incident as it stood either side.
	before, after store.IncidentRecord
}

// act applies action a to p's organization's incident id: it builds the
// event (decode reads the request; key is the client's idempotency key,
// "" for none), refuses an incident the organization does not have (not
// found, before anything is applied), applies the event, and notes the
// change for the audit log (sizes, never the text). The API and the
// console both come here.
func (s *server) act(r *http.Request, p Principal, id, key string, a incidentAction, decode func(any) error) (actResult, error) {
	ctx := r.Context()
	if !validIncidentID(id) {
		return actResult{}, errNotFound
	}
	eventID, err := idempotencyID(key, p.User)
	if err != nil {
		return actResult{}, err
	}
	ev, err := a.build(decode, action{eventID: eventID, incident: id, actor: p.User})
	if err != nil {
		return actResult{}, err
	}
	var res actResult
	if res.before, err = s.incidentStore.Incident(ctx, p.Org, id); err != nil {
		return actResult{}, fmt.Errorf("read incident: %w", err)
	}
	effs, err := s.actions.Do(ctx, p.Org, ev)
	if err != nil {
		return actResult{}, fmt.Errorf("%s incident: %w", a.name, err)
	}
	res.changed = applied(effs, id, eventID)
	if res.after, err = s.incidentStore.Incident(ctx, p.Org, id); err != nil {
		return actResult{}, fmt.Errorf("read incident: %w", err)
	}
	if err := s.refuseResolved(ctx, p.Org, id, a, eventID, res); err != nil {
		return actResult{}, err
	}
	s.logger.InfoContext(ctx, "incident action", "org", p.Org, "user", p.User, "via", p.Via, "action", a.name,
		"incident", id, "changed", res.changed)
	noteAudit(r, id, actionSummary(ev, res))
	return res, nil
}

// refuseResolved answers 409 for an action that changed nothing because
// its incident is resolved (it may have resolved between the responder's
// look and the request): the timeline of a resolved incident takes no more
// entries, and a 200 would tell the responder that their update or note
// was recorded when it was not. Resolving a resolved incident is fine (the
// wish is met), and so is a request the incident already took (a retry
// with the same Idempotency-Key).
func (s *server) refuseResolved(ctx context.Context, org, id string, a incidentAction, eventID string, res actResult) error {
	if res.changed || a.name == "resolve" || res.after.Incident.Lifecycle != incidents.Resolved {
		return nil
	}
	tl, err := s.incidentStore.Timeline(ctx, org, id)
	if err != nil {
		return fmt.Errorf("read timeline: %w", err)
	}
	for _, e := range tl {
		if e.EventID == eventID {
			return nil
		}
	}
	msg := "incident " + id + " is resolved"
	if at := res.after.Incident.EndedAt; !at.IsZero() {
		msg += " (since " + at.UTC().Format(time.RFC3339) + ")"
	}
	return &apiError{status: http.StatusConflict, code: "resolved",
		message: msg + "; a resolved incident's timeline takes no more " + a.name + "s — nothing was recorded"}
}

// actionSummary words an action for the audit log: what was asked, with
// sizes instead of texts, and the incident's state before and after.
func actionSummary(ev incidents.Event, res actResult) string {
	var what string
	switch ev := ev.(type) {
	case incidents.Acknowledge:
		what = "acknowledge"
	case incidents.Resolve:
		what = fmt.Sprintf("resolve (note %d bytes)", len(ev.Body))
	case incidents.Snooze:
		what = "snooze for " + ev.For.String()
	case incidents.AddNote:
		what = fmt.Sprintf("note (%d bytes)", len(ev.Body))
	case incidents.PublicUpdate:
		what = fmt.Sprintf("public update: status %q, body %d bytes", orNone(string(ev.Status)), len(ev.Body))
		for _, id := range slices.Sorted(maps.Keys(ev.ComponentStatuses)) {
			what += fmt.Sprintf(", %s=%s", id, ev.ComponentStatuses[id])
		}
	case incidents.SetImpact:
		what = "impact " + string(ev.Impact)
	default:
		what = fmt.Sprintf("%T", ev)
	}
	b, a := res.before.Incident, res.after.Incident
	if !res.changed {
		return what + "; no change"
	}
	return fmt.Sprintf("%s; %s/%s/%s/published=%v -> %s/%s/%s/published=%v", what,
		b.Lifecycle, b.Public, b.Impact, b.Published, a.Lifecycle, a.Public, a.Impact, a.Published)
}

func orNone(s string) string {
	if s == "" {
		return "unchanged"
	}
	return s
}

// handleAction serves POST /api/v1/incidents/{id}/<action>: it applies the
// action read from the JSON body (404 for an incident the organization
// does not have, before anything is applied) and answers with the incident
// as it now stands and whether anything changed.
func (s *server) handleAction(a incidentAction) func(http.ResponseWriter, *http.Request, Principal) {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		id := r.PathValue("id")
		body, err := io.ReadAll(r.Body)
		if err != nil {
			s.failAPI(w, r, fmt.Errorf("read body: %w", err))
			return
		}
		res, err := s.act(r, p, id, r.Header.Get("Idempotency-Key"), a, func(v any) error { return decodeBody(body, v) })
		if err != nil {
			s.failAPI(w, r, err)
			return
		}
		d, err := s.incidentDetail(r.Context(), p.Org, id)
		if err != nil {
			s.failAPI(w, r, err)
			return
		}
		respondJSON(w, http.StatusOK, struct {
			Incident apiIncidentDetail `json:"incident"`
			Changed  bool              `json:"changed"`
		}{d, res.changed})
	}
}

// applied reports whether the human event eventID changed incident id:
// every human action that changes an incident writes one timeline entry
// under its event id. Other effects do not count: the timers due at the
// event's time fire before it, so an incident can auto-resolve, escalate
// or end its snooze in the same commit as an update it then refuses, and
// the responder must not be told their update was recorded.
func applied(effs []incidents.Effect, id, eventID string) bool {
	if eventID == "" {
		return false
	}
	for _, ef := range effs {
		if ef, ok := ef.(incidents.TimelineAppended); ok && ef.Incident == id && ef.Entry.EventID == eventID {
			return true
		}
	}
	return false
}

// idempotencyID is the event id of an API action: the Idempotency-Key
// header scoped to the user (two users' keys never collide), or a fresh
// random id. The engine drops an event whose id an incident's timeline
// already holds, so a retried request changes nothing the second time.
func idempotencyID(key, user string) (string, error) {
	if key == "" {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		return "api:" + hex.EncodeToString(b[:]), nil
	}
	if len(key) > maxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < ' ' || r >= 0x7f }) {
		return "", badField("Idempotency-Key", "want at most %d printable ASCII characters", maxIdempotencyKey)
	}
	return "api:" + user + ":" + key, nil
}

// decodeBody decodes a JSON object into v; an empty body is an empty
// object. Unknown fields, trailing data and wrong types are 400s naming
// what is wrong.
func decodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var (
			syn *json.SyntaxError
			typ *json.UnmarshalTypeError
		)
		switch {
		case errors.As(err, &syn):
			return &apiError{status: http.StatusBadRequest, code: "invalid_json",
				message: fmt.Sprintf("invalid JSON at offset %d: %v", syn.Offset, syn)}
		case errors.Is(err, io.ErrUnexpectedEOF):
			return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "invalid JSON: unexpected end of body"}
		case errors.As(err, &typ):
			if typ.Field == "" {
				return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "the body must be a JSON object"}
			}
			return badField(typ.Field, "got a JSON %s, want %s", typ.Value, typ.Type.Kind())
		}
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			f = strings.Trim(f, `"`)
			return &apiError{status: http.StatusBadRequest, code: "unknown_field", field: f, message: "unknown field " + strconv.Quote(f)}
		}
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "invalid JSON: " + err.Error()}
	}
	if _, err := dec.Token(); err != io.EOF {
		return &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "invalid JSON: data after the object"}
	}
	return nil
}

// textField validates a free-text field.
func textField(field, v string, required bool) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "" && required:
		return "", badField(field, "required")
	case len(v) > maxText:
		return "", badField(field, "longer than %d bytes", maxText)
	}
	return v, nil
}

func buildAcknowledge(decode func(any) error, a action) (incidents.Event, error) {
	var req struct{}
	if err := decode(&req); err != nil {
		return nil, err
	}
	return incidents.Acknowledge{ID: a.eventID, Incident: a.incident, Actor: a.actor}, nil
}

func buildResolve(decode func(any) error, a action) (incidents.Event, error) {
	var req struct {
		Body string `json:"body"`
	}
	if err := decode(&req); err != nil {
		return nil, err
	}
	b, err := textField("body", req.Body, false)
	if err != nil {
		return nil, err
	}
	return incidents.Resolve{ID: a.eventID, Incident: a.incident, Actor: a.actor, Body: b}, nil
}

func buildSnooze(decode func(any) error, a action) (incidents.Event, error) {
	var req struct {
		For string `json:"for"`
	}
	if err := decode(&req); err != nil {
		return nil, err
	}
	if req.For == "" {
		return nil, badField("for", "required: a duration such as \"30m\" or \"2h\"")
	}
	d, err := time.ParseDuration(req.For)
	if err != nil || d < time.Minute || d > maxSnooze {
		return nil, badField("for", "want a duration from 1m to %s, such as \"30m\"", "168h")
	}
	return incidents.Snooze{ID: a.eventID, Incident: a.incident, Actor: a.actor, For: d}, nil
}

func buildNote(decode func(any) error, a action) (incidents.Event, error) {
	var req struct {
		Body string `json:"body"`
	}
	if err := decode(&req); err != nil {
		return nil, err
	}
	b, err := textField("body", req.Body, true)
	if err != nil {
		return nil, err
	}
	return incidents.AddNote{ID: a.eventID, Incident: a.incident, Actor: a.actor, Body: b}, nil
}

func buildUpdate(decode func(any) error, a action) (incidents.Event, error) {
	var req struct {
		Status     string            `json:"status"`
		Body       string            `json:"body"`
		Components map[string]string `json:"components"`
	}
	if err := decode(&req); err != nil {
		return nil, err
	}
	status := incidents.PublicStatus(req.Status)
	if req.Status != "" && !status.Valid() {
		return nil, badField("status", "want investigating, identified, monitoring or resolved")
	}
	b, err := textField("body", req.Body, true)
	if err != nil {
		return nil, err
	}
	ev := incidents.PublicUpdate{ID: a.eventID, Incident: a.incident, Actor: a.actor, Status: status, Body: b}
	if len(req.Components) > 0 {
		ev.ComponentStatuses = make(map[string]incidents.ComponentStatus, len(req.Components))
		ids := make([]string, 0, len(req.Components))
		for id := range req.Components {
			ids = append(ids, id)
		}
		sort.Strings(ids) // the first bad one named is always the same
		for _, id := range ids {
			cs := incidents.ComponentStatus(req.Components[id])
			if !cs.Valid() || cs == incidents.UnderMaintenance {
				return nil, badField("components."+id,
					"want operational, degraded_performance, partial_outage or major_outage")
			}
			ev.ComponentStatuses[id] = cs
		}
	}
	return ev, nil
}

func buildImpact(decode func(any) error, a action) (incidents.Event, error) {
	var req struct {
		Impact string `json:"impact"`
	}
	if err := decode(&req); err != nil {
		return nil, err
	}
	impact := incidents.Impact(req.Impact)
	if !impact.Valid() {
		return nil, badField("impact", "want none, minor, major or critical")
	}
	return incidents.SetImpact{ID: a.eventID, Incident: a.incident, Actor: a.actor, Impact: impact}, nil
}

// respondJSON answers v as JSON with status; API answers are never cached.
func respondJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil { // only for values that cannot be JSON: a bug
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n')) // a failed write means the client left
}
