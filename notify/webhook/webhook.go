// Package webhook delivers notifications as signed HTTP POSTs following the
// Standard Webhooks scheme (https://www.standardwebhooks.com): a JSON event
// envelope, the message's idempotency key as webhook-id, and an HMAC-SHA256
// signature over id, timestamp and body. Every connection passes the egress
// policy at dial time; redirects are never followed.
package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http/httpguts"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/probes"
)

// DefaultTimeout bounds one delivery when Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// maxResponse is how much of a receiver's answer is read (then discarded).
const maxResponse = 64 << 10

// userAgent identifies deliveries to receivers.
const userAgent = "Lookout-Webhooks/1"

// Config is one webhook endpoint.
type Config struct {
	// URL receives the POSTs: http or https, a public host.
	URL string
	// Secret is the signing secret, "whsec_" and at least 24 bytes in
	// standard base64 (see GenerateSecret).
	Secret string
	// Headers are added to every request (e.g. an Authorization the
	// receiver wants). They cannot replace the webhook-*, Content-Type,
	// Content-Length, Host or hop-by-hop headers.
	Headers map[string]string
	// Timeout bounds one delivery, connection included; default 10 s.
	Timeout time.Duration
	// Clock stamps webhook-timestamp; nil is the wall clock.
	Clock clock.Clock
}

// Notifier posts messages to one webhook endpoint. It is safe for
// concurrent use.
type Notifier struct {
	url     string
	host    string // for errors and logs: the URL's path and query may hold a token
	key     []byte
	headers http.Header
	timeout time.Duration
	clock   clock.Clock
	log     *slog.Logger
	dialer  *net.Dialer
	client  *http.Client
}

// reserved are the headers a Config may not set.
var reserved = map[string]bool{
	http.CanonicalHeaderKey(HeaderID):        true,
	http.CanonicalHeaderKey(HeaderTimestamp): true,
	http.CanonicalHeaderKey(HeaderSignature): true,
	"Content-Type":                           true,
	"Content-Length":                         true,
	"Content-Encoding":                       true,
	"Host":                                   true,
	"Transfer-Encoding":                      true,
	"Connection":                             true,
	"Keep-Alive":                             true,
	"Te":                                     true,
	"Trailer":                                true,
	"Upgrade":                                true,
	"Proxy-Authorization":                    true,
	"Proxy-Connection":                       true,
}

// New checks cfg and returns a notifier. The URL's host is checked against
// egress now (literal and "localhost" addresses); every connection is
// checked again at dial time, so a name that resolves to a refused address
// fails then. A nil egress is the default policy.
func New(cfg Config, logger *slog.Logger, egress *probes.Egress) (*Notifier, error) {
	var problems []error
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		problems = append(problems, errors.New("url: required"))
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, which may hold a token
		}
		problems = append(problems, fmt.Errorf("url: invalid: %v", err))
	default:
		if err := egress.CheckURL(cfg.URL); err != nil {
			problems = append(problems, fmt.Errorf("url: %w", err))
		}
	}
	key, err := decodeSecret(cfg.Secret)
	if cfg.Secret == "" {
		problems = append(problems, errors.New("secret: required"))
	} else if err != nil {
		problems = append(problems, fmt.Errorf("secret: %w", err))
	}
	headers := http.Header{}
	for name, value := range cfg.Headers {
		switch {
		case !httpguts.ValidHeaderFieldName(name):
			problems = append(problems, fmt.Errorf("headers: %q is not a valid header name", name))
		case reserved[http.CanonicalHeaderKey(name)] || strings.HasPrefix(strings.ToLower(name), "webhook-"):
			problems = append(problems, fmt.Errorf("headers: %s is set by lookout and cannot be overridden", name))
		case !httpguts.ValidHeaderFieldValue(value):
			problems = append(problems, fmt.Errorf("headers: value of %s contains control characters", name))
		default:
			headers.Set(name, value)
		}
	}
	if cfg.Timeout < 0 {
		problems = append(problems, errors.New("timeout: must not be negative"))
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("webhook: %w", errors.Join(problems...))
	}

	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		url:     cfg.URL,
		host:    u.Host,
		key:     key,
		headers: headers,
		timeout: cfg.Timeout,
		clock:   cfg.Clock,
		log:     logger.With("webhook_host", u.Host),
		dialer:  egress.Dialer(0),
	}
	n.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                  nil, // HTTP_PROXY is never used
			DialContext:            n.dialer.DialContext,
			TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
			ForceAttemptHTTP2:      true,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return n, nil
}

// Destination is the key deliveries to this endpoint share in the outbox
// (its host), so one slow receiver holds up no other.
func (n *Notifier) Destination() string { return strings.ToLower(n.host) }

// CloseIdleConnections closes kept-alive connections, e.g. when a config
// reload drops the notifier.
func (n *Notifier) CloseIdleConnections() { n.client.CloseIdleConnections() }

// Envelope is the JSON body of every delivery.
type Envelope struct {
	// Type is "incident." and the message's event, e.g. "incident.triggered".
	Type string `json:"type"`
	// Timestamp is when the event was decided (not when it was sent): it
	// is the same on every retry.
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data is the incident with the escalation level and the people paged.
type Data struct {
	notify.Incident
	Level   int             `json:"level"`
	Repeat  int             `json:"repeat"`
	Targets []notify.Target `json:"targets"`
}

// Payload returns the body posted for m. It depends only on m, so every
// retry sends the same bytes.
func Payload(m notify.Message) ([]byte, error) {
	if !validEvent(string(m.Event)) {
		return nil, fmt.Errorf("webhook payload: event %q is not a lowercase identifier", m.Event)
	}
	targets := m.Targets
	if targets == nil {
		targets = []notify.Target{}
	}
	if m.Incident.Components == nil {
		m.Incident.Components = []notify.Component{}
	}
	b, err := json.Marshal(Envelope{
		Type:      "incident." + string(m.Event),
		Timestamp: m.At.UTC(),
		Data:      Data{Incident: m.Incident, Level: m.Level, Repeat: m.Repeat, Targets: targets},
	})
	if err != nil {
		return nil, fmt.Errorf("webhook payload: %w", err)
	}
	return b, nil
}

// MessageID returns the webhook-id for an idempotency key: the key itself
// when it is 1 to 200 characters of [A-Za-z0-9_:-], otherwise "msg_" and
// a hash of it (the spec forbids "." in ids, which are signed in
// "id.timestamp.body"). Both are stable across retries.
func MessageID(key string) string {
	if len(key) > 0 && len(key) <= 200 && strings.Trim(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:-") == "" {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "msg_" + base64.RawURLEncoding.EncodeToString(sum[:24])
}

// Deliver posts m, signed. A 2xx is success. A timeout, a connection
// failure, a 5xx, 408, 429 or a temporary redirect is retried (with the
// receiver's Retry-After, if any); any other 4xx, a permanent redirect and
// an address refused by the egress policy are permanent.
func (n *Notifier) Deliver(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Key == "" {
		return notify.Receipt{}, notify.Permanent(errors.New("webhook: message has no idempotency key"))
	}
	body, err := Payload(m)
	if err != nil {
		return notify.Receipt{}, notify.Permanent(err)
	}
	id := MessageID(m.Key)
	now := n.clock.Now()
	sig := "v1," + base64.StdEncoding.EncodeToString(signature(n.key, id, now.Unix(), body))

	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("webhook %s: build request: %v", n.host, redact(err)))
	}
	req.Header.Set("User-Agent", userAgent) // a configured one replaces it
	for name, vs := range n.headers {
		req.Header[name] = append([]string(nil), vs...)
	}
	req.Header.Set("Content-Type", "application/json")
	// Set the spec's lowercase names exactly (Go would canonicalize them;
	// HTTP names are case-insensitive, but some receivers are not).
	req.Header[HeaderID] = []string{id}
	req.Header[HeaderTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	req.Header[HeaderSignature] = []string{sig}

	resp, err := n.client.Do(req)
	if err != nil {
		return notify.Receipt{}, n.requestError(ctx, err)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		n.log.Debug("webhook delivered", "status", resp.StatusCode, "webhook_id", id)
		return notify.Receipt{Reply: notify.Reply{Code: resp.StatusCode}}, nil
	}
	return notify.Receipt{}, notify.WithReply(n.statusError(resp, head), notify.Reply{Code: resp.StatusCode})
}

// requestError classifies a failed round trip.
func (n *Notifier) requestError(ctx context.Context, err error) error {
	err = redact(err)
	switch {
	case errors.Is(err, probes.ErrEgressDenied):
		return notify.Permanent(fmt.Errorf("webhook %s: %w", n.host, err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("webhook %s: no answer in time (timeout %s): %w", n.host, n.timeout, err)
	default:
		return fmt.Errorf("webhook %s: %w", n.host, err)
	}
}

// statusError turns a non-2xx answer into a retryable or permanent error.
func (n *Notifier) statusError(resp *http.Response, head []byte) error {
	code := resp.StatusCode
	msg := fmt.Sprintf("webhook %s: HTTP %d", n.host, code)
	if s := snippet(head); s != "" {
		msg += fmt.Sprintf(" %q", s)
	}
	err := errors.New(msg)
	switch {
	case code == http.StatusMovedPermanently || code == http.StatusPermanentRedirect:
		return notify.Permanent(fmt.Errorf("%w: redirects are not followed; update the webhook URL", err))
	case code >= 300 && code < 400:
		return fmt.Errorf("%w: redirects are not followed", err)
	case code == http.StatusGone:
		return notify.Permanent(fmt.Errorf("%w: the receiver wants no more deliveries", err))
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return notify.Permanent(err)
	}
	if d, ok := retryAfter(resp.Header.Get("Retry-After"), n.clock.Now()); ok {
		return notify.RetryAfter(err, d)
	}
	return err
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, int64(24*time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// snippet is the start of a response body, fit for an error message: up to
// 120 printable characters of its first line.
func snippet(b []byte) string {
	var sb strings.Builder
	for i, r := range string(b) {
		if i >= 120 || r == '\n' || r == '\r' {
			break
		}
		if r == utf8.RuneError || r < 0x20 || r == 0x7f {
			continue
		}
		sb.WriteRune(r)
	}
	return strings.TrimSpace(sb.String())
}

// redact drops the *url.Error wrapper, whose text holds the full URL (a
// token may be in its path or query), keeping the cause.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func validEvent(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < 'a' || r > 'z') && r != '_' {
			return false
		}
	}
	return true
}
