package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/probes"
)

// Webhook subscribers: the admin API (POST /api/v1/subscribers, DELETE
// /api/v1/subscribers/{id}), the public subscribe endpoint (POST
// /subscribe, rate limited per client address) and the one-click
// unsubscribe link (/unsubscribe/{token}).

// SubscriberService creates and removes webhook subscriptions. Invalid
// input is a *probes.FieldError (400 naming the field); an unknown
// subscription or token matches fs.ErrNotExist or store.ErrNotFound (404).
type SubscriberService interface {
	// Subscribe creates a pending subscription of the organization (API)
	// or of the page's organization (Org empty, Page set: the public
	// form), and queues its verification event.
	Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error)
	// Unsubscribe removes org's subscription id; found is false when
	// there was none (or it is another organization's).
	Unsubscribe(ctx context.Context, org, id string) (found bool, err error)
	// UnsubscribeToken removes the subscription a one-click link names.
	// A valid token whose subscription is already gone is no error.
	UnsubscribeToken(ctx context.Context, token string) error
}

// SubscribeRequest asks for a subscription.
type SubscribeRequest struct {
	Org, Page  string
	Type       string // "webhook"
	URL        string
	Components []string // empty: every public component
}

// Subscription is a created subscription, as the API answers it. Secret is
// shown this once.
type Subscription struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	URL        string    `json:"url"`
	Components []string  `json:"components"`
	Status     string    `json:"status"`
	Secret     string    `json:"secret,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// subscribeBody is the JSON (or form) a subscribe request carries.
type subscribeBody struct {
	Type       string   `json:"type"`
	URL        string   `json:"url"`
	Components []string `json:"components"`
}

const maxSubscribeComponents = 100

// readSubscribe decodes a subscribe request: JSON, or a form (type, url,
// components repeated or comma-separated).
func readSubscribe(r *http.Request) (subscribeBody, error) {
	var b subscribeBody
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return b, err
			}
			return b, badField("body", "not a valid form")
		}
		b.Type, b.URL = r.PostForm.Get("type"), r.PostForm.Get("url")
		for _, v := range r.PostForm["components"] {
			for c := range strings.SplitSeq(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					b.Components = append(b.Components, c)
				}
			}
		}
	default:
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return b, err
			}
			return b, badField("body", "not valid JSON: %v", err)
		}
		if _, err := dec.Token(); !errors.Is(err, io.EOF) {
			return b, badField("body", "unexpected data after the JSON object")
		}
	}
	if b.Type == "" {
		b.Type = "webhook"
	}
	if b.Type != "webhook" {
		return b, badField("type", `only "webhook" is supported`)
	}
	if b.URL == "" {
		return b, badField("url", "required")
	}
	if len(b.Components) > maxSubscribeComponents {
		return b, badField("components", "at most %d", maxSubscribeComponents)
	}
	return b, nil
}

// subscribeError maps the service's errors: field errors are 400s.
func subscribeError(err error) error {
	var fe *probes.FieldError
	if errors.As(err, &fe) && fe.Field != "" {
		return badField(fe.Field, "%s", fe.Msg)
	}
	return err
}

// handleCreateSubscriber is POST /api/v1/subscribers (admin or owner).
func (s *server) handleCreateSubscriber(w http.ResponseWriter, r *http.Request, p Principal) {
	b, err := readSubscribe(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	sub, err := s.subscribers.Subscribe(r.Context(), SubscribeRequest{Org: p.Org, Type: b.Type, URL: b.URL, Components: b.Components})
	if err != nil {
		s.failAPI(w, r, subscribeError(err))
		return
	}
	s.logger.InfoContext(r.Context(), "subscriber created", "org", p.Org, "user", p.User, "subscriber", sub.ID)
	w.Header().Set("Cache-Control", "no-store")
	respondJSON(w, http.StatusCreated, sub)
}

// handleDeleteSubscriber is DELETE /api/v1/subscribers/{id}: 204, or 404
// when the organization has no such subscription.
func (s *server) handleDeleteSubscriber(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	found, err := s.subscribers.Unsubscribe(r.Context(), p.Org, id)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if !found {
		s.failAPI(w, r, errNotFound)
		return
	}
	s.logger.InfoContext(r.Context(), "subscriber deleted", "org", p.Org, "user", p.User, "subscriber", id)
	w.WriteHeader(http.StatusNoContent)
}

// handleSubscribe is the public POST /subscribe of the host's page: only
// its public components may be named.
func (s *server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	if wait, ok := s.subscribeLimit.allow(clientIP(r), s.clock.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		s.failAPI(w, r, &apiError{status: http.StatusTooManyRequests, code: "rate_limited", message: "too many subscribe requests; retry later"})
		return
	}
	p, _, err := s.view(r.Context(), r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	b, err := readSubscribe(r)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	for _, c := range b.Components {
		if p.byID[c] == nil {
			s.failAPI(w, r, badField("components", "%q is not a component of this page", cleanText(c)))
			return
		}
	}
	sub, err := s.subscribers.Subscribe(r.Context(), SubscribeRequest{Page: p.ID, Type: b.Type, URL: b.URL, Components: b.Components})
	if err != nil {
		s.failAPI(w, r, subscribeError(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	respondJSON(w, http.StatusCreated, sub)
}

// handleUnsubscribe is the one-click /unsubscribe/{token} (GET or POST):
// idempotent; a token that does not check out is a 404.
func (s *server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) > 200 {
		s.fail(w, r, errNotFound)
		return
	}
	if err := s.subscribers.UnsubscribeToken(r.Context(), token); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "Unsubscribed: this endpoint will receive no more status updates.\n")
}

// clientIP is the request's peer address: a client cannot choose it, so
// the limit cannot be dodged with a forged X-Forwarded-For.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimiter is a token bucket per key: burst requests at once, then one
// per every.
type rateLimiter struct {
	burst int
	every time.Duration
	max   int // keys kept at most; full buckets are dropped first

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(burst int, every time.Duration) *rateLimiter {
	return &rateLimiter{burst: burst, every: every, max: 10000, buckets: map[string]*bucket{}}
}

// allow takes a token for key; when there is none it returns how long
// until there is.
func (l *rateLimiter) allow(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= l.max {
			l.prune(now)
		}
		b = &bucket{tokens: float64(l.burst), at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(float64(l.burst), b.tokens+float64(now.Sub(b.at))/float64(l.every))
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) * float64(l.every)), false
}

// prune drops the buckets that have refilled, and all of them if that is
// not enough (a flood of addresses then resets everyone's limit, never
// memory).
func (l *rateLimiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(l.every) >= float64(l.burst) {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.max {
		clear(l.buckets)
	}
}

// subscribeBurst and subscribeEvery bound public subscribe requests per
// client address: 5 at once, then one a minute.
const (
	subscribeBurst = 5
	subscribeEvery = time.Minute
)
