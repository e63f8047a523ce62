package subscriber

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
)

// DefaultTimeout bounds one delivery.
const DefaultTimeout = 10 * time.Second

const (
	maxResponse = 64 << 10
	userAgent   = "Lookout-Webhooks/1"
)

// Confirmer makes a pending subscription active once its endpoint answered
// the verification event.
type Confirmer interface {
	ConfirmSubscriber(ctx context.Context, id string, at time.Time) error
}

// Config is one subscriber's endpoint.
type Config struct {
	ID     string
	URL    string
	Secret string // "whsec_…"
	// Timeout bounds one delivery (default 10 s).
	Timeout time.Duration
	Clock   clock.Clock // nil: the wall clock
	// Transport, when set, is shared with other subscribers (NewTransport,
	// built with the same egress policy): connections to one host are
	// reused across its subscribers. Nil: the notifier has its own.
	Transport *http.Transport
}

// Notifier posts one subscriber's deliveries: the message's prebuilt Body,
// signed, with webhook-id derived from the message key (the same on every
// retry). It implements notify.Notifier.
type Notifier struct {
	id, url, host, secret string
	timeout               time.Duration
	clock                 clock.Clock
	log                   *slog.Logger
	confirm               Confirmer
	client                *http.Client
	ownTransport          bool
}

// CheckURL validates a subscriber URL as given by a user: absolute http or
// https, no credentials, and a host the egress policy allows. The error
// never quotes the URL (its path may hold a token).
func CheckURL(raw string, egress *probes.Egress) error {
	if raw == "" {
		return errors.New("required")
	}
	if len(raw) > 2000 {
		return errors.New("longer than 2000 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be an http or https URL")
	}
	if u.User != nil {
		return errors.New("must not carry credentials")
	}
	if u.Host == "" {
		return errors.New("has no host")
	}
	if err := egress.CheckURL(raw); err != nil {
		return err
	}
	return nil
}

// New returns the notifier of one subscriber. Every connection is checked
// against egress at dial time, so a name resolving to a refused address
// fails then (permanently). A nil egress is the default policy.
func New(cfg Config, logger *slog.Logger, egress *probes.Egress, confirm Confirmer) (*Notifier, error) {
	if err := CheckURL(cfg.URL, egress); err != nil {
		return nil, fmt.Errorf("subscriber %s: url: %w", cfg.ID, err)
	}
	if _, err := webhook.Sign(cfg.Secret, "check", time.Unix(0, 0), nil); err != nil {
		return nil, fmt.Errorf("subscriber %s: secret: %w", cfg.ID, err)
	}
	u, _ := url.Parse(cfg.URL)
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	n := &Notifier{
		id: cfg.ID, url: cfg.URL, host: u.Host, secret: cfg.Secret,
		timeout: cfg.Timeout, clock: cfg.Clock, confirm: confirm,
		log: logger.With("subscriber", cfg.ID, "webhook_host", u.Host),
	}
	t := cfg.Transport
	if t == nil {
		t, n.ownTransport = NewTransport(egress), true
	}
	n.client = &http.Client{
		Transport:     t,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return n, nil
}

// NewTransport returns the HTTP transport of subscriber deliveries: every
// connection checked against egress when it is dialled, no environment
// proxy, a few idle connections kept per host. Subscribers of one
// organization share one, so a fan-out to many endpoints of one host reuses
// its connections instead of holding one per subscriber.
func NewTransport(egress *probes.Egress) *http.Transport {
	return &http.Transport{
		Proxy:                  nil, // HTTP_PROXY is never used
		DialContext:            egress.Dialer(0).DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           256,
		MaxIdleConnsPerHost:    notify.DefaultPerDestination,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// Destination is the host deliveries to this subscriber share.
func Destination(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// CloseIdleConnections closes kept-alive connections of a notifier with its
// own transport (a shared one is left to its other users).
func (n *Notifier) CloseIdleConnections() {
	if n.ownTransport {
		n.client.CloseIdleConnections()
	}
}

// Deliver posts m.Body. A 2xx is success (and confirms a pending
// subscription on its verification event); 410 and other 4xx but 408 and
// 429, permanent redirects and refused addresses are permanent; the rest is
// retried, honouring Retry-After.
func (n *Notifier) Deliver(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Key == "" || len(m.Body) == 0 {
		return notify.Receipt{}, notify.Permanent(errors.New("subscriber webhook: message without key or body"))
	}
	id := webhook.MessageID(m.Key)
	now := n.clock.Now()
	sig, err := webhook.Sign(n.secret, id, now, m.Body)
	if err != nil {
		return notify.Receipt{}, notify.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(m.Body))
	if err != nil {
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("subscriber webhook %s: build request: %v", n.host, redact(err)))
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Content-Type", "application/json")
	req.Header[webhook.HeaderID] = []string{id}
	req.Header[webhook.HeaderTimestamp] = []string{strconv.FormatInt(now.Unix(), 10)}
	req.Header[webhook.HeaderSignature] = []string{sig}
	resp, err := n.client.Do(req)
	if err != nil {
		err = redact(err)
		if errors.Is(err, probes.ErrEgressDenied) {
			return notify.Receipt{}, notify.Permanent(fmt.Errorf("subscriber webhook %s: %w", n.host, err))
		}
		return notify.Receipt{}, fmt.Errorf("subscriber webhook %s: %w", n.host, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	code := resp.StatusCode
	reply := notify.Reply{Code: code}
	if code >= 200 && code < 300 {
		if m.Event == EventVerification && n.confirm != nil {
			if err := n.confirm.ConfirmSubscriber(ctx, n.id, n.clock.Now()); err != nil {
				return notify.Receipt{}, notify.WithReply(fmt.Errorf("subscriber %s: %w", n.id, err), reply)
			}
			n.log.Info("subscriber confirmed")
		}
		return notify.Receipt{Reply: reply}, nil
	}
	herr := notify.WithReply(fmt.Errorf("subscriber webhook %s: HTTP %d", n.host, code), reply)
	switch {
	case code == http.StatusMovedPermanently || code == http.StatusPermanentRedirect:
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("%w: redirects are not followed", herr))
	case code >= 300 && code < 400:
		return notify.Receipt{}, fmt.Errorf("%w: redirects are not followed", herr)
	case code >= 400 && code < 500 && code != http.StatusRequestTimeout && code != http.StatusTooManyRequests:
		return notify.Receipt{}, notify.Permanent(herr)
	}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 {
		return notify.Receipt{}, notify.RetryAfter(herr, time.Duration(min(s, 86400))*time.Second)
	}
	return notify.Receipt{}, herr
}

// redact drops the *url.Error wrapper, whose text holds the full URL.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
