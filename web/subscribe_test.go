package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify/email"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/probes"
)

// fakeSubs checks URLs with the default egress policy, as the real service
// does, and keeps subscriptions in memory.
type fakeSubs struct {
	mu        sync.Mutex
	n         int
	subs      map[string]SubscribeRequest // by id
	confirmed map[string]bool
	disabled  map[string]string // id → why the delivery worker disabled it
}

func (f *fakeSubs) Subscribe(_ context.Context, req SubscribeRequest) (Subscription, error) {
	switch req.Type {
	case "email":
		if _, err := email.NormalizeAddress(req.Email); err != nil {
			return Subscription{}, &probes.FieldError{Field: "email", Msg: err.Error()}
		}
		if req.Email == "limited@example.net" {
			return Subscription{}, ErrSubscribeLimited
		}
	default:
		if err := subscriber.CheckURL(req.URL, nil); err != nil {
			return Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	id := fmt.Sprintf("sub_%d", f.n)
	if f.subs == nil {
		f.subs = map[string]SubscribeRequest{}
	}
	f.subs[id] = req
	if req.Type == "email" {
		return Subscription{ID: id, Type: req.Type, Email: req.Email, Components: req.Components, Status: "pending"}, nil
	}
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

func (f *fakeSubs) UnsubscribeToken(_ context.Context, token string, apply bool) error {
	id, ok := strings.CutPrefix(token, "good.")
	if !ok {
		return fmt.Errorf("token: %w", fs.ErrNotExist)
	}
	if apply {
		f.mu.Lock()
		delete(f.subs, id)
		f.mu.Unlock()
	}
	return nil
}

// Confirm knows "confirm.<id>" tokens of pending subscriptions, and
// "expired.<id>".
func (f *fakeSubs) Confirm(_ context.Context, token string, apply bool) (Confirmation, error) {
	if strings.HasPrefix(token, "expired.") {
		return Confirmation{}, ErrLinkExpired
	}
	id, ok := strings.CutPrefix(token, "confirm.")
	f.mu.Lock()
	defer f.mu.Unlock()
	req, found := f.subs[id]
	if !ok || !found || req.Type != "email" {
		return Confirmation{}, fmt.Errorf("token: %w", fs.ErrNotExist)
	}
	c := Confirmation{Page: "Acme Status", Email: req.Email, Status: "pending"}
	if f.confirmed[id] {
		c.Status = "active"
	}
	if apply {
		if f.confirmed == nil {
			f.confirmed = map[string]bool{}
		}
		f.confirmed[id] = true
		c.Status = "active"
	}
	return c, nil
}

func (f *fakeSubs) List(_ context.Context, org string) ([]Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Subscription
	for id, req := range f.subs {
		if req.Org == org {
			sub := Subscription{ID: id, Type: req.Type, URL: req.URL, Email: req.Email, Components: req.Components, Status: "pending"}
			if why, ok := f.disabled[id]; ok {
				at := apiNow
				sub.Status, sub.DisabledReason, sub.DisabledAt = "disabled", why, &at
			}
			out = append(out, sub)
		}
	}
	return out, nil
}

// Deliveries pages through 5 fake attempts (ids 5..1) of acme's sub_1.
func (f *fakeSubs) Deliveries(_ context.Context, org, id string, before int64, limit int) (DeliveryLog, error) {
	if org != "acme" || id != "sub_1" {
		return DeliveryLog{}, fmt.Errorf("subscriber: %w", fs.ErrNotExist)
	}
	if before == 0 {
		before = 6
	}
	var log DeliveryLog
	for n := before - 1; n >= 1 && len(log.Deliveries) < limit; n-- {
		log.Deliveries = append(log.Deliveries, DeliveryAttempt{Event: "incident", Attempt: int(n), Outcome: "failed", StatusCode: 500, WebhookID: "msg_x"})
		if len(log.Deliveries) == limit && n > 1 {
			log.NextCursor = fmt.Sprint(n)
		}
	}
	return log, nil
}

func newSubsServer(t *testing.T) (http.Handler, *fakeSubs, *clock.Fake) {
	fc := clock.NewFake(pageNow)
	subs := &fakeSubs{}
	h := NewServer(Deps{
		Pages: &fakePages{data: func() PageData { d := basePage(); d.Org = "acme"; return d }()}, Clock: fc, Subscribers: subs,
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
		{"email without address", tokOwner, `{"type":"email","url":"https://hooks.example.com/x"}`, 400, "email"},
		{"header injection", tokOwner, `{"type":"email","email":"a@b.c\r\nBcc: x@evil.example"}`, 400, "email"},
		{"unknown type", tokOwner, `{"type":"sms","url":"https://hooks.example.com/x"}`, 400, "type"},
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
	if got := subs.subs["sub_1"]; got.Page != "acme" || got.Org != "acme" || !slices.Equal(got.Components, []string{"api", "storage"}) {
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

func form(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	return send(h, method, target, "", body, "Content-Type", "application/x-www-form-urlencoded")
}

// A GET of the unsubscribe link (a mail scanner, or a person) only shows a
// button; the RFC 8058 one-click POST unsubscribes.
func TestUnsubscribeNeedsPost(t *testing.T) {
	h, subs, _ := newSubsServer(t)
	send(h, "POST", "/api/v1/subscribers", tokOwner, `{"url":"https://hooks.example.com/x"}`)
	w := send(h, "GET", "/unsubscribe/good.sub_1", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<form method="post" action="/unsubscribe/good.sub_1">`) {
		t.Fatalf("GET: got %d %s, want 200 with a form posting to the link", w.Code, w.Body)
	}
	if len(subs.subs) != 1 {
		t.Fatalf("GET unsubscribed: got %d subscriptions, want 1", len(subs.subs))
	}
	w = form(h, "POST", "/unsubscribe/good.sub_1", "List-Unsubscribe=One-Click")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Unsubscribed") {
		t.Errorf("one-click POST: got %d %s, want 200 Unsubscribed", w.Code, w.Body)
	}
	if len(subs.subs) != 0 {
		t.Errorf("got %d subscriptions after the POST, want 0", len(subs.subs))
	}
}

func TestEmailSubscribeForm(t *testing.T) {
	h, subs, _ := newSubsServer(t)
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"header injection", "type=email&email=a%40b.c%0D%0ABcc%3A+x%40evil.example", 400, "E-mail address: must not contain spaces or line breaks"},
		{"display name", "type=email&email=Dana+%3Cdana%40example.net%3E", 400, "E-mail address:"},
		{"private component", "type=email&email=dana%40example.net&components=secret-db", 400, "is not a component of this page"},
		{"address limited", "type=email&email=limited%40example.net", 429, "retry in an hour"},
		{"ok", "type=email&email=dana%40example.net&components=api&components=storage", 201, "We sent a confirmation link to dana@example.net"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := form(h, "POST", "/subscribe", tc.body)
			if w.Code != tc.status {
				t.Fatalf("got status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("got Content-Type %q, want a page", ct)
			}
			if !strings.Contains(w.Body.String(), html.EscapeString(tc.want)) {
				t.Errorf("page does not say %q:\n%s", tc.want, w.Body)
			}
		})
	}
	if len(subs.subs) != 1 {
		t.Fatalf("got %d subscriptions, want only the valid one", len(subs.subs))
	}
	for _, req := range subs.subs {
		if req.Type != "email" || req.Email != "dana@example.net" || !slices.Equal(req.Components, []string{"api", "storage"}) {
			t.Errorf("got request %+v, want dana's e-mail subscription to api and storage", req)
		}
	}
}

// A GET of the confirmation link (a scanner, or a person) only shows a
// button; its POST confirms.
func TestConfirmLink(t *testing.T) {
	h, subs, _ := newSubsServer(t)
	if w := form(h, "POST", "/subscribe", "type=email&email=dana%40example.net"); w.Code != 201 {
		t.Fatalf("subscribe: got %d %s", w.Code, w.Body)
	}
	w := send(h, "GET", "/subscriptions/confirm/confirm.sub_1", "", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), `<form method="post" action="/subscriptions/confirm/confirm.sub_1">`) ||
		!strings.Contains(w.Body.String(), "dana@example.net") {
		t.Fatalf("GET: got %d %s, want a confirm button for dana@example.net", w.Code, w.Body)
	}
	if subs.confirmed["sub_1"] {
		t.Fatal("GET confirmed the subscription")
	}
	w = form(h, "POST", "/subscriptions/confirm/confirm.sub_1", "")
	if w.Code != 200 || !strings.Contains(w.Body.String(), "Subscribed") || !subs.confirmed["sub_1"] {
		t.Fatalf("POST: got %d %s, want Subscribed", w.Code, w.Body)
	}
	if w := send(h, "GET", "/subscriptions/confirm/confirm.sub_1", "", ""); strings.Contains(w.Body.String(), "<form") {
		t.Errorf("GET after confirming: still offers the button")
	}
	for _, tc := range []struct {
		token  string
		status int
	}{{"expired.sub_1", 410}, {"confirm.sub_9", 404}, {"forged", 404}, {strings.Repeat("a", 300), 404}} {
		if w := send(h, "GET", "/subscriptions/confirm/"+tc.token, "", ""); w.Code != tc.status {
			t.Errorf("%.20s: got %d, want %d", tc.token, w.Code, tc.status)
		}
	}
	// A cross-site form cannot confirm for someone.
	w = send(h, "POST", "/subscriptions/confirm/confirm.sub_1", "", "", "Sec-Fetch-Site", "cross-site")
	if w.Code != 403 {
		t.Errorf("cross-site POST: got %d, want 403", w.Code)
	}
}

func TestSubscribersListAndDeliveries(t *testing.T) {
	h, _, _ := newSubsServer(t)
	send(h, "POST", "/api/v1/subscribers", tokOwner, `{"type":"email","email":"dana@example.net"}`)
	var list struct{ Subscribers []Subscription }
	w := send(h, "GET", "/api/v1/subscribers", tokOwner, "")
	if err := json.Unmarshal(w.Body.Bytes(), &list); w.Code != 200 || err != nil || len(list.Subscribers) != 1 || list.Subscribers[0].Email != "dana@example.net" {
		t.Fatalf("list: got %d %s, want dana's subscription", w.Code, w.Body)
	}
	for _, tc := range []struct{ token, path string }{{tokViewer, "/api/v1/subscribers"}, {tokViewer, "/api/v1/subscribers/sub_1/deliveries"}} {
		if w := send(h, "GET", tc.path, tc.token, ""); w.Code != 403 {
			t.Errorf("viewer %s: got %d, want 403", tc.path, w.Code)
		}
	}
	if w := send(h, "GET", "/api/v1/subscribers/sub_1/deliveries", tokGlobex, ""); w.Code != 404 {
		t.Errorf("another organization's log: got %d, want 404", w.Code)
	}
	var attempts []int
	cursor := ""
	for page := 0; page < 5; page++ {
		var log DeliveryLog
		w := send(h, "GET", "/api/v1/subscribers/sub_1/deliveries?limit=2&cursor="+cursor, tokOwner, "")
		if err := json.Unmarshal(w.Body.Bytes(), &log); w.Code != 200 || err != nil {
			t.Fatalf("page %d: got %d %s", page, w.Code, w.Body)
		}
		for _, d := range log.Deliveries {
			attempts = append(attempts, d.Attempt)
		}
		if cursor = log.NextCursor; cursor == "" {
			break
		}
	}
	if !slices.Equal(attempts, []int{5, 4, 3, 2, 1}) {
		t.Errorf("paged attempts: got %v, want [5 4 3 2 1]", attempts)
	}
	for _, q := range []string{"cursor=abc", "cursor=-1", "limit=0", "limit=201"} {
		if w := send(h, "GET", "/api/v1/subscribers/sub_1/deliveries?"+q, tokOwner, ""); w.Code != 400 {
			t.Errorf("?%s: got %d, want 400", q, w.Code)
		}
	}
}

// The page shows the e-mail form when e-mail subscriptions are on, without
// private components.
func TestSubscribeFormOnPage(t *testing.T) {
	for _, on := range []bool{false, true} {
		data := basePage()
		data.EmailSubscriptions = on
		h := NewServer(Deps{Pages: &fakePages{data: data}, Clock: clock.NewFake(pageNow)})
		w := send(h, "GET", "/", "", "")
		body := w.Body.String()
		if got := strings.Contains(body, `<form method="post" action="/subscribe">`); got != on {
			t.Errorf("EmailSubscriptions %v: form shown %v", on, got)
		}
		if on && (!strings.Contains(body, `name="email"`) || !strings.Contains(body, `value="storage"`) || strings.Contains(body, `value="secret-db"`)) {
			t.Errorf("form: want an e-mail field and the public components only:\n%s", body)
		}
	}
}
