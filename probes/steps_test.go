package probes

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lookout-status/lookout/clock"
)

// syncAPI is a fake sync service: log in (cookie + token), upload a change,
// poll it until it is applied after applyAfter polls, delete it.
type syncAPI struct {
	t          *testing.T
	applyAfter int
	final      string // the state reached after applyAfter polls
	failUpload bool
	failDelete bool

	mu       sync.Mutex
	polls    int
	payloads []string
	deleted  []string
	uaSeen   []string
}

func (a *syncAPI) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, r *http.Request) {
		var cred struct{ User, Password string }
		if err := json.NewDecoder(r.Body).Decode(&cred); err != nil || cred.User != "probe" || cred.Password != "secret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "session", Value: "sess-1", Path: "/"})
		w.Header().Set("X-Token", "hdr-tok")
		fmt.Fprint(w, `{"token":"t0k"}`)
	})
	mux.HandleFunc("POST /changes", func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie("session")
		if err != nil || c.Value != "sess-1" || r.Header.Get("Authorization") != "Bearer t0k" || r.Header.Get("X-Other") != "hdr-tok" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		if a.failUpload {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.payloads = append(a.payloads, string(b))
		a.mu.Unlock()
		w.Header().Set("Location", "/changes/c1")
		fmt.Fprint(w, "created: id=c1 ok")
	})
	mux.HandleFunc("GET /changes/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") != "c1" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		a.mu.Lock()
		a.polls++
		state := "pending"
		if a.polls > a.applyAfter {
			state = a.final
		}
		a.mu.Unlock()
		fmt.Fprintf(w, `{"id":"c1","state":%q}`, state)
	})
	mux.HandleFunc("DELETE /changes/{id}", func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.deleted = append(a.deleted, r.PathValue("id"))
		a.mu.Unlock()
		if a.failDelete {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (a *syncAPI) state() (polls int, payloads, deleted []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.polls, append([]string(nil), a.payloads...), append([]string(nil), a.deleted...)
}

// syncSpec is the example from the docs against base.
func syncSpec(base string) *StepsSpec {
	return &StepsSpec{
		Sequence: []Step{
			{Name: "login", Method: "POST", URL: base + "/login",
				Headers: map[string]string{"Content-Type": "application/json"},
				Body:    `{"user":"probe","password":"secret"}`,
				Expect:  Expect{Status: []int{200}},
				Capture: map[string]Capture{"token": {JSON: "$.token"}, "hdr": {Header: "x-token"}}},
			{Name: "upload", Method: "POST", URL: base + "/changes",
				Headers: map[string]string{"Authorization": "Bearer {{token}}", "X-Other": "{{ hdr }}"},
				Body:    `{"payload":"{{random}}","at":{{now}}}`,
				Capture: map[string]Capture{"change_id": {Regex: `id=(\w+)`}}},
			{Name: "poll", URL: base + "/changes/{{change_id}}",
				Expect:     Expect{JSON: []JSONAssert{{Path: "$.state", Equals: "applied"}}},
				RetryUntil: &RetryUntil{Every: Duration(time.Second), Within: Duration(20 * time.Second)}},
		},
		Finally: []Step{
			{Name: "delete", Method: "DELETE", URL: base + "/changes/{{change_id}}"},
		},
	}
}

// runSteps runs s with a fake clock, advancing it by step each time the
// probe starts waiting, until the run returns.
func runSteps(t *testing.T, s *StepsSpec, fc *clock.Fake, step, timeout time.Duration) Result {
	t.Helper()
	r := testRun(loopback)
	r.Clock = fc
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	done := make(chan Result, 1)
	created := fc.TimerCreated()
	go func() { done <- s.Probe(ctx, r) }()
	for {
		select {
		case res := <-done:
			return res
		case <-created:
			created = fc.TimerCreated()
			fc.Advance(step)
		}
	}
}

func phaseNames(res Result) string {
	var names []string
	for _, p := range res.Phases {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}

func TestStepsHappyPath(t *testing.T) {
	checkLeaks(t)
	api := &syncAPI{t: t, applyAfter: 3, final: "applied"}
	srv := newServer(t, api.handler().ServeHTTP)
	s := syncSpec(srv.URL)
	if err := s.Validate(loopback); err != nil {
		t.Fatalf("validate: %v", err)
	}
	fc := clock.NewFake(time.Unix(1_700_000_000, 0))
	res := runSteps(t, s, fc, time.Second, 10*time.Second)
	wantResult(t, res, Up, "")
	if got, want := phaseNames(res), "login,upload,poll,delete,total"; got != want {
		t.Fatalf("got phases %s, want %s", got, want)
	}
	polls, payloads, deleted := api.state()
	if polls != 4 {
		t.Fatalf("got %d polls, want 4 (applied after 3)", polls)
	}
	if len(payloads) != 1 || !regexp.MustCompile(`^\{"payload":"[0-9a-f]{16}","at":1700000000\}$`).MatchString(payloads[0]) {
		t.Fatalf("got payloads %q, want one with 16 hex digits and the clock's unix time", payloads)
	}
	if strings.Join(deleted, ",") != "c1" {
		t.Fatalf("got deletes %q, want [c1]", deleted)
	}
}

func TestStepsRandomPerRun(t *testing.T) {
	api := &syncAPI{t: t, applyAfter: 0, final: "applied"}
	srv := newServer(t, api.handler().ServeHTTP)
	s := syncSpec(srv.URL)
	s.Sequence[1].Headers["X-Again"] = "{{random}}"
	if err := s.Validate(loopback); err != nil {
		t.Fatalf("validate: %v", err)
	}
	for i := 0; i < 2; i++ {
		wantResult(t, runSteps(t, s, clock.NewFake(time.Unix(0, 0)), time.Second, 10*time.Second), Up, "")
	}
	_, payloads, _ := api.state()
	if len(payloads) != 2 || payloads[0] == payloads[1] {
		t.Fatalf("got payloads %q, want two different random values", payloads)
	}
}

func TestStepsFailures(t *testing.T) {
	cases := []struct {
		name        string
		api         *syncAPI
		edit        func(s *StepsSpec)
		want        Outcome
		wantErr     string
		wantPolls   int
		wantDeleted string
		wantPhases  string
	}{
		{
			name: "poll gives up, finally still runs",
			api:  &syncAPI{applyAfter: 1000, final: "applied"},
			want: Down, wantErr: `step "poll" (3/4): assert $.state: got "pending", want "applied" (gave up after 20s)`,
			wantPolls: 21, wantDeleted: "c1", wantPhases: "login,upload,poll,delete,total",
		},
		{
			name: "middle step fails, finally still runs",
			api:  &syncAPI{applyAfter: 0, final: "rejected"},
			edit: func(s *StepsSpec) { s.Sequence[2].RetryUntil = nil },
			want: Down, wantErr: `step "poll" (3/4): assert $.state: got "rejected", want "applied"`,
			wantPolls: 1, wantDeleted: "c1", wantPhases: "login,upload,poll,delete,total",
		},
		{
			name: "finally needing an uncaptured variable is skipped",
			api:  &syncAPI{failUpload: true},
			want: Down, wantErr: `step "upload" (2/4): status: got 500, want 2xx`,
			wantPhases: "login,upload,total",
		},
		{
			name: "finally failing after success degrades",
			api:  &syncAPI{applyAfter: 0, final: "applied", failDelete: true},
			want: Degraded, wantErr: `finally step "delete" (4/4): status: got 500, want 2xx`,
			wantPolls: 1, wantDeleted: "c1", wantPhases: "login,upload,poll,delete,total",
		},
		{
			name: "finally failing after failure is reported too",
			api:  &syncAPI{applyAfter: 0, final: "rejected", failDelete: true},
			edit: func(s *StepsSpec) { s.Sequence[2].RetryUntil = nil },
			want: Down, wantErr: `step "poll" (3/4): assert $.state: got "rejected", want "applied"; also finally step "delete" (4/4): status: got 500, want 2xx`,
			wantPolls: 1, wantDeleted: "c1", wantPhases: "login,upload,poll,delete,total",
		},
		{
			name: "capture missing",
			api:  &syncAPI{applyAfter: 0, final: "applied"},
			edit: func(s *StepsSpec) { s.Sequence[0].Capture["token"] = Capture{JSON: "$.access_token"} },
			want: Down, wantErr: `step "login" (1/4): capture token: $.access_token not found`,
			wantPhases: "login,total",
		},
		{
			name: "header capture missing",
			api:  &syncAPI{applyAfter: 0, final: "applied"},
			edit: func(s *StepsSpec) { s.Sequence[0].Capture["hdr"] = Capture{Header: "X-Nope"} },
			want: Down, wantErr: `step "login" (1/4): capture hdr: header X-Nope missing`,
			wantPhases: "login,total",
		},
		{
			name: "regex capture no match",
			api:  &syncAPI{applyAfter: 0, final: "applied"},
			edit: func(s *StepsSpec) { s.Sequence[1].Capture["change_id"] = Capture{Regex: `change=(\d+)`} },
			want: Down, wantErr: `step "upload" (2/4): capture change_id: body does not match change=(\d+)`,
			wantPhases: "login,upload,total",
		},
		{
			name: "degraded_over",
			api:  &syncAPI{applyAfter: 0, final: "applied"},
			edit: func(s *StepsSpec) { s.DegradedOver = Duration(time.Nanosecond) },
			want: Degraded, wantErr: "slow: took ",
			wantPolls: 1, wantDeleted: "c1", wantPhases: "login,upload,poll,delete,total",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkLeaks(t)
			tc.api.t = t
			srv := newServer(t, tc.api.handler().ServeHTTP)
			s := syncSpec(srv.URL)
			if tc.edit != nil {
				tc.edit(s)
			}
			if err := s.Validate(loopback); err != nil {
				t.Fatalf("validate: %v", err)
			}
			res := runSteps(t, s, clock.NewFake(time.Unix(0, 0)), time.Second, 10*time.Second)
			wantResult(t, res, tc.want, tc.wantErr)
			if tc.want != Degraded && res.Error != tc.wantErr {
				t.Fatalf("got error %q, want exactly %q", res.Error, tc.wantErr)
			}
			polls, _, deleted := tc.api.state()
			if polls != tc.wantPolls || strings.Join(deleted, ",") != tc.wantDeleted {
				t.Fatalf("got %d polls and deletes %q, want %d and %q", polls, deleted, tc.wantPolls, tc.wantDeleted)
			}
			if got := phaseNames(res); got != tc.wantPhases {
				t.Fatalf("got phases %s, want %s", got, tc.wantPhases)
			}
		})
	}
}

func TestStepsRetryRespectsDeadline(t *testing.T) {
	checkLeaks(t)
	api := &syncAPI{t: t, applyAfter: 1000, final: "applied"}
	srv := newServer(t, api.handler().ServeHTTP)
	s := syncSpec(srv.URL)
	if err := s.Validate(loopback); err != nil {
		t.Fatalf("validate: %v", err)
	}
	// The fake clock never moves: only the run's deadline can end the wait,
	// and the finally step still gets to clean up after it.
	r := testRun(loopback)
	r.Clock = clock.NewFake(time.Unix(0, 0))
	r.Timeout = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), r.Timeout)
	defer cancel()
	res := s.Probe(ctx, r)
	wantResult(t, res, Down, `step "poll" (3/4): assert $.state: got "pending", want "applied" (gave up: the run's 300ms timeout came first)`)
	if _, _, deleted := api.state(); strings.Join(deleted, ",") != "c1" {
		t.Fatalf("got deletes %q, want [c1] (finally runs in its grace period)", deleted)
	}
}

func TestStepsValidate(t *testing.T) {
	base := "https://api.example.net"
	cases := []struct {
		name string
		spec *StepsSpec
		want []string
	}{
		{name: "example is valid", spec: syncSpec(base)},
		{name: "empty", spec: &StepsSpec{}, want: []string{"sequence: at least one step is required"}},
		{name: "unknown variable", spec: &StepsSpec{Sequence: []Step{
			{Name: "a", URL: base + "/x/{{change_id}}", Headers: map[string]string{"Authorization": "Bearer {{token}}"}, Body: "{{nope}} {{random}} {{now}}"},
		}}, want: []string{
			"sequence[0].url: {{change_id}} is not captured by an earlier step (built-ins: random, now)",
			"sequence[0].headers.Authorization: {{token}} is not captured by an earlier step (built-ins: random, now)",
			"sequence[0].body: {{nope}} is not captured by an earlier step (built-ins: random, now)",
		}},
		{name: "captured only later", spec: &StepsSpec{Sequence: []Step{
			{Name: "a", URL: base + "/{{id}}"},
			{Name: "b", URL: base + "/", Capture: map[string]Capture{"id": {JSON: "$.id"}}},
		}}, want: []string{"sequence[0].url: {{id}} is not captured by an earlier step (built-ins: random, now)"}},
		{name: "own capture is not yet known", spec: &StepsSpec{Sequence: []Step{
			{Name: "a", URL: base + "/{{id}}", Capture: map[string]Capture{"id": {JSON: "$.id"}}},
		}}, want: []string{"sequence[0].url: {{id}} is not captured by an earlier step (built-ins: random, now)"}},
		{name: "finally sees sequence captures", spec: &StepsSpec{
			Sequence: []Step{{Name: "a", URL: base + "/", Capture: map[string]Capture{"id": {JSON: "$.id"}}}},
			Finally:  []Step{{Name: "b", Method: "DELETE", URL: base + "/{{id}}"}},
		}},
		{name: "bad urls", spec: &StepsSpec{Sequence: []Step{
			{Name: "a", URL: "file:///etc/passwd"},
			{Name: "b", URL: "gopher://example.com/"},
			{Name: "c", URL: "javascript:alert(1)"},
			{Name: "d", URL: "http://169.254.169.254/{{random}}"},
			{Name: "e"},
		}}, want: []string{
			`sequence[0].url: scheme "file" is not allowed (use http or https)`,
			`sequence[1].url: scheme "gopher" is not allowed (use http or https)`,
			`sequence[2].url: scheme "javascript" is not allowed (use http or https)`,
			"sequence[3].url: egress denied: address 169.254.169.254 is link-local / cloud metadata; allow-list it in the organization's egress.allow to probe it",
			"sequence[4].url: required",
		}},
		{name: "names, captures, retries", spec: &StepsSpec{Sequence: []Step{
			{Name: "a", URL: base + "/", Capture: map[string]Capture{
				"x":      {JSON: "$.a", Header: "X-A"},
				"y":      {},
				"random": {Header: "X-R"},
				"bad-id": {Regex: "("},
			}, RetryUntil: &RetryUntil{Every: Duration(time.Minute), Within: Duration(time.Second)}},
			{Name: "a", URL: base + "/{{x", RetryUntil: &RetryUntil{}},
			{URL: base + "/", Expect: Expect{JQ: []string{"."}}},
			{Name: "total", URL: base + "/"},
		}}, want: []string{
			`sequence[0].capture.bad-id: "bad-id" is not a valid variable name (letters, digits, _)`,
			"sequence[0].capture.bad-id.regex: invalid regular expression: error parsing regexp: missing closing ): `(`",
			`sequence[0].capture.random: "random" is a built-in variable`,
			"sequence[0].capture.x: set exactly one of json, header or regex",
			"sequence[0].capture.y: set exactly one of json, header or regex",
			"sequence[0].retry_until.every: must not exceed within (1s)",
			`sequence[1].url: unterminated {{ in "{{x"`,
			"sequence[1].retry_until.every: must be positive",
			"sequence[1].retry_until.within: must be positive",
			`sequence[1].name: "a" is used by another step`,
			"sequence[2].name: required",
			`sequence[3].name: "total" is reserved for the run's total time`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := fieldErrors(tc.spec.Validate(nil))
			if !sameSet(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseTemplate(t *testing.T) {
	vars := map[string]string{"a": "1", "b_2": "two"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	cases := []struct{ in, want, wantErr string }{
		{in: "", want: ""},
		{in: "plain", want: "plain"},
		{in: "{{a}}", want: "1"},
		{in: "x{{ a }}y{{b_2}}z", want: "x1ytwoz"},
		{in: `{"k":{{a}}}`, want: `{"k":1}`},
		{in: "{{a", wantErr: "unterminated"},
		{in: "{{a-b}}", wantErr: "not a valid variable"},
		{in: "{{}}", wantErr: "not a valid variable"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			tm, err := parseTemplate(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tm.render(lookup); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestDecodeDocumentedYAML decodes the documented shapes strictly (unknown
// keys are errors), as the config loader does, and validates them.
func TestDecodeDocumentedYAML(t *testing.T) {
	httpYAML := `
method: GET
url: https://api.example.net/api/v1/status/
headers: {Authorization: "Bearer xyz"}
body: ""
max_redirects: 5
max_body: 1048576
insecure_skip_verify: false
proxy: ""
degraded_over: 800ms
down_over: 5s
expect:
  status: [200]
  body_contains: "ok"
  body_regex: "^ok"
  json:
    - {path: "$.database", equals: "ok"}
    - {path: "$.count", equals: 3}
    - {path: "$.version", matches: "^2\\."}
    - {path: "$.error", exists: false}
  jq: ['.database == "ok"']
  headers:
    - {name: Content-Type, contains: json}
  cert_days_left: 14
`
	stepsYAML := `
sequence:
  - name: login
    method: POST
    url: https://api.example.net/api/v1/auth/login
    headers: {Content-Type: application/json}
    body: '{"user":"probe","password":"secret"}'
    expect: {status: [200]}
    capture:
      token: {json: "$.token"}
      session: {header: X-Token}
  - name: upload
    method: POST
    url: https://api.example.net/api/v1/changes
    headers: {Authorization: "Bearer {{token}}"}
    body: '{"payload":"{{random}}"}'
    capture: {change_id: {regex: "id=(\\w+)"}}
  - name: poll
    url: https://api.example.net/api/v1/changes/{{change_id}}
    expect: {json: [{path: "$.state", equals: applied}]}
    retry_until: {every: 1s, within: 20s}
finally:
  - name: delete
    method: DELETE
    url: https://api.example.net/api/v1/changes/{{change_id}}
`
	decode := func(src string, into any) {
		t.Helper()
		dec := yaml.NewDecoder(strings.NewReader(src))
		dec.KnownFields(true)
		if err := dec.Decode(into); err != nil {
			t.Fatalf("decode: %v", err)
		}
	}
	var h HTTPSpec
	decode(httpYAML, &h)
	if err := h.Validate(nil); err != nil {
		t.Fatalf("validate http: %v", err)
	}
	if h.DownOver.D() != 5*time.Second || *h.MaxRedirects != 5 || h.Expect.JSON[1].Equals != 3 || *h.Expect.JSON[3].Exists {
		t.Fatalf("got %+v, want the documented values", &h)
	}
	var s StepsSpec
	decode(stepsYAML, &s)
	if err := s.Validate(nil); err != nil {
		t.Fatalf("validate steps: %v", err)
	}
	if got := s.Sequence[2].RetryUntil.Within.D(); got != 20*time.Second {
		t.Fatalf("got within %v, want 20s", got)
	}
}

// TestStepsCompareDownloadWithUpload drives the sync journey's last check:
// what is downloaded must equal what this run uploaded ({{random}}) and what
// an earlier step captured, through templates in expect.
func TestStepsCompareDownloadWithUpload(t *testing.T) {
	checkLeaks(t)
	var mu sync.Mutex
	stored := ""
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.Method {
		case "POST":
			var in struct{ Payload string }
			json.NewDecoder(r.Body).Decode(&in)
			stored = in.Payload
			fmt.Fprintf(w, `{"id":"c1","echo":%q}`, in.Payload)
		case "GET":
			if r.URL.Query().Get("corrupt") == "1" {
				fmt.Fprint(w, `{"payload":"something else"}`)
				return
			}
			fmt.Fprintf(w, `{"payload":%q}`, stored)
		}
	})
	spec := func(query string) *StepsSpec {
		return &StepsSpec{Sequence: []Step{
			{Name: "upload", Method: "POST", URL: srv.URL + "/c", Body: `{"payload":"p-{{random}}"}`,
				Capture: map[string]Capture{"echo": {JSON: "$.echo"}}},
			{Name: "download", URL: srv.URL + "/c" + query,
				Expect: Expect{
					JSON:         []JSONAssert{{Path: "$.payload", Equals: "p-{{random}}"}, {Path: "$.payload", Equals: "{{echo}}"}},
					BodyContains: "{{echo}}",
				}},
		}}
	}
	ok := spec("")
	if err := ok.Validate(loopback); err != nil {
		t.Fatalf("validate: %v", err)
	}
	wantResult(t, runSteps(t, ok, clock.NewFake(time.Unix(0, 0)), time.Second, 10*time.Second), Up, "")

	bad := spec("?corrupt=1")
	if err := bad.Validate(loopback); err != nil {
		t.Fatalf("validate: %v", err)
	}
	res := runSteps(t, bad, clock.NewFake(time.Unix(0, 0)), time.Second, 10*time.Second)
	if res.Outcome != Down || !strings.Contains(res.Error, `step "download" (2/2): body: does not contain "p-`) {
		t.Fatalf("got %s %q, want down naming the download step and the mismatch", res.Outcome, res.Error)
	}

	unknown := spec("")
	unknown.Sequence[1].Expect.JSON[1].Equals = "{{nope}}"
	err := unknown.Validate(loopback)
	if err == nil || !strings.Contains(err.Error(), "sequence[1].expect.json[1].equals: {{nope}} is not captured by an earlier step") {
		t.Fatalf("got %v, want an error naming the unknown variable in expect", err)
	}
}
