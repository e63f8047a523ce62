package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// Subscribers: the admin API (POST, GET /api/v1/subscribers, DELETE
// /api/v1/subscribers/{id}, GET /api/v1/subscribers/{id}/deliveries), the
// public subscribe endpoint (POST /subscribe, rate limited per client
// address), an e-mail subscription's confirmation link
// (/subscriptions/confirm/{token}) and the one-click unsubscribe link
// (/unsubscribe/{token}). A GET of either link only shows a page with a
// button: mail scanners fetch links, and must neither confirm nor
// unsubscribe anyone.

// SubscriberService creates, lists and removes subscriptions. Invalid
// input is a *probes.FieldError (400 naming the field); an unknown
// subscription or token matches fs.ErrNotExist or store.ErrNotFound (404);
// ErrLinkExpired is a 410 and ErrSubscribeLimited a 429.
type SubscriberService interface {
	// Subscribe creates a pending subscription of the organization (API)
	// or of the page's organization (Org empty, Page set: the public
	// form), and queues its verification event or confirmation e-mail.
	Subscribe(ctx context.Context, req SubscribeRequest) (Subscription, error)
	// Unsubscribe removes org's subscription id; found is false when
	// there was none (or it is another organization's).
	Unsubscribe(ctx context.Context, org, id string) (found bool, err error)
	// UnsubscribeToken checks the token of a one-click link and, with
	// apply, removes its subscription. A valid token whose subscription is
	// already gone is no error.
	UnsubscribeToken(ctx context.Context, token string, apply bool) error
	// Confirm checks an e-mail subscription's confirmation token and, with
	// apply, makes the subscription active.
	Confirm(ctx context.Context, token string, apply bool) (Confirmation, error)
	// List returns org's subscriptions, oldest first.
	List(ctx context.Context, org string) ([]Subscription, error)
	// Deliveries returns org's subscription id's delivery attempts, newest
	// first, older than attempt before (0: the newest).
	Deliveries(ctx context.Context, org, id string, before int64, limit int) (DeliveryLog, error)
}

// The service's refusals with their own statuses.
var (
	// ErrLinkExpired: the confirmation period of the subscription is over.
	ErrLinkExpired = errors.New("link expired")
	// ErrSubscribeLimited: too many confirmation e-mails to this address
	// lately.
	ErrSubscribeLimited = errors.New("too many subscription requests for this address")
)

// SubscribeRequest asks for a subscription.
type SubscribeRequest struct {
	Org, Page  string
	Type       string   // "webhook" or "email"
	URL        string   // webhook
	Email      string   // email, as typed
	Components []string // empty: every public component
}

// Subscription is a subscription as the API answers it. Secret is a
// webhook's, shown once when it is created; an e-mail subscription's is
// never shown.
type Subscription struct {
	ID             string     `json:"id"`
	Type           string     `json:"type"`
	URL            string     `json:"url,omitempty"`
	Email          string     `json:"email,omitempty"`
	Components     []string   `json:"components"`
	Status         string     `json:"status"`
	Secret         string     `json:"secret,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
	ConfirmedAt    *time.Time `json:"confirmed_at,omitempty"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
}

// Confirmation is what a confirmation link confirms.
type Confirmation struct {
	Page   string // the page's name
	Email  string
	Status string // pending, or active once confirmed
}

// DeliveryLog is one page of a subscription's delivery attempts.
type DeliveryLog struct {
	Deliveries []DeliveryAttempt `json:"deliveries"`
	// NextCursor, when set, is the ?cursor= of the next (older) page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// DeliveryAttempt is one attempt to deliver one message.
type DeliveryAttempt struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"`
	// WebhookID is a webhook message's webhook-id, MessageID an e-mail's
	// Message-ID: the same on every attempt of one message.
	WebhookID string `json:"webhook_id,omitempty"`
	MessageID string `json:"message_id,omitempty"`
	Attempt   int    `json:"attempt"`
	Outcome   string `json:"outcome"` // delivered, failed (retried) or gave_up
	// StatusCode is the endpoint's HTTP status, SMTPReply the mail
	// server's reply; absent when there was no answer.
	StatusCode int    `json:"status_code,omitempty"`
	SMTPReply  string `json:"smtp_reply,omitempty"`
	LatencyMS  int64  `json:"latency_ms"`
	Error      string `json:"error,omitempty"`
}

// subscribeBody is the JSON (or form) a subscribe request carries.
type subscribeBody struct {
	Type       string   `json:"type"`
	URL        string   `json:"url"`
	Email      string   `json:"email"`
	Components []string `json:"components"`
}

const maxSubscribeComponents = 100

// isForm reports whether the request is a form post (a browser): it is
// answered with a page, not JSON.
func isForm(r *http.Request) bool {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return ct == "application/x-www-form-urlencoded" || ct == "multipart/form-data"
}

// readSubscribe decodes a subscribe request: JSON, or a form (type, url,
// email, components repeated or comma-separated).
func readSubscribe(r *http.Request) (subscribeBody, error) {
	var b subscribeBody
	if isForm(r) {
		if err := r.ParseForm(); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return b, err
			}
			return b, badField("body", "not a valid form")
		}
		b.Type, b.URL, b.Email = r.PostForm.Get("type"), r.PostForm.Get("url"), r.PostForm.Get("email")
		for _, v := range r.PostForm["components"] {
			for c := range strings.SplitSeq(v, ",") {
				if c = strings.TrimSpace(c); c != "" {
					b.Components = append(b.Components, c)
				}
			}
		}
	} else {
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
		if b.Email != "" {
			b.Type = "email"
		}
	}
	switch b.Type {
	case "webhook":
		if b.URL == "" {
			return b, badField("url", "required")
		}
	case "email":
		if b.Email == "" {
			return b, badField("email", "required")
		}
	default:
		return b, badField("type", `want "webhook" or "email"`)
	}
	if len(b.Components) > maxSubscribeComponents {
		return b, badField("components", "at most %d", maxSubscribeComponents)
	}
	return b, nil
}

// subscribeError maps the service's errors: field errors are 400s.
func subscribeError(err error) error {
	var fe *probes.FieldError
	switch {
	case errors.As(err, &fe) && fe.Field != "":
		return badField(fe.Field, "%s", fe.Msg)
	case errors.Is(err, ErrSubscribeLimited):
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited",
			message: "too many subscription requests for this address; retry in an hour"}
	case errors.Is(err, ErrLinkExpired):
		return &apiError{status: http.StatusGone, code: "expired",
			message: "this link has expired: subscribe again"}
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
	sub, err := s.subscribers.Subscribe(r.Context(), SubscribeRequest{Org: p.Org, Type: b.Type, URL: b.URL, Email: b.Email, Components: b.Components})
	if err != nil {
		s.failAPI(w, r, subscribeError(err))
		return
	}
	s.logger.InfoContext(r.Context(), "subscriber created", "org", p.Org, "user", p.User, "subscriber", sub.ID, "type", sub.Type)
	w.Header().Set("Cache-Control", "no-store")
	respondJSON(w, http.StatusCreated, sub)
}

// handleListSubscribers is GET /api/v1/subscribers (admin or owner).
func (s *server) handleListSubscribers(w http.ResponseWriter, r *http.Request, p Principal) {
	subs, err := s.subscribers.List(r.Context(), p.Org)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if subs == nil {
		subs = []Subscription{}
	}
	w.Header().Set("Cache-Control", "no-store")
	respondJSON(w, http.StatusOK, struct {
		Subscribers []Subscription `json:"subscribers"`
	}{subs})
}

// Delivery log pages.
const (
	defaultDeliveryPage = 50
	maxDeliveryPage     = 200
)

// handleSubscriberDeliveries is GET /api/v1/subscribers/{id}/deliveries
// (admin or owner): ?cursor= (next_cursor of the previous page) and
// ?limit= (default 50, at most 200).
func (s *server) handleSubscriberDeliveries(w http.ResponseWriter, r *http.Request, p Principal) {
	q := r.URL.Query()
	var before int64
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n <= 0 {
			s.failAPI(w, r, badField("cursor", "not a cursor from next_cursor"))
			return
		}
		before = n
	}
	limit := defaultDeliveryPage
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxDeliveryPage {
			s.failAPI(w, r, badField("limit", "want 1 to %d", maxDeliveryPage))
			return
		}
		limit = n
	}
	log, err := s.subscribers.Deliveries(r.Context(), p.Org, r.PathValue("id"), before, limit)
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if log.Deliveries == nil {
		log.Deliveries = []DeliveryAttempt{}
	}
	w.Header().Set("Cache-Control", "no-store")
	respondJSON(w, http.StatusOK, log)
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
// its public components may be named. A form post (the page's form) is
// answered with a page, JSON with JSON.
func (s *server) handleSubscribe(w http.ResponseWriter, r *http.Request) {
	fail := s.failAPI
	if isForm(r) {
		fail = s.failPage
	}
	if wait, ok := s.subscribeLimit.allow(clientIP(r), s.clock.Now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		fail(w, r, &apiError{status: http.StatusTooManyRequests, code: "rate_limited", message: "too many subscribe requests; retry later"})
		return
	}
	p, _, err := s.view(r.Context(), r)
	if err != nil {
		fail(w, r, err)
		return
	}
	b, err := readSubscribe(r)
	if err != nil {
		fail(w, r, err)
		return
	}
	for _, c := range b.Components {
		if p.byID[c] == nil {
			fail(w, r, badField("components", "%q is not a component of this page", cleanText(c)))
			return
		}
	}
	// The page's organization too: page ids are unique only within one
	// (acme's "status" and globex's "status").
	sub, err := s.subscribers.Subscribe(r.Context(), SubscribeRequest{Org: p.Org, Page: p.ID, Type: b.Type, URL: b.URL, Email: b.Email, Components: b.Components})
	if err != nil {
		fail(w, r, subscribeError(err))
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if !isForm(r) {
		respondJSON(w, http.StatusCreated, sub)
		return
	}
	n := templates.NoticePage{Shell: p.shell("Subscribe"), Heading: "Almost done"}
	if sub.Type == "email" {
		n.Paragraphs = []string{
			"We sent a confirmation link to " + sub.Email + ". Open it to start receiving updates; until then nothing else is sent.",
			"The link expires in 48 hours.",
		}
	} else {
		n.Paragraphs = []string{"Your endpoint will receive a verification event; answer it with a 2xx status to start receiving updates."}
	}
	s.renderNotice(w, r, http.StatusCreated, n)
}

// renderNotice writes a notice page, uncached.
func (s *server) renderNotice(w http.ResponseWriter, r *http.Request, status int, n templates.NoticePage) {
	var buf bytes.Buffer
	if err := templates.Notice(n).Render(r.Context(), &buf); err != nil {
		s.fail(w, r, fmt.Errorf("render notice: %w", err))
		return
	}
	w.Header().Set("Content-Type", htmlType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// failPage is failAPI for a browser: the same statuses, answered with a
// notice page when the refusal is the visitor's (a bad field, a limit, an
// expired or unknown link).
func (s *server) failPage(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, errNotFound), errors.Is(err, store.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		ae = &apiError{status: http.StatusNotFound, message: "This link is not valid. Check that it was copied whole."}
	default:
		s.fail(w, r, err)
		return
	}
	msg := ae.message
	if ae.field != "" {
		msg = strings.TrimPrefix(msg, ae.field+": ")
		label, ok := map[string]string{"email": "E-mail address", "url": "URL", "components": "Components"}[ae.field]
		if !ok {
			label = ae.field
		}
		msg = label + ": " + msg
	}
	shell := templates.Shell{Title: "Status", Name: "Status"}
	if s.pages != nil {
		if p, _, err := s.view(r.Context(), r); err == nil {
			shell = p.shell("")
		}
	}
	s.renderNotice(w, r, ae.status, templates.NoticePage{Shell: shell, Heading: http.StatusText(ae.status), Paragraphs: []string{msg}})
}

// maxToken bounds a link's token: longer ones are refused before any
// lookup.
const maxToken = 200

// handleConfirm is /subscriptions/confirm/{token}: GET shows a page with a
// button, POST (the button) confirms.
func (s *server) handleConfirm(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) > maxToken {
		s.failPage(w, r, errNotFound)
		return
	}
	apply := r.Method == http.MethodPost
	c, err := s.subscribers.Confirm(r.Context(), token, apply)
	if err != nil {
		s.failPage(w, r, subscribeError(err))
		return
	}
	n := templates.NoticePage{Shell: templates.Shell{Title: c.Page, Name: c.Page}}
	if s.pages != nil {
		if p, _, err := s.view(r.Context(), r); err == nil {
			n.Shell = p.shell("Subscription")
		}
	}
	switch {
	case c.Status == "active":
		n.Heading = "Subscribed"
		n.Paragraphs = []string{c.Email + " will receive " + c.Page + " updates by e-mail. Every e-mail has a link to unsubscribe."}
	default:
		n.Heading = "Confirm your subscription"
		n.Paragraphs = []string{"Send " + c.Page + " updates to " + c.Email + "?"}
		n.Action, n.Button = "/subscriptions/confirm/"+url.PathEscape(token), "Confirm"
	}
	if apply {
		s.logger.InfoContext(r.Context(), "e-mail subscription confirmed")
	}
	s.renderNotice(w, r, http.StatusOK, n)
}

// handleUnsubscribe is the one-click /unsubscribe/{token}: POST (RFC 8058's
// List-Unsubscribe=One-Click, or the page's button) unsubscribes,
// idempotently; GET shows a page with the button. A token that does not
// check out is a 404.
func (s *server) handleUnsubscribe(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if len(token) > maxToken {
		s.failPage(w, r, errNotFound)
		return
	}
	apply := r.Method == http.MethodPost
	if err := s.subscribers.UnsubscribeToken(r.Context(), token, apply); err != nil {
		s.failPage(w, r, err)
		return
	}
	n := templates.NoticePage{Shell: templates.Shell{Title: "Status", Name: "Status"}}
	if s.pages != nil {
		if p, _, err := s.view(r.Context(), r); err == nil {
			n.Shell = p.shell("Unsubscribe")
		}
	}
	if apply {
		n.Heading = "Unsubscribed"
		n.Paragraphs = []string{"You will receive no more status updates from this subscription."}
	} else {
		n.Heading = "Unsubscribe"
		n.Paragraphs = []string{"Stop receiving status updates from this subscription?"}
		n.Action, n.Button = "/unsubscribe/"+url.PathEscape(token), "Unsubscribe"
	}
	s.renderNotice(w, r, http.StatusOK, n)
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
