package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/probes"
)

// fakeSubs checks URLs with the default egress policy, as the real service
// does, and keeps subscriptions in memory.
type fakeSubs struct {
	mu   sync.Mutex
	n    int
	subs map[string]SubscribeRequest // by id
}

func (f *fakeSubs) Subscribe(_ context.Context, req SubscribeRequest) (Subscription, error) {
	if err := subscriber.CheckURL(req.URL, nil); err != nil {
		return Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("sub_%d", f.n)
	if f.subs == nil {
		f.subs = map[string]SubscribeRequest{}
	}
	f.subs[id] = req
	return Subscription{ID: id, Type: req.Type, URL: req.URL, Components: req.Components, Status: "pending", Secret: "whsec_x"}, nil
}

func (f *fakeSubs) Unsubscribe(_ context.Context, org, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[id]
	if !ok || s.Org != org {
		return false, nil
	}
	delete(f.subs, id)
	return true, nil
}

func (f *fakeSubs) UnsubscribeToken(_ context.Context, token string) error {
	id, ok := strings.CutPrefix(token, "good.")
	if !ok {
		return fmt.Errorf("token: %w", fs.ErrNotExist)
	}
	f.mu.Lock()
	delete(f.subs, id)
	f.mu.Unlock()
	return nil
}

func newSubsServer(t *testing.T) (http.Handler, *fakeSubs, *clock.Fake) {
	fc := clock.NewFake(pageNow)
	subs := &fakeSubs{}
	h := NewServer(Deps{
		Pages: &fakePages{data: basePage()}, Clock: fc, Subscribers: subs,
		Auth: &fakeAuth{tokens: map[string]Principal{
			tokOwner:  {Org: "acme", User: "olga", Role: "owner"},
			tokViewer: {Org: "acme", User: "victor", Role: "viewer"},
			tokGlobex: {Org: "globex", User: "gina", Role: "admin"},
		}},
	})
	return h, subs, fc
}

func send(h http.Handler, method, target, token, body string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.RemoteAddr = "198.51.100.7:5555"
	if body != "" && !strings.HasPrefix(body, "type=") {
		r.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

type apiErr struct {
	Error struct{ Code, Message, Field string } `json:"error"`
}

func TestSubscribersAPI(t *testing.T) {
	h, subs, _ := newSubsServer(t)
	for _, tc := range []struct {
		name, token, body string
		status            int
		field             string
	}{
		{"no token", "", `{"type":"webhook","url":"https://hooks.example.com/x"}`, 401, ""},
		{"viewer", tokViewer, `{"type":"webhook","url":"https://hooks.example.com/x"}`, 403, ""},
		{"loopback", tokOwner, `{"type":"webhook","url":"http://127.0.0.1:8080/hook"}`, 400, "url"},
		{"metadata", tokOwner, `{"type":"webhook","url":"http://169.254.169.254/latest"}`, 400, "url"},
		{"private range", tokOwner, `{"type":"webhook","url":"http://10.0.0.1/"}`, 400, "url"},
		{"scheme", tokOwner, `{"type":"webhook","url":"gopher://hooks.example.com/"}`, 400, "url"},
		{"email", tokOwner, `{"type":"email","url":"https://hooks.example.com/x"}`, 400, "type"},
		{"unknown field", tokOwner, `{"type":"webhook","url":"https://hooks.example.com/x","x":1}`, 400, "body"},
		{"ok", tokOwner, `{"type":"webhook","url":"https://hooks.example.com/x","components":["api"]}`, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := send(h, "POST", "/api/v1/subscribers", tc.token, tc.body)
			if w.Code != tc.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if tc.status == 400 {
				var e apiErr
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Field != tc.field {
					t.Errorf("got error %s, want one naming %q", w.Body, tc.field)
				}
			}
			if tc.status == 201 {
				var s Subscription
				if err := json.Unmarshal(w.Body.Bytes(), &s); err != nil || s.Secret == "" || s.Status != "pending" {
					t.Errorf("got %s, want a pending subscription with its secret", w.Body)
				}
			}
		})
	}
	if got := subs.subs["sub_1"]; got.Org != "acme" || !slices.Equal(got.Components, []string{"api"}) {
		t.Errorf("got request %+v, want acme's, on api", got)
	}
	// Another organization's subscriber is not found; deleting twice is 404.
	if w := send(h, "DELETE", "/api/v1/subscribers/sub_1", tokGlobex, ""); w.Code != 404 {
		t.Errorf("other org: got status %d, want 404", w.Code)
	}
	for i, want := range []int{204, 404} {
		if w := send(h, "DELETE", "/api/v1/subscribers/sub_1", tokOwner, ""); w.Code != want {
			t.Errorf("delete #%d: got status %d, want %d", i+1, w.Code, want)
		}
	}
}

func TestSubscribePublic(t *testing.T) {
	h, subs, fc := newSubsServer(t)
	for _, tc := range []struct {
		name, body string
		hdr        []string
		status     int
		field      string
	}{
		{"private component", `{"url":"https://hooks.example.com/x","components":["secret-db"]}`, nil, 400, "components"},
		{"loopback", `{"url":"http://127.0.0.1/"}`, nil, 400, "url"},
		{"cross-site form", "type=webhook&url=https://hooks.example.com/x", []string{"Content-Type", "application/x-www-form-urlencoded", "Sec-Fetch-Site", "cross-site"}, 403, ""},
		{"form", "type=webhook&url=https://hooks.example.com/x&components=api,storage", []string{"Content-Type", "application/x-www-form-urlencoded"}, 201, ""},
		{"json", `{"type":"webhook","url":"https://hooks.example.com/y"}`, nil, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := send(h, "POST", "/subscribe", "", tc.body, tc.hdr...)
			if w.Code != tc.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if tc.field != "" {
				var e apiErr
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error.Field != tc.field {
					t.Errorf("got error %s, want one naming %q", w.Body, tc.field)
				}
			}
		})
	}
	if got := subs.subs["sub_1"]; got.Page != "acme" || got.Org != "" || !slices.Equal(got.Components, []string{"api", "storage"}) {
		t.Errorf("got request %+v, want the page's, on api and storage", got)
	}

	// 5 requests in a burst were taken (the cross-site one never reached
	// the handler); the fifth passes, then 429 with Retry-After.
	body := `{"url":"https://hooks.example.com/z"}`
	if w := send(h, "POST", "/subscribe", "", body); w.Code != 201 {
		t.Fatalf("5th request: got status %d, want 201", w.Code)
	}
	w := send(h, "POST", "/subscribe", "", body)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "60" {
		t.Fatalf("6th request: got status %d Retry-After %q, want 429 and 60", w.Code, w.Header().Get("Retry-After"))
	}
	// A forged X-Forwarded-For changes nothing; another peer is not limited.
	if w := send(h, "POST", "/subscribe", "", body, "X-Forwarded-For", "203.0.113.9"); w.Code != http.StatusTooManyRequests {
		t.Errorf("forged X-Forwarded-For: got status %d, want 429", w.Code)
	}
	r := httptest.NewRequest("POST", "/subscribe", strings.NewReader(body))
	r.RemoteAddr = "198.51.100.8:1"
	other := httptest.NewRecorder()
	h.ServeHTTP(other, r)
	if other.Code != 201 {
		t.Errorf("another client: got status %d, want 201", other.Code)
	}
	fc.Advance(time.Minute)
	if w := send(h, "POST", "/subscribe", "", body); w.Code != 201 {
		t.Errorf("a minute later: got status %d, want 201", w.Code)
	}
}

func TestUnsubscribeLink(t *testing.T) {
	h, subs, _ := newSubsServer(t)
	send(h, "POST", "/api/v1/subscribers", tokOwner, `{"url":"https://hooks.example.com/x"}`)
	for i, method := range []string{"GET", "POST", "GET"} {
		if w := send(h, method, "/unsubscribe/good.sub_1", "", ""); w.Code != 200 {
			t.Errorf("#%d %s: got status %d, want 200 (idempotent)", i+1, method, w.Code)
		}
	}
	if len(subs.subs) != 0 {
		t.Errorf("got %d subscriptions left, want 0", len(subs.subs))
	}
	for _, token := range []string{"forged.sub_1", strings.Repeat("a", 300)} {
		if w := send(h, "GET", "/unsubscribe/"+token, "", ""); w.Code != 404 {
			t.Errorf("token %.20s: got status %d, want 404", token, w.Code)
		}
	}
}
