package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/a-h/templ"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// Postmortems: the console's editor and the API.
//
//	GET  /console/incidents/{id}/postmortem           editor (viewers read)
//	POST /console/incidents/{id}/postmortem           save the draft
//	POST /console/incidents/{id}/postmortem/preview   render, save nothing
//	POST /console/incidents/{id}/postmortem/publish   save and publish
//	GET  /api/v1/incidents/{id}/postmortem
//	PUT  /api/v1/incidents/{id}/postmortem            body: the Markdown
//	POST /api/v1/incidents/{id}/postmortem/publish    publish the saved draft
//
// A postmortem nobody saved yet starts from incidents.PostmortemDraft, built
// from the timeline. Preview renders through the same sanitising renderer
// and the same cleaning as the public incident page (postmortemHTML).
// Publishing needs a resolved incident that visitors saw (published): the
// text then shows on its public page and subscribers get a postmortem
// event, queued in the same transaction as the publication.

// PostmortemStore keeps incidents' postmortems (store.DB).
type PostmortemStore interface {
	// Postmortem returns the incident's postmortem or an error wrapping
	// store.ErrNotFound.
	Postmortem(ctx context.Context, org, incident string) (store.Postmortem, error)
	SavePostmortem(ctx context.Context, org, incident, body, who string) error
	// PublishPostmortemBody saves and publishes body, queueing deliveries
	// in the same transaction.
	PublishPostmortemBody(ctx context.Context, org, incident, body, who string, deliveries []notify.Delivery) error
}

// PostmortemNotices builds the deliveries telling subscribers that inc's
// (timeline included) postmortem, body, was published at now. It must
// answer from memory.
type PostmortemNotices func(org string, inc incidents.Incident, body string, now time.Time) []notify.Delivery

// maxPostmortemForm caps a request carrying a postmortem: a form encodes
// each byte in at most three; the Markdown itself is then held to
// store.MaxPostmortemBytes.
const maxPostmortemForm = 3*store.MaxPostmortemBytes + 4<<10

// postmortemRequestLimit is the body cap of a postmortem route (0: not
// one, the general cap applies). protect calls it.
func postmortemRequestLimit(path string) int64 {
	rest, ok := strings.CutPrefix(path, "/console/incidents/")
	if !ok {
		if rest, ok = strings.CutPrefix(path, "/api/v1/incidents/"); !ok {
			return 0
		}
	}
	_, tail, _ := strings.Cut(rest, "/")
	switch tail {
	case "postmortem", "postmortem/preview", "postmortem/publish":
		return maxPostmortemForm
	}
	return 0
}

func (s *server) postmortemRoutes(mux *http.ServeMux) {
	if s.postmortems == nil {
		return
	}
	s.console(mux, "GET /console/incidents/{id}/postmortem", roleViewer, s.handleConsolePostmortem)
	s.console(mux, "POST /console/incidents/{id}/postmortem", roleResponder, s.handleConsolePostmortemSave)
	s.console(mux, "POST /console/incidents/{id}/postmortem/preview", roleResponder, s.handleConsolePostmortemPreview)
	s.console(mux, "POST /console/incidents/{id}/postmortem/publish", roleResponder, s.handleConsolePostmortemPublish)
	s.api(mux, "GET /api/v1/incidents/{id}/postmortem", roleViewer, s.handleGetPostmortem)
	s.api(mux, "PUT /api/v1/incidents/{id}/postmortem", roleResponder, s.handlePutPostmortem)
	s.api(mux, "POST /api/v1/incidents/{id}/postmortem/publish", roleResponder, s.handlePublishPostmortem)
}

// postmortemHTML renders Markdown as the public incident page does: the
// page's text cleaning, then the sanitising renderer.
func postmortemHTML(md string) (string, error) {
	return postmortemMarkdown().HTML(cleanText(md))
}

// postmortemLink is how an incident's page points at its postmortem.
type postmortemLink struct{ label string }

func (s *server) postmortemState(ctx context.Context, org, id string) (postmortemLink, error) {
	if s.postmortems == nil {
		return postmortemLink{}, nil
	}
	pm, err := s.postmortems.Postmortem(ctx, org, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return postmortemLink{"Not written yet: start one"}, nil
	case err != nil:
		return postmortemLink{}, fmt.Errorf("read postmortem: %w", err)
	case pm.Status == store.PostmortemPublished:
		return postmortemLink{"Published"}, nil
	}
	return postmortemLink{"Draft"}, nil
}

// postmortemOf is an incident with its postmortem, saved or not.
type postmortemOf struct {
	rec   store.IncidentRecord
	tl    []incidents.Entry
	pm    store.Postmortem
	saved bool
}

// incident is the record with its timeline.
func (x postmortemOf) incident() incidents.Incident {
	inc := x.rec.Incident
	inc.Timeline = x.tl
	return inc
}

// publishBlocked says why the postmortem cannot be published ("" when it
// can): visitors must have seen the incident, and it must be over.
func (x postmortemOf) publishBlocked() string {
	switch {
	case !x.rec.Published:
		return "This incident was never on the status page, so its postmortem cannot be published; keep it as a draft for the team."
	case x.rec.Lifecycle != incidents.Resolved:
		return "The postmortem can be published once the incident is resolved; save drafts meanwhile."
	}
	return ""
}

// readPostmortem reads org's incident id and its postmortem; one nobody
// saved yet is the draft generated from the timeline.
func (s *server) readPostmortem(ctx context.Context, org, id string) (postmortemOf, error) {
	rec, tl, err := s.readIncident(ctx, org, id)
	if err != nil {
		return postmortemOf{}, err
	}
	x := postmortemOf{rec: rec, tl: tl}
	pm, err := s.postmortems.Postmortem(ctx, org, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		x.pm = store.Postmortem{Org: org, Incident: id, Body: incidents.PostmortemDraft(x.incident(), s.namesOf(org))}
	case err != nil:
		return postmortemOf{}, fmt.Errorf("read postmortem: %w", err)
	default:
		x.pm, x.saved = pm, true
	}
	return x, nil
}

// postmortemBody checks a postmortem's Markdown: valid UTF-8, not blank,
// within store.MaxPostmortemBytes. Line ends become "\n" (forms send
// "\r\n").
func postmortemBody(body string) (string, error) {
	if !utf8.ValidString(body) {
		return "", badField("body", "not valid UTF-8")
	}
	body = strings.ReplaceAll(body, "\r\n", "\n")
	if strings.TrimSpace(body) == "" {
		return "", badField("body", "required: the postmortem's Markdown")
	}
	if len(body) > store.MaxPostmortemBytes {
		return "", &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", field: "body",
			message: fmt.Sprintf("body: %d bytes, more than %d", len(body), store.MaxPostmortemBytes)}
	}
	return body, nil
}

// publishPostmortem publishes body as x's postmortem with the
// subscribers' notices; it answers how many were queued.
func (s *server) publishPostmortem(ctx context.Context, p Principal, x postmortemOf, body string) (int, error) {
	if why := x.publishBlocked(); why != "" {
		return 0, &apiError{status: http.StatusConflict, code: "conflict", message: why}
	}
	var notices []notify.Delivery
	if s.postmortemNotices != nil {
		notices = s.postmortemNotices(p.Org, x.incident(), body, s.clock.Now())
	}
	if err := s.postmortems.PublishPostmortemBody(ctx, p.Org, x.rec.ID, body, p.User, notices); err != nil {
		return 0, fmt.Errorf("publish postmortem: %w", err)
	}
	s.logger.InfoContext(ctx, "postmortem published", "org", p.Org, "user", p.User, "incident", x.rec.ID,
		"bytes", len(body), "notices", len(notices))
	return len(notices), nil
}

// ---- console ----

func (s *server) handleConsolePostmortem(w http.ResponseWriter, r *http.Request, p Principal) {
	s.renderPostmortem(w, r, p, http.StatusOK, "", nil, "")
}

// renderPostmortem renders the editor. typed replaces the stored body
// (after a preview or a refusal); preview is the rendering to show.
func (s *server) renderPostmortem(w http.ResponseWriter, r *http.Request, p Principal, status int, refusal string, typed *string, preview string) {
	x, err := s.readPostmortem(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.consoleFail(w, r, p, err)
		return
	}
	path := incidentPath(x.rec.ID)
	v := templates.ConsolePostmortem{
		IncidentHref:   consoleURL(path, p.Org),
		Number:         "#" + strconv.Itoa(x.rec.Number),
		Title:          cleanText(x.rec.Title),
		Body:           x.pm.Body,
		MaxBytes:       store.MaxPostmortemBytes,
		CanEdit:        p.may(roleResponder),
		SaveAction:     consoleURL(path+"/postmortem", p.Org),
		PreviewAction:  consoleURL(path+"/postmortem/preview", p.Org),
		PublishAction:  consoleURL(path+"/postmortem/publish", p.Org),
		PublishBlocked: x.publishBlocked(),
	}
	switch {
	case !x.saved:
		v.State = "Not saved yet: this draft was generated from the timeline"
	case x.pm.Status != store.PostmortemPublished:
		v.State = "Draft, not published"
	case x.pm.Body == x.pm.Published:
		v.State = "Published"
	default:
		v.State = "Published; the draft below has changes not published yet"
	}
	if x.saved {
		v.UpdatedBy = x.pm.UpdatedBy
		v.UpdatedAt = consoleTime(x.pm.UpdatedAt, consoleDateTime)
		v.PublishedAt = consoleTime(x.pm.PublishedAt, consoleDateTime)
	}
	if typed != nil {
		v.Body = *typed
	}
	if preview != "" {
		v.Preview = templ.Raw(preview)
	}
	if x.pm.Published != "" {
		html, err := postmortemHTML(x.pm.Published)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v.Published = templ.Raw(html)
	}
	c := s.consoleFrame(w, r, p, "incidents", "Postmortem of #"+strconv.Itoa(x.rec.Number))
	if refusal != "" {
		c.Flash, c.Error = "", refusal
	}
	s.consoleHTML(w, r, status, templates.ConsolePostmortemPage(c, v))
}

// postmortemForm reads the editor's body field; a refusal re-renders the
// editor with what was typed, and ok is false.
func (s *server) postmortemForm(w http.ResponseWriter, r *http.Request, p Principal) (string, bool) {
	if err := r.ParseForm(); err != nil {
		s.consoleFail(w, r, p, fmt.Errorf("read form: %w", err))
		return "", false
	}
	typed := r.PostForm.Get("body")
	body, err := postmortemBody(typed)
	if err != nil {
		var ae *apiError
		errors.As(err, &ae)
		if !utf8.ValidString(typed) {
			typed = strings.ToValidUTF8(typed, "\uFFFD")
		}
		s.renderPostmortem(w, r, p, http.StatusUnprocessableEntity, "Not done: "+ae.message, &typed, "")
		return "", false
	}
	return body, true
}

func (s *server) handleConsolePostmortemSave(w http.ResponseWriter, r *http.Request, p Principal) {
	body, ok := s.postmortemForm(w, r, p)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !validIncidentID(id) {
		s.consoleFail(w, r, p, errNotFound)
		return
	}
	if err := s.postmortems.SavePostmortem(r.Context(), p.Org, id, body, p.User); err != nil {
		s.consoleFail(w, r, p, fmt.Errorf("save postmortem: %w", err))
		return
	}
	noteAudit(r, id, fmt.Sprintf("postmortem draft saved (%d bytes)", len(body)))
	setConsoleFlash(w, "Draft saved. Visitors see nothing until it is published.", false)
	http.Redirect(w, r, consoleURL(incidentPath(id)+"/postmortem", p.Org), http.StatusSeeOther)
}

func (s *server) handleConsolePostmortemPreview(w http.ResponseWriter, r *http.Request, p Principal) {
	body, ok := s.postmortemForm(w, r, p)
	if !ok {
		return
	}
	html, err := postmortemHTML(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	noteAudit(r, r.PathValue("id"), fmt.Sprintf("postmortem preview (%d bytes, nothing saved)", len(body)))
	s.renderPostmortem(w, r, p, http.StatusOK, "", &body, html)
}

func (s *server) handleConsolePostmortemPublish(w http.ResponseWriter, r *http.Request, p Principal) {
	body, ok := s.postmortemForm(w, r, p)
	if !ok {
		return
	}
	x, err := s.readPostmortem(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.consoleFail(w, r, p, err)
		return
	}
	n, err := s.publishPostmortem(r.Context(), p, x, body)
	var ae *apiError
	if errors.As(err, &ae) && ae.status == http.StatusConflict {
		s.renderPostmortem(w, r, p, http.StatusConflict, "Not published: "+ae.message, &body, "")
		return
	}
	if err != nil {
		s.consoleFail(w, r, p, err)
		return
	}
	noteAudit(r, x.rec.ID, fmt.Sprintf("postmortem published (%d bytes, %d subscriber notices)", len(body), n))
	setConsoleFlash(w, fmt.Sprintf("Published on the status page; %d subscriber notices queued.", n), false)
	http.Redirect(w, r, consoleURL(incidentPath(x.rec.ID)+"/postmortem", p.Org), http.StatusSeeOther)
}

// ---- API ----

// apiPostmortem is a postmortem as the API shows it. Status "new" is a
// draft generated from the timeline that nobody saved yet.
type apiPostmortem struct {
	Incident           string     `json:"incident"`
	Status             string     `json:"status"` // new, draft, published
	Body               string     `json:"body"`
	PublishedBody      string     `json:"published_body"`
	PublishedAt        *time.Time `json:"published_at"`
	UnpublishedChanges bool       `json:"unpublished_changes"`
	UpdatedAt          *time.Time `json:"updated_at"`
	UpdatedBy          string     `json:"updated_by,omitempty"`
	// Publishable is false (and Blocked says why) until the incident is
	// resolved and was published.
	Publishable bool   `json:"publishable"`
	Blocked     string `json:"blocked,omitempty"`
}

func newAPIPostmortem(x postmortemOf) apiPostmortem {
	v := apiPostmortem{Incident: x.rec.ID, Status: "new", Body: x.pm.Body, Blocked: x.publishBlocked()}
	v.Publishable = v.Blocked == ""
	if x.saved {
		v.Status = string(x.pm.Status)
		v.PublishedBody = x.pm.Published
		v.PublishedAt = timePtr(x.pm.PublishedAt)
		v.UpdatedAt = timePtr(x.pm.UpdatedAt)
		v.UpdatedBy = x.pm.UpdatedBy
		v.UnpublishedChanges = x.pm.Status == store.PostmortemPublished && x.pm.Body != x.pm.Published
	}
	return v
}

func (s *server) respondPostmortem(w http.ResponseWriter, r *http.Request, p Principal, notified *int) {
	x, err := s.readPostmortem(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	respondJSON(w, http.StatusOK, struct {
		Postmortem apiPostmortem `json:"postmortem"`
		Notified   *int          `json:"notified_subscribers,omitempty"`
	}{newAPIPostmortem(x), notified})
}

func (s *server) handleGetPostmortem(w http.ResponseWriter, r *http.Request, p Principal) {
	s.respondPostmortem(w, r, p, nil)
}

// handlePutPostmortem saves the request body, Markdown (Content-Type
// text/markdown or text/plain), as the draft.
func (s *server) handlePutPostmortem(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	if !validIncidentID(id) {
		s.failAPI(w, r, errNotFound)
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "text/markdown" && mt != "text/plain" {
		s.failAPI(w, r, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			message: "send the Markdown itself with Content-Type: text/markdown"})
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, store.MaxPostmortemBytes+1))
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("read body: %w", err))
		return
	}
	body, err := postmortemBody(string(raw))
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if err := s.postmortems.SavePostmortem(r.Context(), p.Org, id, body, p.User); err != nil {
		s.failAPI(w, r, fmt.Errorf("save postmortem: %w", err))
		return
	}
	noteAudit(r, id, fmt.Sprintf("postmortem draft saved (%d bytes)", len(body)))
	s.respondPostmortem(w, r, p, nil)
}

// handlePublishPostmortem publishes the saved draft.
func (s *server) handlePublishPostmortem(w http.ResponseWriter, r *http.Request, p Principal) {
	x, err := s.readPostmortem(r.Context(), p.Org, r.PathValue("id"))
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if !x.saved {
		s.failAPI(w, r, &apiError{status: http.StatusConflict, code: "no_draft",
			message: "no draft saved: PUT the Markdown to /api/v1/incidents/{id}/postmortem first"})
		return
	}
	n, err := s.publishPostmortem(r.Context(), p, x, x.pm.Body)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	noteAudit(r, x.rec.ID, fmt.Sprintf("postmortem published (%d bytes, %d subscriber notices)", len(x.pm.Body), n))
	s.respondPostmortem(w, r, p, &n)
}
