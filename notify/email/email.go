// Package email sends status-page subscribers' e-mails through an SMTP
// server: each outbox row carries a prebuilt Message (JSON), composed into
// the same RFC 5322 bytes (same Message-ID) on every attempt and submitted
// over STARTTLS, implicit TLS or, to a loopback relay only, plain SMTP.
package email

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/lookout-status/lookout/notify"
)

// The TLS modes.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS (port 587)
	TLSImplicit = "tls"      // TLS from the first byte (port 465)
	TLSNone     = "none"     // no TLS: a relay on the loopback interface only
)

// DefaultTimeout bounds one submission.
const DefaultTimeout = 30 * time.Second

// Config is the SMTP server mail is submitted to.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	// From is the sender, e.g. "Acme Status <status@example.net>".
	From string
	// TLS is TLSStartTLS (default), TLSImplicit or TLSNone.
	TLS string
	// Timeout bounds one submission (default 30 s).
	Timeout time.Duration
	// TLSConfig replaces the default (the system roots, ServerName Host);
	// tests pass their own roots.
	TLSConfig *tls.Config
}

// Notifier submits subscriber e-mails. It implements notify.Notifier.
type Notifier struct {
	cfg     Config
	from    *mail.Address
	addr    string
	tlsConf *tls.Config
	log     *slog.Logger
}

// New checks cfg and returns a notifier; it does not connect.
func New(cfg Config, logger *slog.Logger) (*Notifier, error) {
	if cfg.Host == "" {
		return nil, errors.New("new e-mail notifier: no host")
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.TLS != TLSStartTLS && cfg.TLS != TLSImplicit && cfg.TLS != TLSNone {
		return nil, fmt.Errorf("new e-mail notifier: tls: unknown mode %q", cfg.TLS)
	}
	if cfg.TLS == TLSNone && !IsLoopback(cfg.Host) {
		return nil, fmt.Errorf("new e-mail notifier: tls none is only allowed for a loopback host")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort(cfg.TLS)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil || strings.ContainsAny(cfg.From, "\r\n") {
		return nil, fmt.Errorf("new e-mail notifier: from: not an address")
	}
	if _, err := NormalizeAddress(from.Address); err != nil {
		return nil, fmt.Errorf("new e-mail notifier: from: %w", err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	tc := cfg.TLSConfig
	if tc == nil {
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		tc = tc.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{
		cfg: cfg, from: from, addr: net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)), tlsConf: tc,
		log: logger.With("smtp_host", cfg.Host),
	}, nil
}

// DefaultPort is the submission port of a TLS mode.
func DefaultPort(mode string) int {
	switch mode {
	case TLSImplicit:
		return 465
	case TLSNone:
		return 25
	}
	return 587
}

// IsLoopback reports whether host is "localhost" or a loopback address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Destination is the worker's destination of every e-mail: the SMTP server,
// which takes them all.
func (n *Notifier) Destination() string { return "smtp:" + n.addr }

// FromDomain is the sender's domain, for Message-IDs.
func (n *Notifier) FromDomain() string {
	_, d, _ := strings.Cut(n.from.Address, "@")
	return strings.ToLower(d)
}

// Deliver submits the Message in m.Body. A 5xx reply to RCPT or DATA is
// the recipient's (or the message's) refusal: permanent. Everything else
// (4xx, a refused connection, a failed TLS handshake or login, a 5xx to
// MAIL FROM, which is the sender's problem, not the subscriber's) is
// retried.
func (n *Notifier) Deliver(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	var msg Message
	if err := json.Unmarshal(m.Body, &msg); err != nil || msg.To == "" {
		return notify.Receipt{}, notify.Permanent(errors.New("e-mail: message without a recipient"))
	}
	data, err := msg.Compose(n.from)
	if err != nil {
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("e-mail: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.Timeout)
	defer cancel()
	reply, err := n.send(ctx, msg.To, data)
	if err != nil {
		return notify.Receipt{}, err
	}
	return notify.Receipt{Reply: reply}, nil
}

// send runs one SMTP session.
func (n *Notifier) send(ctx context.Context, to string, data []byte) (notify.Reply, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", n.addr)
	if err != nil {
		return notify.Reply{}, fmt.Errorf("e-mail: connect %s: %w", n.addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// The connection dies with ctx, whatever the client is waiting for.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *smtp.Client
	switch n.cfg.TLS {
	case TLSImplicit:
		c = smtp.NewClient(tls.Client(conn, n.tlsConf))
	case TLSStartTLS:
		c, err = smtp.NewClientStartTLS(conn, n.tlsConf)
		if err != nil {
			conn.Close()
			return replyOf(err), notify.WithReply(fmt.Errorf("e-mail: starttls with %s: %w", n.addr, err), replyOf(err))
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = n.cfg.Timeout, n.cfg.Timeout
	if err := c.Hello(n.FromDomain()); err != nil {
		return n.fail("hello", err, false)
	}
	if n.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", n.cfg.Username, n.cfg.Password)); err != nil {
			return n.fail("login", err, false)
		}
	}
	if err := c.Mail(n.from.Address, nil); err != nil {
		return n.fail("mail from", err, false)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return n.fail("rcpt to", err, true)
	}
	w, err := c.Data()
	if err != nil {
		return n.fail("data", err, true)
	}
	if _, err := w.Write(data); err != nil {
		return n.fail("data", err, true)
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return n.fail("data", err, true)
	}
	_ = c.Quit()
	return notify.Reply{Code: 250, Text: resp.StatusText}, nil
}

// fail wraps an SMTP step's error: with the server's reply when there is
// one, permanent for a 5xx when the step is the recipient's.
func (n *Notifier) fail(step string, err error, recipients bool) (notify.Reply, error) {
	r := replyOf(err)
	e := fmt.Errorf("e-mail: %s: %w", step, err)
	if recipients && r.Code >= 500 && r.Code < 600 {
		e = notify.Permanent(e)
	}
	if r.Code != 0 {
		e = notify.WithReply(e, r)
	}
	return r, e
}

// replyOf is the server's reply an error carries, if any.
func replyOf(err error) notify.Reply {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		text := se.Message
		if se.EnhancedCode != (smtp.EnhancedCode{}) && se.EnhancedCode != smtp.NoEnhancedCode {
			text = fmt.Sprintf("%d.%d.%d %s", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2], se.Message)
		}
		return notify.Reply{Code: se.Code, Text: text}
	}
	return notify.Reply{}
}
