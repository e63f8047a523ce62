package web

import (
	"bytes"
	"io"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/lookout-status/lookout/incidents"
)

type fakeIngest struct {
	mu      sync.Mutex
	tokens  map[string]string // token → org
	lookups int
}

func (f *fakeIngest) Lookup(token string) (string, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	org, ok := f.tokens[token]
	return org, "", ok
}

// readSpy reports whether anything read the body.
type readSpy struct {
	r    io.Reader
	read bool
}

func (s *readSpy) Read(p []byte) (int, error) {
	s.read = true
	return s.r.Read(p)
}

func firingPayload(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/alertmanager-firing.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// postAlerts posts body; length is its Content-Length, -1 for unknown
// (chunked).
func (e *apiEnv) postAlerts(t *testing.T, token string, body io.Reader, length int64) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", alertmanagerPath, body)
	r.ContentLength = length
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("User-Agent", "Alertmanager/0.28.1")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// TestAlertmanagerTwice: both members of an HA pair deliver the same
// notification; the second changes nothing.
func TestAlertmanagerTwice(t *testing.T) {
	e := newAPIEnv(t, nil)
	payload := firingPayload(t)
	for i, wantChange := range []bool{true, false} {
		w := e.postAlerts(t, tokIngest, bytes.NewReader(payload), int64(len(payload)))
		if w.Code != 200 || strings.TrimSpace(w.Body.String()) != `{"alerts":1}` {
			t.Fatalf("delivery %d: got %d %s, want 200 {\"alerts\":1}", i+1, w.Code, w.Body)
		}
		_, effs := e.actions.lastEffects()
		if got := len(effs) > 0; got != wantChange {
			t.Errorf("delivery %d: got effects %v, want changes %v", i+1, effs, wantChange)
		}
	}
	st := e.actions.state("acme")
	if len(st.Incidents) != 2 {
		t.Fatalf("got %d open incidents, want 2 (acme-1 and the alert's)", len(st.Incidents))
	}
	inc := st.Incidents["acme-2"]
	if !strings.Contains(inc.Title, "Storage") || len(inc.Alerts) != 1 || inc.Alerts[0] != "2d3804f2509b8680" {
		t.Errorf("got incident %q with alerts %v, want Storage's with alert 2d3804f2509b8680", inc.Title, inc.Alerts)
	}
	if a := st.Alerts["2d3804f2509b8680"]; a.Component != "storage" || a.Summary != "S3 round trip failing" || !a.Firing {
		t.Errorf("got alert %+v, want firing on storage, summary S3 round trip failing", a)
	}
	if st.Components["storage"].Status == incidents.Operational {
		t.Errorf("storage still operational with a firing alert")
	}
	// globex saw nothing.
	if n := len(e.actions.state("globex").Incidents); n != 1 {
		t.Errorf("globex: got %d incidents, want 1", n)
	}
}

func TestAlertmanagerRefused(t *testing.T) {
	big := `{"version":"4","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"` +
		strings.Repeat("x", maxIngestBody) + `"}}]}`
	cases := []struct {
		name, token string
		body        func() io.Reader
		status      int
		code, msg   string
		bodyRead    bool
	}{
		{"no token", "", nil, 401, "unauthorized", "", false},
		{"wrong token", tokUnknown, nil, 401, "unauthorized", "", false},
		{"api token", tokResponder, nil, 401, "unauthorized", "", false},
		{"malformed token", "x\x7fy", nil, 401, "unauthorized", "", false},
		{"malformed JSON", tokIngest, func() io.Reader { return strings.NewReader(`{"version":"4","alerts":[`) }, 400, "invalid_payload", "invalid JSON", true},
		{"wrong version", tokIngest, func() io.Reader { return strings.NewReader(`{"version":"3","status":"firing","alerts":[]}`) }, 400, "invalid_payload", `unsupported version "3"`, true},
		{"alert without labels", tokIngest, func() io.Reader {
			return strings.NewReader(`{"version":"4","status":"firing","alerts":[{"status":"firing","startsAt":"2026-03-10T00:00:00Z"}]}`)
		}, 400, "invalid_payload", "alerts[0].labels: empty", true},
		{"oversized, length known", tokIngest, func() io.Reader { return strings.NewReader(big) }, 413, "too_large", "", false},
		{"oversized, chunked", tokIngest, func() io.Reader { return io.MultiReader(strings.NewReader(big)) }, 413, "too_large", "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newAPIEnv(t, nil)
			var src io.Reader = bytes.NewReader(firingPayload(t))
			if c.body != nil {
				src = c.body()
			}
			spy := &readSpy{r: src}
			length := int64(-1)
			if c.name == "oversized, length known" {
				length = int64(len(big))
			}
			w := e.postAlerts(t, c.token, spy, length)
			if w.Code != c.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, c.status, w.Body)
			}
			b := decode[apiErrorBody](t, w)
			if b.Error.Code != c.code || !strings.Contains(b.Error.Message, c.msg) {
				t.Errorf("got %q %q, want code %q and a message containing %q", b.Error.Code, b.Error.Message, c.code, c.msg)
			}
			if spy.read != c.bodyRead {
				t.Errorf("body read: got %v, want %v", spy.read, c.bodyRead)
			}
			if calls, _ := e.actions.lastEffects(); calls != 2 { // the two probe results of newAPIEnv
				t.Errorf("got %d engine calls, want 2: nothing applied", calls)
			}
		})
	}
}
