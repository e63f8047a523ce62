package config

import (
	"net"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The SMTP TLS modes.
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNone     = "none"
)

// DefaultSMTPTimeout bounds one submission.
const DefaultSMTPTimeout = 30 * time.Second

// SMTP is the server e-mail subscribers' messages are submitted through
// (the top-level smtp: section; nil when absent, and then the subscribe
// form offers no e-mail).
type SMTP struct {
	Host string
	// Port defaults by TLS: 587 (starttls), 465 (tls), 25 (none).
	Port     int
	Username string
	// Password is a ${VARIABLE} reference; required with Username.
	Password Secret
	// From is the sender, "Acme Status <status@example.net>" or a bare
	// address.
	From string
	// TLS is starttls (default), tls (implicit, from the first byte) or
	// none, allowed only for a loopback host (a local relay).
	TLS     string
	Timeout time.Duration
}

type fileSMTP struct {
	Host     string         `yaml:"host"`
	Port     *int           `yaml:"port"`
	Username string         `yaml:"username"`
	Password Secret         `yaml:"password"`
	From     string         `yaml:"from"`
	TLS      string         `yaml:"tls"`
	Timeout  *time.Duration `yaml:"timeout"`
}

var smtpHostRE = regexp.MustCompile(`^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)

// smtpLoopback reports whether host is localhost or a loopback address.
func smtpLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (l *loader) smtp(fs *fileSMTP) *SMTP {
	if fs == nil {
		return nil
	}
	s := &SMTP{Host: fs.Host, Username: fs.Username, Password: fs.Password, From: fs.From, TLS: fs.TLS,
		Timeout: orDefault(fs.Timeout, DefaultSMTPTimeout)}
	if s.TLS == "" {
		s.TLS = SMTPStartTLS
	}
	switch s.TLS {
	case SMTPStartTLS:
		s.Port = orDefault(fs.Port, 587)
	case SMTPTLS:
		s.Port = orDefault(fs.Port, 465)
	case SMTPNone:
		s.Port = orDefault(fs.Port, 25)
	default:
		l.errf("smtp.tls", "want starttls, tls or none, got %s", strconv.Quote(s.TLS))
		s.Port = orDefault(fs.Port, 587)
	}
	switch {
	case s.Host == "":
		l.errf("smtp.host", "required: the SMTP server's host name")
	case net.ParseIP(s.Host) == nil && !smtpHostRE.MatchString(s.Host):
		l.errf("smtp.host", "invalid host %s (a host name or an IP address, without a port)", strconv.Quote(truncate(s.Host)))
	case s.TLS == SMTPNone && !smtpLoopback(s.Host):
		l.errf("smtp.tls", "none is only allowed for a loopback host (a local relay); %s needs starttls or tls", s.Host)
	}
	if s.Port < 1 || s.Port > 65535 {
		l.errf("smtp.port", "must be between 1 and 65535, got %d", s.Port)
	}
	if s.Username != "" || s.Password != "" {
		if s.Username == "" {
			l.errf("smtp.username", "required with a password")
		} else if strings.ContainsFunc(s.Username, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			l.errf("smtp.username", "must not contain control characters")
		}
		l.secret("smtp.password", s.Password, true)
	}
	switch a, err := mail.ParseAddress(s.From); {
	case s.From == "":
		l.errf("smtp.from", `required: the sender, e.g. "Acme Status <status@example.net>"`)
	case err != nil || strings.ContainsAny(s.From, "\r\n") || !strings.Contains(a.Address, "@"):
		l.errf("smtp.from", `not an e-mail address (e.g. "Acme Status <status@example.net>")`)
	}
	if s.Timeout <= 0 {
		l.errf("smtp.timeout", "must be positive, got %s", fmtDur(s.Timeout))
	}
	return s
}
