package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/notify/webhook"
)

// What the end-to-end tests share: a webhook receiver that records every
// delivery, the fast-flushing acme configuration and bearer-token API
// calls. startServe and kill9 (a real process) are in process_test.go,
// startInProcess in e2e_test.go.

// hookRequest is one request a hookSink got and what it answered.
type hookRequest struct {
	path     string
	id       string // webhook-id
	typ      string // a notifier envelope's type, e.g. incident.triggered
	incident string // a notifier envelope's data.id
	kind     string // a subscriber payload's: verification, incident, component or other
	body     []byte
	header   http.Header
	answered int
}

// String leaves out the body and headers, for failure messages.
func (r hookRequest) String() string {
	return fmt.Sprintf("{%s id=%s type=%s incident=%s kind=%s answered=%d}", r.path, r.id, r.typ, r.incident, r.kind, r.answered)
}

// bodyHash is a short hash of the body, to compare resends.
func (r hookRequest) bodyHash() string {
	sum := sha256.Sum256(r.body)
	return hex.EncodeToString(sum[:8])
}

// payload decodes the body as a subscriber payload.
func (r hookRequest) payload() subscriber.Payload {
	var p subscriber.Payload
	_ = json.Unmarshal(r.body, &p)
	return p
}

// hookSinkOptions say how a hookSink answers.
type hookSinkOptions struct {
	// secret, when set, is checked on every request: one with a bad
	// signature is answered 401 and not recorded.
	secret string
	// accept is the answer while accepting (default 200); refuse the one,
	// with Retry-After: 1, while not (default 500).
	accept, refuse int
	// accepting is the state the sink starts in.
	accepting bool
	// verifications are accepted even while refusing.
	verifications bool
}

// hookSink is a webhook receiver that records every request, accepting or
// refusing them as it is told.
type hookSink struct {
	srv *httptest.Server
	o   hookSinkOptions

	mu        sync.Mutex
	accepting bool
	reqs      []hookRequest
}

func newHookSink(t *testing.T, o hookSinkOptions) *hookSink {
	t.Helper()
	if o.accept == 0 {
		o.accept = http.StatusOK
	}
	if o.refuse == 0 {
		o.refuse = http.StatusInternalServerError
	}
	h := &hookSink{o: o, accepting: o.accepting}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookSink) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if h.o.secret != "" {
		if err := webhook.Verify(h.o.secret, r.Header, body, time.Now(), 0); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
	}
	var env struct {
		Type string `json:"type"`
		Data struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	_ = json.Unmarshal(body, &env)
	req := hookRequest{path: r.URL.Path, id: r.Header.Get(webhook.HeaderID), typ: env.Type, incident: env.Data.ID,
		body: body, header: r.Header.Clone()}
	p := req.payload()
	switch {
	case p.Verification != nil:
		req.kind = "verification"
	case p.Incident != nil:
		req.kind = "incident"
	case p.ComponentUpdate != nil:
		req.kind = "component"
	default:
		req.kind = "other"
	}
	h.mu.Lock()
	req.answered = h.o.refuse
	if h.accepting || h.o.verifications && req.kind == "verification" {
		req.answered = h.o.accept
	}
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	if req.answered == h.o.refuse {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(req.answered)
}

func (h *hookSink) setAccept(v bool) {
	h.mu.Lock()
	h.accepting = v
	h.mu.Unlock()
}

func (h *hookSink) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.reqs)
}

// find returns the first request match holds for.
func (h *hookSink) find(match func(hookRequest) bool) (hookRequest, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.reqs {
		if match(r) {
			return r, true
		}
	}
	return hookRequest{}, false
}

func (h *hookSink) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

// acmeConfig is a configuration flushing results every 100ms, with one
// organization, acme, allowed to reach loopback and with a status page at
// https://status.example.net; top is added at the top level and org inside
// the organization (its lines indented by four spaces).
func acmeConfig(top, org string) string {
	return `storage: {flush_interval: 100ms, flush_size: 50}
` + top + `organizations:
  - id: acme
    name: Acme
    egress: {allow: ["127.0.0.0/8"]}
    pages:
      - {id: status, name: Acme Status, url: "https://status.example.net"}
` + org
}

// olgaOwner is acme's owner Olga, with the API token ${SUBS_OWNER_TOKEN}.
const olgaOwner = `    users:
      - {id: olga, name: Olga}
    tokens:
      - {id: admin, user: olga, token: "${SUBS_OWNER_TOKEN}", role: owner}
`

// apiDo calls the API with a bearer token and a JSON body, decodes a 2xx
// JSON answer into out (when not nil) and returns the status.
func apiDo(t *testing.T, method, url, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}
