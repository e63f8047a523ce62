package web

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/store"
)

// apiMaintenance is a maintenance window as the API shows it.
type apiMaintenance struct {
	ID         string    `json:"id"`
	Title      string    `json:"title"`
	Status     string    `json:"status"` // scheduled, in_progress, verifying, completed, cancelled
	Components []string  `json:"components"`
	StartsAt   time.Time `json:"starts_at"`
	EndsAt     time.Time `json:"ends_at"`
	// Source is "api" (scheduled through the API or the console) or
	// "config" (the configuration file; ReadOnly).
	Source    string     `json:"source"`
	ReadOnly  bool       `json:"read_only"`
	CreatedBy string     `json:"created_by"`
	CreatedAt *time.Time `json:"created_at"`
	UpdatedAt *time.Time `json:"updated_at"`
	EndedAt   *time.Time `json:"ended_at"`
}

// apiMaintenanceDetail is a window with its log.
type apiMaintenanceDetail struct {
	apiMaintenance
	Updates []apiMaintenanceUpdate `json:"updates"`
}

type apiMaintenanceUpdate struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Status string    `json:"status"`
	Body   string    `json:"body"`
	Change string    `json:"change"`
}

func newAPIMaintenance(w listedWindow, now time.Time) apiMaintenance {
	v := apiMaintenance{
		ID: w.ID, Title: w.Title, Status: string(w.StatusAt(now)), Components: orEmpty(w.Components),
		StartsAt: w.Start.UTC(), EndsAt: w.End.UTC(), Source: "api", CreatedBy: w.CreatedBy,
		CreatedAt: timePtr(w.CreatedAt), UpdatedAt: timePtr(w.UpdatedAt), EndedAt: timePtr(w.EndedAt),
	}
	if w.configured {
		v.Source, v.ReadOnly = "config", true
	}
	return v
}

// maintenanceCursor encodes a list position: the last window's start and id.
func maintenanceCursor(w store.MaintenanceWindow) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(w.Start.UnixMilli(), 10) + ":" + w.ID))
}

func parseMaintenanceCursor(c string) (time.Time, string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(c) > 256 {
		return time.Time{}, "", false
	}
	ms, id, ok := strings.Cut(string(b), ":")
	n, err := strconv.ParseInt(ms, 10, 64)
	if !ok || err != nil || !validIncidentID(id) {
		return time.Time{}, "", false
	}
	return time.UnixMilli(n).UTC(), id, true
}

// handleListMaintenances is GET /api/v1/maintenances?when=&cursor=&limit=.
func (s *server) handleListMaintenances(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	f := store.MaintenanceFilter{Now: s.clock.Now(), Limit: defaultListLimit}
	switch when := store.MaintenanceWhen(q.Get("when")); when {
	case "":
		f.When = store.MaintenanceAll
	case store.MaintenanceAll, store.MaintenanceUpcoming, store.MaintenanceActive, store.MaintenancePast:
		f.When = when
	default:
		s.failAPI(w, r, badField("when", "want upcoming, active, past or all"))
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			s.failAPI(w, r, badField("limit", "want a whole number from 1 to %d", maxListLimit))
			return
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		start, id, ok := parseMaintenanceCursor(v)
		if !ok {
			s.failAPI(w, r, badField("cursor", "want the next_cursor of the previous page"))
			return
		}
		f.AfterStart, f.AfterID = start, id
	}
	list, more, err := s.listWindows(r.Context(), p.Org, f)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("list maintenances: %w", err))
		return
	}
	resp := struct {
		Maintenances []apiMaintenance `json:"maintenances"`
		NextCursor   *string          `json:"next_cursor"`
	}{Maintenances: make([]apiMaintenance, 0, len(list))}
	for _, lw := range list {
		resp.Maintenances = append(resp.Maintenances, newAPIMaintenance(lw, f.Now))
	}
	if more {
		c := maintenanceCursor(list[len(list)-1].MaintenanceWindow)
		resp.NextCursor = &c
	}
	respondJSON(w, http.StatusOK, resp)
}

// maintenanceDetail reads a window with its log: a stored one, or a
// configured one (read-only, without a log).
func (s *server) maintenanceDetail(r *http.Request, org, id string) (apiMaintenanceDetail, error) {
	ctx := r.Context()
	now := s.clock.Now()
	wnd, err := s.findWindow(ctx, org, id)
	if ro, ok := err.(*apiError); ok && ro.code == "read_only" {
		dir, err := s.directory.Directory(ctx, org)
		if err != nil {
			return apiMaintenanceDetail{}, fmt.Errorf("read directory: %w", err)
		}
		m, _ := dir.maintenance(id)
		return apiMaintenanceDetail{apiMaintenance: newAPIMaintenance(listedWindow{configuredWindow(org, m), true}, now),
			Updates: []apiMaintenanceUpdate{}}, nil
	}
	if err != nil {
		return apiMaintenanceDetail{}, err
	}
	us, err := s.scheduling.MaintenanceUpdates(ctx, org, id)
	if err != nil {
		return apiMaintenanceDetail{}, err
	}
	d := apiMaintenanceDetail{apiMaintenance: newAPIMaintenance(listedWindow{MaintenanceWindow: wnd}, now),
		Updates: make([]apiMaintenanceUpdate, 0, len(us))}
	for _, u := range us {
		d.Updates = append(d.Updates, apiMaintenanceUpdate{Seq: u.Seq, At: u.At.UTC(), Actor: u.Actor,
			Status: string(u.Status), Body: u.Body, Change: u.Change})
	}
	return d, nil
}

// respondMaintenance answers the window id as it now stands.
func (s *server) respondMaintenance(w http.ResponseWriter, r *http.Request, org, id string, status int) {
	d, err := s.maintenanceDetail(r, org, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, status, struct {
		Maintenance apiMaintenanceDetail `json:"maintenance"`
	}{d})
}

func (s *server) handleGetMaintenance(w http.ResponseWriter, r *http.Request, p Principal) {
	s.respondMaintenance(w, r, p.Org, r.PathValue("id"), http.StatusOK)
}

// maintenanceRequest is the body of POST and PATCH /api/v1/maintenances.
type maintenanceRequest struct {
	Title      *string   `json:"title"`
	Components *[]string `json:"components"`
	StartsAt   *string   `json:"starts_at"`
	EndsAt     *string   `json:"ends_at"`
	Message    *string   `json:"message"`
}

// readJSON reads r's body into v (decodeBody's rules).
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	return decodeBody(body, v)
}

// apiTime parses an optional RFC 3339 time field.
func apiTime(field string, v *string) (*time.Time, error) {
	if v == nil {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, *v)
	if err != nil {
		return nil, badField(field, "want an RFC 3339 time such as 2026-03-10T04:00:00Z")
	}
	return &t, nil
}

// readMaintenanceDraft reads a maintenanceRequest body as a draft.
func readMaintenanceDraft(r *http.Request) (maintenanceDraft, error) {
	var req maintenanceRequest
	if err := readJSON(r, &req); err != nil {
		return maintenanceDraft{}, err
	}
	d := maintenanceDraft{Title: req.Title, Components: req.Components, Message: req.Message}
	var err error
	if d.Start, err = apiTime("starts_at", req.StartsAt); err != nil {
		return d, err
	}
	if d.End, err = apiTime("ends_at", req.EndsAt); err != nil {
		return d, err
	}
	return d, nil
}

// handleCreateMaintenance is POST /api/v1/maintenances: 201 with the window.
func (s *server) handleCreateMaintenance(w http.ResponseWriter, r *http.Request, p Principal) {
	d, err := readMaintenanceDraft(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	wnd, err := s.createMaintenance(r.Context(), p, d)
	if wnd.ID != "" {
		noteAudit(r, wnd.ID, "scheduled "+windowSummary(wnd))
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	s.respondMaintenance(w, r, p.Org, wnd.ID, http.StatusCreated)
}

// handlePatchMaintenance is PATCH /api/v1/maintenances/{id}.
func (s *server) handlePatchMaintenance(w http.ResponseWriter, r *http.Request, p Principal) {
	d, err := readMaintenanceDraft(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	id := r.PathValue("id")
	before, after, err := s.rescheduleMaintenance(r.Context(), p, id, d)
	if after.ID != "" {
		noteAudit(r, id, "before: "+windowSummary(before)+"; after: "+windowSummary(after))
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	s.respondMaintenance(w, r, p.Org, id, http.StatusOK)
}

// handleMaintenanceUpdate is POST /api/v1/maintenances/{id}/updates.
func (s *server) handleMaintenanceUpdate(w http.ResponseWriter, r *http.Request, p Principal) {
	var req struct {
		Status string `json:"status"`
		Body   string `json:"body"`
	}
	if err := readJSON(r, &req); err != nil {
		s.failAPI(w, r, err)
		return
	}
	id := r.PathValue("id")
	before, after, err := s.postMaintenanceUpdate(r.Context(), p, id, req.Status, req.Body)
	if after.ID != "" {
		noteAudit(r, id, fmt.Sprintf("update posted (%d bytes); status %s → %s", len(strings.TrimSpace(req.Body)),
			before.StatusAt(after.UpdatedAt), after.StatusAt(after.UpdatedAt)))
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	s.respondMaintenance(w, r, p.Org, id, http.StatusOK)
}

// handleMaintenanceEnd is POST /api/v1/maintenances/{id}/cancel and
// /complete, with an optional {"body"}.
func (s *server) handleMaintenanceEnd(to incidents.MaintenanceStatus) handlerP {
	return func(w http.ResponseWriter, r *http.Request, p Principal) {
		var req struct {
			Body string `json:"body"`
		}
		if err := readJSON(r, &req); err != nil {
			s.failAPI(w, r, err)
			return
		}
		id := r.PathValue("id")
		before, after, err := s.endMaintenance(r.Context(), p, id, to, req.Body)
		if after.ID != "" {
			noteAudit(r, id, fmt.Sprintf("status %s → %s: %s", before.StatusAt(after.UpdatedAt), to, windowSummary(after)))
		}
		if err != nil {
			s.failAPI(w, r, err)
			return
		}
		s.respondMaintenance(w, r, p.Org, id, http.StatusOK)
	}
}
