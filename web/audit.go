package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The audit log (read by admins: /console/audit, /api/v1/audit and its
// JSON-lines export).

// AuditReader reads an organization's audit log, newest first.
// *store.DB implements it.
type AuditReader interface {
	AuditEntries(ctx context.Context, org string, q store.AuditQuery) ([]store.AuditEntry, error)
}

// StoreAuditLog is the AuditLog that appends to the store's append-only
// audit table.
func StoreAuditLog(db *store.DB) AuditLog { return storeAudit{db} }

type storeAudit struct{ db *store.DB }

func (a storeAudit) Record(ctx context.Context, e AuditEntry) error {
	return a.db.AppendAudit(ctx, store.AuditEntry{Time: e.Time, Org: e.Org, Actor: e.Actor, Role: e.Role, Via: e.Via,
		Action: e.Action, Target: e.Target, Status: e.Status, Summary: e.Summary, ClientIP: e.ClientIP})
}

type apiAuditEntry struct {
	ID       int64     `json:"id"`
	Time     time.Time `json:"time"`
	Actor    string    `json:"actor"`
	Role     string    `json:"role"`
	Via      string    `json:"via"`
	Action   string    `json:"action"`
	Target   string    `json:"target"`
	Status   int       `json:"status"`
	Summary  string    `json:"summary"`
	ClientIP string    `json:"client_ip"`
}

func newAPIAuditEntry(e store.AuditEntry) apiAuditEntry {
	return apiAuditEntry{ID: e.ID, Time: e.Time, Actor: e.Actor, Role: e.Role, Via: e.Via, Action: e.Action,
		Target: e.Target, Status: e.Status, Summary: e.Summary, ClientIP: e.ClientIP}
}

const defaultAuditPage = 100

// auditQuery reads the filters ?actor= ?action= (a substring of the route)
// ?target= ?since= ?until= (RFC 3339), the cursor and the limit.
func auditQuery(q url.Values, defLimit int) (store.AuditQuery, error) {
	aq := store.AuditQuery{Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Limit: defLimit}
	for _, f := range []struct {
		name string
		dst  *time.Time
	}{{"since", &aq.Since}, {"until", &aq.Until}} {
		if v := q.Get(f.name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return aq, badField(f.name, "want an RFC 3339 time such as 2026-03-10T03:12:00Z")
			}
			*f.dst = t
		}
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return aq, badField("cursor", "want the next_cursor of the previous page")
		}
		aq.Before = n
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > store.MaxAuditPage-1 {
			return aq, badField("limit", "want a whole number from 1 to %d", store.MaxAuditPage-1)
		}
		aq.Limit = n
	}
	return aq, nil
}

// auditPage reads one page of q and the cursor of the next ("" at the
// end).
func (s *server) auditPage(ctx context.Context, org string, q store.AuditQuery) ([]store.AuditEntry, string, error) {
	limit := q.Limit
	q.Limit = limit + 1
	es, err := s.auditReader.AuditEntries(ctx, org, q)
	if err != nil {
		return nil, "", err
	}
	if len(es) > limit {
		es = es[:limit]
		return es, strconv.FormatInt(es[limit-1].ID, 10), nil
	}
	return es, "", nil
}

func (s *server) handleListAudit(w http.ResponseWriter, r *http.Request, p Principal) {
	q, err := auditQuery(r.URL.Query(), defaultAuditPage)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	es, next, err := s.auditPage(r.Context(), p.Org, q)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("list audit entries: %w", err))
		return
	}
	resp := struct {
		Entries    []apiAuditEntry `json:"entries"`
		NextCursor *string         `json:"next_cursor"`
	}{Entries: make([]apiAuditEntry, 0, len(es))}
	for _, e := range es {
		resp.Entries = append(resp.Entries, newAPIAuditEntry(e))
	}
	if next != "" {
		resp.NextCursor = &next
	}
	respondJSON(w, http.StatusOK, resp)
}

// handleExportAudit streams every matching entry as JSON lines, newest
// first, a page at a time.
func (s *server) handleExportAudit(w http.ResponseWriter, r *http.Request, p Principal) {
	q, err := auditQuery(r.URL.Query(), store.MaxAuditPage-1)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/jsonl")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="audit-`+p.Org+`.jsonl"`)
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for {
		es, next, err := s.auditPage(r.Context(), p.Org, q)
		if err != nil {
			// Headers may be out: log, and end the stream short.
			s.logger.ErrorContext(r.Context(), "audit export failed", "org", p.Org, "err", err)
			break
		}
		for _, e := range es {
			if err := enc.Encode(newAPIAuditEntry(e)); err != nil {
				return // the client left
			}
		}
		if next == "" {
			break
		}
		q.Before, _ = strconv.ParseInt(next, 10, 64)
	}
	_ = bw.Flush() // a failed write means the client left
}

func (s *server) handleAuditPage(w http.ResponseWriter, r *http.Request, p Principal) {
	vals := r.URL.Query()
	q, err := auditQuery(vals, defaultAuditPage)
	if err != nil {
		q = store.AuditQuery{Limit: defaultAuditPage}
	}
	es, next, err := s.auditPage(r.Context(), p.Org, q)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v := templates.AuditPage{Console: s.consoleFrame(w, r, p, "audit", "Audit log"),
		Actor: q.Actor, Action: q.Action, Target: q.Target}
	for _, e := range es {
		v.Entries = append(v.Entries, templates.AuditRow{Time: e.Time.UTC().Format("2006-01-02 15:04:05"),
			Actor: e.Actor, Role: e.Role, Via: e.Via, Action: e.Action, Target: e.Target, Summary: e.Summary,
			ClientIP: e.ClientIP, Status: e.Status})
	}
	if next != "" {
		nv := url.Values{"org": {p.Org}, "cursor": {next}}
		for _, k := range []string{"actor", "action", "target"} {
			if vals.Get(k) != "" {
				nv.Set(k, vals.Get(k))
			}
		}
		v.Next = "/console/audit?" + nv.Encode()
	}
	s.consoleHTML(w, r, http.StatusOK, templates.AuditView(v))
}
