package probes

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
)

// HeartbeatSpec is a push probe: a monitored job calls
// POST /heartbeats/{token} (with ?status=fail on failure) at least every
// period, and the probe is down when it is late by more than grace or
// reported a failure.
//
//	heartbeat:
//	  token: "a-long-random-url-secret"   # ≥ 16 of [A-Za-z0-9_-]
//	  period: 24h
//	  grace: 1h                           # default 0
type HeartbeatSpec struct {
	PingToken string   `yaml:"token"`
	Period    Duration `yaml:"period"`
	Grace     Duration `yaml:"grace"`
}

// Heartbeat token length bounds.
const (
	minHeartbeatToken = 16
	maxHeartbeatToken = 128
)

// maxPingMessage caps how much of a job's message a result repeats.
const maxPingMessage = 200

func heartbeatKind() Kind {
	return Kind{Name: "heartbeat", New: func() Spec { return &HeartbeatSpec{} }, Push: true}
}

// Token is the URL secret the monitored job pings with.
func (s *HeartbeatSpec) Token() string { return s.PingToken }

// Deadline is how long after a ping the next one is due at the latest:
// period plus grace.
func (s *HeartbeatSpec) Deadline() time.Duration { return s.Period.D() + s.Grace.D() }

func (s *HeartbeatSpec) Validate(_ *Egress) error {
	var errs []error
	switch n := len(s.PingToken); {
	case n == 0:
		errs = append(errs, Errf("token", "is required"))
	case n < minHeartbeatToken || n > maxHeartbeatToken:
		errs = append(errs, Errf("token", "must be %d to %d characters, got %d", minHeartbeatToken, maxHeartbeatToken, n))
	case strings.IndexFunc(s.PingToken, func(r rune) bool { return !isTokenRune(r) }) >= 0:
		// The token itself is a secret: never repeat it in a message.
		errs = append(errs, Errf("token", "may only hold letters, digits, '-' and '_'"))
	}
	if s.Period.D() <= 0 {
		errs = append(errs, Errf("period", "is required and must be positive (e.g. 24h)"))
	} else if s.Period.D() < time.Minute {
		errs = append(errs, Errf("period", "must be at least 1m, got %s", s.Period.D()))
	}
	if s.Grace.D() < 0 {
		errs = append(errs, Errf("grace", "must not be negative, got %s", s.Grace.D()))
	}
	return errors.Join(errs...)
}

func isTokenRune(r rune) bool {
	return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_')
}

// Probe judges the newest ping at the clock's now. It makes no connection.
func (s *HeartbeatSpec) Probe(ctx context.Context, r Run) Result {
	var res Result
	if r.Heartbeats == nil {
		return res.Fail("heartbeats are not available on this server")
	}
	now := time.Now()
	if r.Clock != nil {
		now = r.Clock.Now()
	}
	p, ok, err := r.Heartbeats.LastPing(ctx, r.Organization, r.ProbeID)
	if err != nil {
		return res.Fail("read heartbeats: %v", err)
	}
	deadline := s.Deadline()
	switch {
	case !ok && now.Sub(r.Since) <= deadline:
		res.Outcome = Up // pending: the first ping is not due yet
	case !ok:
		return res.Fail("no heartbeat received since %s", r.Since.UTC().Format(time.RFC3339))
	case p.Failed:
		if msg := cleanPingMessage(p.Message); msg != "" {
			return res.Fail("job reported failure: %s", msg)
		}
		return res.Fail("job reported failure")
	case now.Sub(p.At) > deadline:
		expected := compactDuration(s.Period.D())
		if s.Grace > 0 {
			expected += " + " + compactDuration(s.Grace.D()) + " grace"
		}
		return res.Fail("last heartbeat %s ago (expected every %s)", compactDuration(now.Sub(p.At)), expected)
	default:
		res.Outcome = Up
	}
	return res
}

// cleanPingMessage makes a job's message safe to show: control and format
// characters (bidi overrides included) become spaces, runs of space collapse, and it is capped.
func cleanPingMessage(m string) string {
	m = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return ' '
		}
		return r
	}, m)
	m = strings.Join(strings.Fields(m), " ")
	if r := []rune(m); len(r) > maxPingMessage {
		m = string(r[:maxPingMessage]) + "…"
	}
	return m
}

// compactDuration formats d compactly for messages: "25h", "1h30m", "45s",
// dropping seconds past an hour.
func compactDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d >= time.Hour:
		d = d.Truncate(time.Minute)
	case d >= time.Second:
		d = d.Truncate(time.Second)
	case d == 0:
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
