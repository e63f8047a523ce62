// Package probes checks a service from the outside: one Spec per probe kind
// (http, tcp, dns, tls, steps, s3, heartbeat), a registry of those kinds, the
// egress policy every outgoing connection passes, and the scheduler that runs
// probes on their intervals.
package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/lookout-status/lookout/clock"
)

// Outcome is a probe result's verdict.
type Outcome string

// The three outcomes, as DESIGN.md names them.
const (
	Up       Outcome = "up"
	Degraded Outcome = "degraded"
	Down     Outcome = "down"
)

// Phase is one timed part of a probe run: dns, connect, tls, first_byte, total
// for HTTP; put, get, delete for S3; one per step for steps.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration_ns"`
}

// Result is what one run of one probe found.
type Result struct {
	ProbeID  string        `json:"probe_id"`
	Region   string        `json:"region"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"` // total wall time of the run
	Outcome  Outcome       `json:"outcome"`
	Phases   []Phase       `json:"phases,omitempty"`
	// Error says, for a human, why the run was not up: "connect: connection
	// refused", `assert $.status: got "DOWN", want "UP"`. Never holds secrets.
	Error string `json:"error,omitempty"`
}

// AddPhase appends a timed phase.
func (r *Result) AddPhase(name string, d time.Duration) {
	r.Phases = append(r.Phases, Phase{Name: name, Duration: d})
}

// Phase returns the duration of the named phase, or 0.
func (r Result) Phase(name string) time.Duration {
	for _, p := range r.Phases {
		if p.Name == name {
			return p.Duration
		}
	}
	return 0
}

// Fail marks the result down with a formatted reason.
func (r *Result) Fail(format string, args ...any) Result {
	r.Outcome = Down
	r.Error = fmt.Sprintf(format, args...)
	return *r
}

// Env is what a probe run may use from its surroundings.
type Env struct {
	Clock  clock.Clock
	Region string
	// Egress decides which addresses outgoing connections may reach; checked
	// at dial time for every connection, redirects and re-resolutions included.
	Egress *Egress
	// MaxBody caps every response body read, after decompression.
	MaxBody int64
	// Heartbeats answers for push probes; nil where none are configured.
	Heartbeats HeartbeatSource
	Logger     *slog.Logger
}

// DefaultMaxBody is the response body cap when none is configured.
const DefaultMaxBody = 1 << 20

// Run is one invocation of a probe.
type Run struct {
	*Env
	Organization string
	ProbeID      string
	// Since is when monitoring of this probe began (process start or the
	// probe's creation): push probes count a missing first ping from it.
	Since time.Time
	// Timeout is the run's configured timeout, for the messages of a run
	// that exceeds it ("timeout after 10s"); the deadline itself is on the
	// run's context. Zero: the messages use the time left on the context
	// when the run started.
	Timeout time.Duration
}

// Spec is one probe kind's settings, decoded from the config. A Spec is
// immutable once validated and may be run concurrently.
type Spec interface {
	// Validate reports every problem with the settings, each a *FieldError
	// naming the field relative to the kind's block, joined with errors.Join.
	// eg is the owning organization's egress policy: targets it refuses are
	// refused here, at save time, as well as at dial time.
	Validate(eg *Egress) error
	// Probe runs the check once. ctx carries the run's deadline.
	Probe(ctx context.Context, r Run) Result
}

// Kind is one probe kind: its config key and a constructor for an empty Spec
// to decode into.
type Kind struct {
	Name string
	New  func() Spec
	// Push kinds are not dialled by the scheduler on their own schedule alone:
	// they are fed by calls from outside (heartbeat) and evaluated on a tick.
	Push bool
}

// Registry holds the probe kinds. Build it with NewRegistry; it is read-only.
type Registry struct {
	kinds map[string]Kind
	names []string
}

// NewRegistry returns the registry of every built-in probe kind. This is the
// one place kinds are listed.
func NewRegistry() *Registry {
	r := &Registry{kinds: map[string]Kind{}}
	for _, k := range []Kind{httpKind(), tcpKind(), dnsKind(), tlsKind(), stepsKind(), s3Kind(), heartbeatKind()} {
		r.kinds[k.Name] = k
		r.names = append(r.names, k.Name)
	}
	return r
}

// Lookup returns the kind with that config key.
func (r *Registry) Lookup(name string) (Kind, bool) {
	k, ok := r.kinds[name]
	return k, ok
}

// Names lists the kinds in registration order.
func (r *Registry) Names() []string { return append([]string(nil), r.names...) }

// Probe is one configured probe: identity, schedule and its kind's Spec.
type Probe struct {
	ID           string
	Organization string
	Component    string
	Name         string
	Kind         string
	Interval     time.Duration
	Timeout      time.Duration
	Spec         Spec
	Push         bool
	// Egress is the owning organization's policy (nil: the default policy).
	Egress *Egress
}

// FieldError is a validation problem tied to a field path inside a kind's
// block ("url", "expect.json[0].path", "steps[2].retry_until.within"). The
// config loader prefixes the probe's own path and resolves the line.
type FieldError struct {
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errf builds a *FieldError.
func Errf(field, format string, args ...any) error {
	return &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// PrefixErrors prefixes every FieldError inside err (joined or not) with
// prefix, so nested specs (steps of a steps probe) can reuse validators.
func PrefixErrors(prefix string, err error) error {
	if err == nil {
		return nil
	}
	var out []error
	for _, e := range flatten(err) {
		var fe *FieldError
		if errors.As(e, &fe) {
			f := prefix
			if fe.Field != "" {
				if strings.HasPrefix(fe.Field, "[") {
					f += fe.Field
				} else {
					f += "." + fe.Field
				}
			}
			out = append(out, &FieldError{Field: f, Msg: fe.Msg})
			continue
		}
		out = append(out, &FieldError{Field: prefix, Msg: e.Error()})
	}
	return errors.Join(out...)
}

// flatten unpacks errors.Join trees into their leaves.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// Flatten exposes flatten for the config loader.
func Flatten(err error) []error {
	if err == nil {
		return nil
	}
	return flatten(err)
}

// HeartbeatSource tells a heartbeat probe about the pings it received.
type HeartbeatSource interface {
	// LastPing returns the newest ping for the probe; ok is false if none
	// was ever received.
	LastPing(ctx context.Context, org, probeID string) (p Ping, ok bool, err error)
}

// Ping is one call a monitored job made to its heartbeat URL.
type Ping struct {
	At      time.Time
	Failed  bool   // the job reported ?status=fail
	Message string // optional message from the job, capped
}

// Duration is a time.Duration written in config as "30s", "1m30s".
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("invalid duration %q (use e.g. 30s, 5m, 1h30m)", string(b))
	}
	*d = Duration(v)
	return nil
}

// MarshalText formats the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
