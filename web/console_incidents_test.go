package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/store"
)

// Console sessions of the test organizations.
const (
	sessAlice  = "sessionaliceresponderAAAAAAAAAAAAAAAAAAAAAA"
	sessVictor = "sessionvictorviewerAAAAAAAAAAAAAAAAAAAAAAAA"
	sessGina   = "sessionginaglobexAAAAAAAAAAAAAAAAAAAAAAAAAA"
	sessIvan   = "sessionivaninitechAAAAAAAAAAAAAAAAAAAAAAAAA"
)

// consoleEnv is the API environment with console sessions, postmortems,
// an audit log and a public page built from the store.
type consoleEnv struct {
	*apiEnv
	audit   *memAudit
	notices *[]string // incidents whose postmortem notices were asked for
}

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	audit := &memAudit{}
	var notices []string
	var db *store.DB
	e := newAPIEnv(t, func(d *Deps) {
		db = d.IncidentStore.(*store.DB)
		d.Audit = audit
		d.Postmortems = db
		d.Pages = storePages{db: db, org: "acme"}
		d.ComponentNames = func(org string) map[string]string {
			return map[string]string{"api": "API", "storage": "Storage", "web": "Web"}
		}
		d.PostmortemNotices = func(org string, inc incidents.Incident, body string, now time.Time) []notify.Delivery {
			notices = append(notices, inc.ID)
			return []notify.Delivery{{Channel: "subscriber:s1", NextAt: now, Message: notify.Message{
				Key: inc.ID + "/postmortem/test", Event: "postmortem", Incident: notify.Incident{ID: inc.ID, Org: org},
				At: now, Body: []byte(fmt.Sprintf(`{"bytes":%d,"timeline":%d}`, len(body), len(inc.Timeline)))}}}
		}
	})
	e.auth.sessions = map[string]Principal{
		sessAlice:  {Org: "acme", User: "alice", Role: "responder"},
		sessVictor: {Org: "acme", User: "victor", Role: "viewer"},
		sessGina:   {Org: "globex", User: "gina", Role: "responder"},
		sessIvan:   {Org: "initech", User: "ivan", Role: "viewer"},
	}
	return &consoleEnv{apiEnv: e, audit: audit, notices: &notices}
}

// browse makes a same-origin browser request with a session cookie (and
// more cookies, "name=value"); a form is sent url-encoded.
func (e *consoleEnv) browse(t *testing.T, method, target, session string, form url.Values, cookies ...string) *httptest.ResponseRecorder {
	t.Helper()
	hdr := []string{"Sec-Fetch-Site", "same-origin"}
	c := append([]string{SessionCookie + "=" + session}, cookies...)
	hdr = append(hdr, "Cookie", strings.Join(c, "; "))
	body := ""
	if form != nil {
		body = form.Encode()
		hdr = append(hdr, "Content-Type", "application/x-www-form-urlencoded")
	}
	return e.do(t, method, target, "", body, hdr...)
}

// post sends a console form as alice and follows the redirect with the
// flash cookie, as a browser would; it returns the redirect and the page.
func (e *consoleEnv) post(t *testing.T, target string, form url.Values) (redirect, page *httptest.ResponseRecorder) {
	t.Helper()
	w := e.browse(t, "POST", target, sessAlice, form)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("POST %s: got %d, want 303; body %s", target, w.Code, w.Body)
	}
	var flash []string
	for _, c := range w.Result().Cookies() {
		if c.Name == flashCookie {
			flash = append(flash, c.Name+"="+c.Value)
		}
	}
	loc, _, _ := strings.Cut(w.Header().Get("Location"), "#") // browsers keep the fragment
	return w, e.browse(t, "GET", loc, sessAlice, nil, flash...)
}

func (e *consoleEnv) incident(t *testing.T, org, id string) store.IncidentRecord {
	t.Helper()
	rec, err := e.db.Incident(context.Background(), org, id)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func (e *consoleEnv) timeline(t *testing.T, id string) []incidents.Entry {
	t.Helper()
	tl, err := e.db.Timeline(context.Background(), "acme", id)
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// storePages is the public page source read straight from the store, as
// cmd/lookout's does: published incidents with their published
// postmortems.
type storePages struct {
	db  *store.DB
	org string
}

func (p storePages) Page(ctx context.Context, _ string) (PageData, error) {
	recs, err := p.db.Incidents(ctx, p.org, store.IncidentFilter{PublishedOnly: true})
	if err != nil {
		return PageData{}, err
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	pms, err := p.db.PublishedPostmortems(ctx, p.org, ids)
	if err != nil {
		return PageData{}, err
	}
	d := PageData{ID: p.org, Name: "Acme", Components: []PageComponent{{ID: "api", Name: "API", Status: incidents.Operational}}}
	for _, r := range recs {
		status := r.Public
		if r.Lifecycle == incidents.Resolved {
			status = incidents.PublicResolved
		}
		d.Incidents = append(d.Incidents, PageIncident{ID: r.ID, Name: r.Title, Status: status, Impact: r.Impact,
			Components: r.Components, StartedAt: r.StartedAt, CreatedAt: r.StartedAt, UpdatedAt: r.UpdatedAt,
			ResolvedAt: r.EndedAt, Postmortem: pms[r.ID]})
	}
	return d, nil
}

var rowIDs = regexp.MustCompile(`<tr id="incident-([^"]+)"`)

func listedIDs(body string) []string {
	var out []string
	for _, m := range rowIDs.FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

// threeIncidents leaves acme with acme-1 triggered (api), acme-2
// acknowledged (storage) and acme-3 resolved (web).
func (e *consoleEnv) threeIncidents(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "storage-s3", incidents.Down)
	e.clock.Advance(time.Minute)
	e.probe(t, "acme", "web-http", incidents.Down)
	if _, err := e.actions.Do(ctx, "acme", incidents.Acknowledge{ID: "t1", Incident: "acme-2", Actor: "bob"},
		incidents.Resolve{ID: "t2", Incident: "acme-3", Actor: "bob"}); err != nil {
		t.Fatal(err)
	}
}

func TestConsoleIncidentList(t *testing.T) {
	e := newConsoleEnv(t)
	e.threeIncidents(t)
	cases := []struct {
		query  string
		status int
		want   []string
	}{
		{"", 200, []string{"acme-2", "acme-1"}},
		{"&status=active", 200, []string{"acme-2", "acme-1"}},
		{"&status=triggered", 200, []string{"acme-1"}},
		{"&status=acknowledged", 200, []string{"acme-2"}},
		{"&status=resolved", 200, []string{"acme-3"}},
		{"&status=all", 200, []string{"acme-3", "acme-2", "acme-1"}},
		{"&status=all&before=3", 200, []string{"acme-2", "acme-1"}},
		{"&status=bogus", 400, nil},
		{"&before=-1", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			w := e.browse(t, "GET", "/console/incidents?org=acme"+tc.query, sessAlice, nil)
			if w.Code != tc.status {
				t.Fatalf("got %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if got := listedIDs(w.Body.String()); tc.status == 200 && !slices.Equal(got, tc.want) {
				t.Errorf("got rows %v, want %v", got, tc.want)
			}
		})
	}
	w := e.browse(t, "GET", "/console/incidents?org=acme&status=all", sessAlice, nil)
	body := w.Body.String()
	for _, want := range []string{
		`<a href="/console/incidents/acme-1?org=acme" data-open>API: major outage</a>`,
		`<span class="lifecycle st-acknowledged"><span class="icon" aria-hidden="true">●</span> Acknowledged</span>`,
		`<td>bob</td>`, // acknowledged by
		`<time datetime="2026-03-10T03:12:00Z">10 Mar 03:12 UTC</time>`,
		`<td>2 m</td>`, // age of acme-1
		`<form method="post" action="/console/incidents/acme-1/acknowledge?org=acme" data-shortcut="a">`,
		`<input type="hidden" name="_back" value="list:all">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("list does not contain %s", want)
		}
	}
	if n := strings.Count(body, `data-shortcut="a"`); n != 1 {
		t.Errorf("got %d acknowledge forms, want 1 (only acme-1 is triggered)", n)
	}
	if w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control: got %q, want no-store", w.Header().Get("Cache-Control"))
	}
}

// TestConsoleListPages: the list pages by incident number, 50 a page.
func TestConsoleListPages(t *testing.T) {
	e := newConsoleEnv(t)
	var effs []incidents.Effect
	for k := 1; k <= 52; k++ {
		effs = append(effs, incidents.IncidentOpened{Incident: incidents.Incident{ID: fmt.Sprintf("initech-%d", k), Number: k,
			Title: "x", Lifecycle: incidents.Triggered, Public: incidents.Investigating, StartedAt: apiNow}})
	}
	if err := e.db.CommitIncidents(context.Background(), "initech", incidents.State{Org: "initech"}, effs, nil); err != nil {
		t.Fatal(err)
	}
	w := e.browse(t, "GET", "/console/incidents?org=initech", sessIvan, nil)
	got := listedIDs(w.Body.String())
	if len(got) != 50 || got[0] != "initech-52" || got[49] != "initech-3" {
		t.Fatalf("first page: got %d rows %v…, want 52 down to 3", len(got), got[:min(len(got), 3)])
	}
	next := `<a href="/console/incidents?before=3&amp;org=initech&amp;status=active" rel="next">Older</a>`
	if !strings.Contains(w.Body.String(), next) {
		t.Fatalf("first page has no link %s", next)
	}
	if strings.Contains(w.Body.String(), `data-shortcut="a"`) {
		t.Error("a viewer's list has acknowledge forms")
	}
	w = e.browse(t, "GET", "/console/incidents?before=3&org=initech&status=active", sessIvan, nil)
	if got := listedIDs(w.Body.String()); !slices.Equal(got, []string{"initech-2", "initech-1"}) {
		t.Errorf("second page: got %v, want initech-2, initech-1", got)
	}
	if strings.Contains(w.Body.String(), `rel="next"`) {
		t.Error("the last page links to a next one")
	}
}

// TestConsoleIncidentNotFound: another organization's incident does not
// exist (HOSTILE 20), for reading and for acting.
func TestConsoleIncidentNotFound(t *testing.T) {
	e := newConsoleEnv(t)
	for _, target := range []string{"/console/incidents/globex-1?org=acme", "/console/incidents/acme-9?org=acme",
		"/console/incidents/globex-1/postmortem?org=acme"} {
		w := e.browse(t, "GET", target, sessAlice, nil)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), "<h1>Not found</h1>") {
			t.Errorf("GET %s: got %d, want the 404 page", target, w.Code)
		}
	}
	w := e.browse(t, "POST", "/console/incidents/globex-1/acknowledge?org=acme", sessAlice, url.Values{})
	if w.Code != http.StatusNotFound {
		t.Errorf("acknowledging globex-1 as acme: got %d, want 404", w.Code)
	}
	if rec := e.incident(t, "globex", "globex-1"); rec.Lifecycle != incidents.Triggered {
		t.Errorf("globex-1: got %s, want still triggered", rec.Lifecycle)
	}
	// A session for globex naming acme in ?org= is no acme member.
	if w := e.browse(t, "GET", "/console/incidents/acme-1?org=acme", sessGina, nil); w.Code != http.StatusSeeOther {
		t.Errorf("gina opening acme's incident: got %d, want 303 to sign in", w.Code)
	}
}

// TestConsoleActions: every action through its console form changes the
// incident (as the store has it) and the page says so.
func TestConsoleActions(t *testing.T) {
	e := newConsoleEnv(t)
	const page = "/console/incidents/acme-1?org=acme"
	cases := []struct {
		action string
		form   url.Values
		check  func(rec store.IncidentRecord, tl []incidents.Entry) error
		page   []string
	}{
		{"acknowledge", url.Values{}, func(rec store.IncidentRecord, _ []incidents.Entry) error {
			if rec.Lifecycle != incidents.Acknowledged || rec.AckedBy != "alice" {
				return fmt.Errorf("got %s by %q, want acknowledged by alice", rec.Lifecycle, rec.AckedBy)
			}
			return nil
		}, []string{`<p class="flash" role="status">Acknowledged #1.</p>`, "<dd>by alice at"}},
		{"snooze", url.Values{"for": {"1h"}}, func(rec store.IncidentRecord, _ []incidents.Entry) error {
			if want := apiNow.Add(time.Hour); !rec.SnoozedUntil.Equal(want) {
				return fmt.Errorf("got snoozed until %v, want %v", rec.SnoozedUntil, want)
			}
			return nil
		}, []string{"Snoozed #1 until 04:12 UTC.", `, snoozed until <time datetime="2026-03-10T04:12:00Z">04:12 UTC</time></dd>`}},
		{"impact", url.Values{"impact": {"critical"}}, func(rec store.IncidentRecord, _ []incidents.Entry) error {
			if rec.Impact != incidents.ImpactCritical {
				return fmt.Errorf("got impact %s, want critical", rec.Impact)
			}
			return nil
		}, []string{"Impact of #1 is now critical impact.", "<dd>Critical impact</dd>"}},
		{"notes", url.Values{"body": {"Failing over to the replica <b>now</b>"}}, func(_ store.IncidentRecord, tl []incidents.Entry) error {
			if last := tl[len(tl)-1]; last.Kind != "note" || last.Body != "Failing over to the replica <b>now</b>" || last.Actor != "alice" {
				return fmt.Errorf("got last entry %+v, want alice's note", last)
			}
			return nil
		}, []string{"Note added to #1.", `<span class="tag internal">Internal</span> <strong>Note</strong> <span class="actor">alice</span> <p class="body">Failing over to the replica &lt;b&gt;now&lt;/b&gt;</p>`}},
		{"updates", url.Values{"status": {"identified"}, "body": {"Object store node down, failing over."},
			"components.api": {"major_outage"}, "components.storage": {""}}, func(rec store.IncidentRecord, _ []incidents.Entry) error {
			if rec.Public != incidents.Identified || rec.Declared["api"] != incidents.MajorOutage || len(rec.Declared) != 1 {
				return fmt.Errorf("got %s with %v, want identified with api major_outage", rec.Public, rec.Declared)
			}
			return nil
		}, []string{"Posted the public update on #1.", `<span class="tag public">Public</span> <strong>Public update</strong> <span class="change">Identified</span>`,
			`API <span class="tag">Major outage</span>`}},
		{"resolve", url.Values{"body": {"Fixed."}}, func(rec store.IncidentRecord, _ []incidents.Entry) error {
			if rec.Lifecycle != incidents.Resolved {
				return fmt.Errorf("got %s, want resolved", rec.Lifecycle)
			}
			return nil
		}, []string{"Resolved #1.", `<dt>Resolved</dt>`}},
	}
	for _, tc := range cases {
		t.Run(tc.action, func(t *testing.T) {
			form := tc.form
			form.Set("_key", "k-"+tc.action)
			redirect, w := e.post(t, "/console/incidents/acme-1/"+tc.action+"?org=acme", form)
			if loc := redirect.Header().Get("Location"); loc != page {
				t.Errorf("redirected to %q, want %q", loc, page)
			}
			if err := tc.check(e.incident(t, "acme", "acme-1"), e.timeline(t, "acme-1")); err != nil {
				t.Error(err)
			}
			for _, want := range tc.page {
				if !strings.Contains(w.Body.String(), want) {
					t.Errorf("page does not contain %s", want)
				}
			}
			// The flash is shown once.
			if again := e.browse(t, "GET", page, sessAlice, nil); strings.Contains(again.Body.String(), `class="flash"`) {
				t.Error("the flash shows again without its cookie")
			}
		})
	}
	w := e.browse(t, "GET", page, sessAlice, nil)
	if strings.Contains(w.Body.String(), `data-shortcut="r"`) {
		t.Error("a resolved incident still offers actions")
	}
	var summaries []string
	for _, a := range e.audit.all() {
		summaries = append(summaries, a.Summary)
		if a.Via != "session" || a.Actor != "alice" || a.Target != "acme-1" || a.Status != http.StatusSeeOther {
			t.Errorf("got audit entry %+v, want alice via session on acme-1, 303", a)
		}
		if strings.Contains(a.Summary, "replica") || strings.Contains(a.Summary, "Object store") {
			t.Errorf("audit summary %q holds the text, want only its size", a.Summary)
		}
	}
	if len(summaries) != len(cases) || !strings.Contains(summaries[0], "acknowledge; triggered/investigating/major/published=true -> acknowledged") {
		t.Errorf("got audit summaries %q", summaries)
	}
}

// TestConsoleFormOnce: the same rendered form submitted twice (its _key)
// adds one note; acknowledging from the list returns to the list row.
func TestConsoleFormOnce(t *testing.T) {
	e := newConsoleEnv(t)
	form := url.Values{"body": {"checking the disks"}, "_key": {"form-1"}}
	e.post(t, "/console/incidents/acme-1/notes?org=acme", form)
	_, w := e.post(t, "/console/incidents/acme-1/notes?org=acme", form)
	n := 0
	for _, en := range e.timeline(t, "acme-1") {
		if en.Kind == "note" {
			n++
		}
	}
	if n != 1 || !strings.Contains(w.Body.String(), "Nothing changed: #1 was already so.") {
		t.Errorf("got %d notes, want 1 and a flash saying nothing changed", n)
	}

	redirect, w := e.post(t, "/console/incidents/acme-1/acknowledge?org=acme", url.Values{"_back": {"list:triggered"}})
	if loc := redirect.Header().Get("Location"); loc != "/console/incidents?org=acme&status=triggered#incident-acme-1" {
		t.Errorf("got Location %q, want the triggered list at acme-1's row", loc)
	}
	if !strings.Contains(w.Body.String(), "Acknowledged #1.") {
		t.Error("the list does not show the flash")
	}
	redirect, _ = e.post(t, "/console/incidents/acme-1/notes?org=acme", url.Values{"body": {"x"}, "_back": {"https://evil.example/"}})
	if loc := redirect.Header().Get("Location"); loc != "/console/incidents/acme-1?org=acme" {
		t.Errorf("a foreign _back: got Location %q, want the incident", loc)
	}
}

// TestConsoleRefusals: bad input shows the page again with the error and
// what was typed; a viewer sees no forms and may not post (HOSTILE 22); a
// cross-site form is refused (HOSTILE 27). None changes the incident.
func TestConsoleRefusals(t *testing.T) {
	e := newConsoleEnv(t)
	w := e.browse(t, "POST", "/console/incidents/acme-1/updates?org=acme", sessAlice,
		url.Values{"status": {"monitoring"}, "body": {"  "}, "components.api": {"partial_outage"}})
	body := w.Body.String()
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(body, `<p class="error" role="alert">Not done: body: required</p>`) {
		t.Errorf("blank update: got %d, want 422 with the error", w.Code)
	}
	if !strings.Contains(body, `<option value="monitoring" selected>`) || !strings.Contains(body, `<option value="partial_outage" selected>`) {
		t.Error("the refused form lost what was chosen")
	}
	w = e.browse(t, "POST", "/console/incidents/acme-1/snooze?org=acme", sessAlice, url.Values{"for": {"9999h"}})
	if w.Code != http.StatusUnprocessableEntity || !strings.Contains(w.Body.String(), "Not done: for: want a duration from 1m to 168h") {
		t.Errorf("long snooze: got %d, want 422 naming the field", w.Code)
	}
	w = e.browse(t, "POST", "/console/incidents/acme-1/notes?org=acme", sessAlice, url.Values{"body": {"a", "b"}})
	if w.Code != http.StatusUnprocessableEntity {
		t.Errorf("a field twice: got %d, want 422", w.Code)
	}

	w = e.browse(t, "GET", "/console/incidents/acme-1?org=acme", sessVictor, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("viewer: got %d, want 200", w.Code)
	}
	if strings.Contains(w.Body.String(), `method="post" action="/console/incidents/`) || strings.Contains(w.Body.String(), `data-shortcut="`) {
		t.Error("a viewer's page has action forms")
	}
	if w := e.browse(t, "POST", "/console/incidents/acme-1/acknowledge?org=acme", sessVictor, url.Values{}); w.Code != http.StatusForbidden {
		t.Errorf("viewer acknowledging: got %d, want 403", w.Code)
	}
	w = e.do(t, "POST", "/console/incidents/acme-1/acknowledge?org=acme", "", "",
		"Cookie", SessionCookie+"="+sessAlice, "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example",
		"Content-Type", "application/x-www-form-urlencoded")
	if w.Code != http.StatusForbidden {
		t.Errorf("cross-site form: got %d, want 403", w.Code)
	}
	if rec := e.incident(t, "acme", "acme-1"); rec.Lifecycle != incidents.Triggered || rec.Public != incidents.Investigating {
		t.Errorf("acme-1: got %s/%s, want untouched", rec.Lifecycle, rec.Public)
	}
	if n := len(e.timeline(t, "acme-1")); n != 1 {
		t.Errorf("got %d timeline entries, want the opening only", n)
	}
	if w := e.do(t, "GET", "/console/incidents?org=acme", "", ""); w.Code != http.StatusSeeOther ||
		!strings.HasPrefix(w.Header().Get("Location"), "/login?next=") {
		t.Errorf("signed out: got %d to %q, want 303 to /login", w.Code, w.Header().Get("Location"))
	}
}

var formKeys = regexp.MustCompile(`name="_key" value="[0-9a-f]{24}"`)

// TestConsoleGolden pins the list and the incident page (as a responder,
// forms shown) after the outage of threeIncidents and an update and note.
func TestConsoleGolden(t *testing.T) {
	e := newConsoleEnv(t)
	e.threeIncidents(t)
	ctx := context.Background()
	if _, err := e.actions.Do(ctx, "acme",
		incidents.PublicUpdate{ID: "g1", Incident: "acme-1", Actor: "alice", Status: incidents.Identified,
			Body: "A bad deploy; rolling back.", ComponentStatuses: map[string]incidents.ComponentStatus{"api": incidents.PartialOutage}},
		incidents.AddNote{ID: "g2", Incident: "acme-1", Actor: "alice", Body: "v2.3.1 is the suspect"}); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(3 * time.Minute)
	for name, target := range map[string]string{
		"console-incidents.golden.html": "/console/incidents?org=acme&status=all",
		"console-incident.golden.html":  "/console/incidents/acme-1?org=acme",
	} {
		t.Run(name, func(t *testing.T) {
			w := e.browse(t, "GET", target, sessAlice, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("got %d, want 200", w.Code)
			}
			golden(t, name, formKeys.ReplaceAll(w.Body.Bytes(), []byte(`name="_key" value="KEY"`)))
		})
	}
}

// outage runs the journey on acme-1: opened 03:12:00, acknowledged through
// the console 2 m 22 s later, an identified update, resolved at 04:00:30.
func (e *consoleEnv) outage(t *testing.T) {
	t.Helper()
	e.clock.Advance(2*time.Minute + 22*time.Second)
	e.post(t, "/console/incidents/acme-1/acknowledge?org=acme", url.Values{})
	e.clock.Advance(5 * time.Minute)
	e.post(t, "/console/incidents/acme-1/updates?org=acme", url.Values{"status": {"identified"}, "body": {"Bad deploy."}})
	e.clock.Advance(41*time.Minute + 8*time.Second)
	e.post(t, "/console/incidents/acme-1/resolve?org=acme", url.Values{"body": {"Rolled back."}})
}

var textarea = regexp.MustCompile(`(?s)<textarea id="postmortem-body"[^>]*>(.*?)</textarea>`)

func TestConsolePostmortem(t *testing.T) {
	e := newConsoleEnv(t)
	const editor = "/console/incidents/acme-1/postmortem?org=acme"

	// Open: drafts only.
	w := e.browse(t, "GET", editor, sessAlice, nil)
	if !strings.Contains(w.Body.String(), "The postmortem can be published once the incident is resolved") ||
		strings.Contains(w.Body.String(), ">Publish</button>") {
		t.Error("an open incident's postmortem offers Publish")
	}
	if w := e.browse(t, "POST", "/console/incidents/acme-1/postmortem/publish?org=acme", sessAlice,
		url.Values{"body": {"# Too early"}}); w.Code != http.StatusConflict {
		t.Errorf("publishing while open: got %d, want 409", w.Code)
	}

	e.outage(t)
	w = e.browse(t, "GET", editor, sessAlice, nil)
	m := textarea.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no editor in %s", w.Body)
	}
	draft := m[1]
	for _, want := range []string{
		"# Postmortem: API: major outage",
		"From 2026-03-10 03:12:00 UTC to 2026-03-10 04:00:30 UTC (48 m 30 s), API was affected.",
		"- **2026-03-10 03:12:00** Detected by probe `api-http`: API: major outage",
		"- **2026-03-10 03:14:22** Acknowledged",
		"- **2026-03-10 03:19:22** Public update, identified: Bad deploy.",
		"- **2026-03-10 04:00:30** Resolved: Rolled back.",
		"- Time to acknowledge: 2 m 22 s",
		"- Time to resolve: 48 m 30 s",
		"## Root cause",
	} {
		if !strings.Contains(draft, want) {
			t.Errorf("the generated draft does not contain %q:\n%s", want, draft)
		}
	}
	if !strings.Contains(w.Body.String(), "Not saved yet: this draft was generated from the timeline") {
		t.Error("the page does not say the draft is unsaved")
	}

	// Saved as a draft: not public.
	e.post(t, "/console/incidents/acme-1/postmortem?org=acme", url.Values{"body": {"## What happened\r\n\r\nA bad deploy."}})
	if pm, err := e.db.Postmortem(context.Background(), "acme", "acme-1"); err != nil || pm.Body != "## What happened\n\nA bad deploy." || pm.Status != store.PostmortemDraft {
		t.Fatalf("after save: got %+v, %v; want the draft with \\n line ends", pm, err)
	}
	public := get(t, e.h, "/incidents/acme-1")
	if public.Code != http.StatusOK || strings.Contains(public.Body.String(), "What happened") {
		t.Fatalf("public page before publishing: got %d, want 200 without the draft", public.Code)
	}

	// Published: on the public page, subscribers told.
	_, w = e.post(t, "/console/incidents/acme-1/postmortem/publish?org=acme", url.Values{"body": {"## What happened\n\nA bad deploy, *rolled back*."}})
	if !strings.Contains(w.Body.String(), "Published on the status page; 1 subscriber notices queued.") ||
		!strings.Contains(w.Body.String(), "<h2 id=\"published-h\">As published</h2>") {
		t.Error("the editor does not show the publication")
	}
	public = get(t, e.h, "/incidents/acme-1")
	if !strings.Contains(public.Body.String(), "<h4>What happened</h4>") || !strings.Contains(public.Body.String(), "<em>rolled back</em>") {
		t.Errorf("public page after publishing lacks the postmortem:\n%s", public.Body)
	}
	if !slices.Equal(*e.notices, []string{"acme-1"}) {
		t.Errorf("got notices for %v, want acme-1's", *e.notices)
	}
	ds, err := e.db.Due(context.Background(), e.clock.Now(), 100, nil)
	if err != nil {
		t.Fatal(err)
	}
	var queued []string
	for _, d := range ds {
		if d.Channel == "subscriber:s1" {
			queued = append(queued, string(d.Message.Body))
		}
	}
	if len(queued) != 1 || !strings.Contains(queued[0], `"timeline":4`) {
		t.Errorf("got subscriber rows %q, want one built with the 4-entry timeline", queued)
	}
	last := e.audit.all()[len(e.audit.all())-1]
	if last.Action != "POST /console/incidents/{id}/postmortem/publish" || last.Summary != "postmortem published (46 bytes, 1 subscriber notices)" {
		t.Errorf("got audit %q %q", last.Action, last.Summary)
	}

	// A viewer reads, without the editor.
	w = e.browse(t, "GET", editor, sessVictor, nil)
	if w.Code != http.StatusOK || strings.Contains(w.Body.String(), "<textarea") || !strings.Contains(w.Body.String(), "<em>rolled back</em>") {
		t.Errorf("viewer: got %d, want the published text without an editor", w.Code)
	}
	if w := e.browse(t, "POST", "/console/incidents/acme-1/postmortem?org=acme", sessVictor, url.Values{"body": {"x"}}); w.Code != http.StatusForbidden {
		t.Errorf("viewer saving: got %d, want 403", w.Code)
	}
}

// TestPostmortemPreviewInert: hostile Markdown in the preview is inert
// (HOSTILE 17), rendered by the public page's own renderer.
func TestPostmortemPreviewInert(t *testing.T) {
	e := newConsoleEnv(t)
	hostile := "# Root cause\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n" +
		"[click](javascript:alert(3)) [entity](&#106;avascript:alert(4)) [ok](https://example.com/)\n"
	w := e.browse(t, "POST", "/console/incidents/acme-1/postmortem/preview?org=acme", sessAlice, url.Values{"body": {hostile}})
	if w.Code != http.StatusOK {
		t.Fatalf("got %d, want 200", w.Code)
	}
	body := w.Body.String()
	start, end := strings.Index(body, `<section class="preview"`), strings.LastIndex(body, "</section>")
	if start < 0 || end < start {
		t.Fatalf("no preview in %s", body)
	}
	preview := body[start:end]
	for _, bad := range []string{"<script", "onerror", "javascript:", "avascript", "<img"} {
		if strings.Contains(preview, bad) {
			t.Errorf("preview holds %q:\n%s", bad, preview)
		}
	}
	if !strings.Contains(preview, "<h3>Root cause</h3>") || !strings.Contains(preview, `<a href="https://example.com/" rel="nofollow noopener">ok</a>`) {
		t.Errorf("preview lost the safe parts:\n%s", preview)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("the editor does not keep the typed text (escaped)")
	}
	if _, err := e.db.Postmortem(context.Background(), "acme", "acme-1"); err == nil {
		t.Error("a preview saved the postmortem")
	}
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("got CSP %q", csp)
	}
}

func TestPostmortemAPI(t *testing.T) {
	e := newConsoleEnv(t)
	const path = "/api/v1/incidents/acme-1/postmortem"
	type pmBody struct {
		Postmortem apiPostmortem `json:"postmortem"`
		Notified   *int          `json:"notified_subscribers"`
	}
	w := e.do(t, "GET", path, tokViewer, "")
	got := decode[pmBody](t, w)
	if got.Postmortem.Status != "new" || !strings.Contains(got.Postmortem.Body, "- Time to acknowledge: not acknowledged") ||
		got.Postmortem.Publishable {
		t.Errorf("before any: got %+v, want a new generated, unpublishable draft", got.Postmortem)
	}
	if w := e.do(t, "POST", path+"/publish", tokResponder, ""); w.Code != http.StatusConflict ||
		decode[apiErrorBody](t, w).Error.Code != "no_draft" {
		t.Errorf("publish with no draft: got %d %s, want 409 no_draft", w.Code, w.Body)
	}
	cases := []struct {
		name, token, ctype, body string
		status                   int
		code                     string
	}{
		{"viewer", tokViewer, "text/markdown", "# x", 403, "forbidden"},
		{"json", tokResponder, "application/json", `{"body":"x"}`, 415, "unsupported_media_type"},
		{"blank", tokResponder, "text/markdown", " \n", 400, "invalid_field"},
		{"too large", tokResponder, "text/markdown", strings.Repeat("x", store.MaxPostmortemBytes+1), 413, "too_large"},
		{"another org", tokGlobex, "text/markdown", "# x", 404, "not_found"},
		{"saved", tokResponder, "text/markdown; charset=utf-8", "# Root cause\n\nA disk.", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(t, "PUT", path, tc.token, tc.body, "Content-Type", tc.ctype)
			if w.Code != tc.status {
				t.Fatalf("got %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if tc.code != "" {
				if got := decode[apiErrorBody](t, w).Error.Code; got != tc.code {
					t.Errorf("got code %q, want %q", got, tc.code)
				}
				return
			}
			if got := decode[pmBody](t, w).Postmortem; got.Status != "draft" || got.Body != "# Root cause\n\nA disk." || got.UpdatedBy != "alice" {
				t.Errorf("got %+v, want alice's draft", got)
			}
		})
	}
	if w := e.do(t, "POST", path+"/publish", tokResponder, ""); w.Code != http.StatusConflict ||
		!strings.Contains(w.Body.String(), "once the incident is resolved") {
		t.Errorf("publish while open: got %d %s, want 409", w.Code, w.Body)
	}
	e.do(t, "POST", "/api/v1/incidents/acme-1/resolve", tokResponder, "")
	w = e.do(t, "POST", path+"/publish", tokResponder, "")
	pub := decode[pmBody](t, w)
	if w.Code != 200 || pub.Postmortem.Status != "published" || pub.Postmortem.PublishedBody != "# Root cause\n\nA disk." ||
		pub.Notified == nil || *pub.Notified != 1 || pub.Postmortem.PublishedAt == nil {
		t.Errorf("publish: got %d %+v, want published with 1 notice", w.Code, pub)
	}
	e.do(t, "PUT", path, tokResponder, "# Root cause\n\nA disk, revised.", "Content-Type", "text/markdown")
	if got := decode[pmBody](t, e.do(t, "GET", path, tokViewer, "")).Postmortem; !got.UnpublishedChanges ||
		got.PublishedBody != "# Root cause\n\nA disk." {
		t.Errorf("after an edit: got %+v, want unpublished changes over the published text", got)
	}
	if w := e.do(t, "GET", path, tokGlobex, ""); w.Code != http.StatusNotFound {
		t.Errorf("globex reading acme's: got %d, want 404", w.Code)
	}
}

// TestConsoleHostileNames: an incident titled with markup (an alert's
// summary is anyone's text) is escaped on every console page (HOSTILE 18).
func TestConsoleHostileNames(t *testing.T) {
	e := newConsoleEnv(t)
	const title = `"><script>alert(1)</script>{{.}}`
	if _, err := e.actions.Do(context.Background(), "acme", incidents.ExternalAlert{Fingerprint: "fp<x>", Status: incidents.AlertFiring,
		Summary: title, StartsAt: apiNow}); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"/console/incidents?org=acme", "/console/incidents/acme-2?org=acme",
		"/console/incidents/acme-2/postmortem?org=acme"} {
		w := e.browse(t, "GET", target, sessAlice, nil)
		body := w.Body.String()
		if w.Code != http.StatusOK || !strings.Contains(body, "acme-2") {
			t.Fatalf("GET %s: got %d, want the incident", target, w.Code)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "fp<x>") {
			t.Errorf("GET %s: the title or fingerprint is not escaped", target)
		}
		if !strings.Contains(body, "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;{{.}}") &&
			!strings.Contains(body, `&#34;&gt;\&lt;script\&gt;alert(1)\&lt;/script\&gt;{{.}}`) {
			t.Errorf("GET %s: the title is not shown as text", target)
		}
	}
}
