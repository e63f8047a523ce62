package probes

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lookout-status/lookout/clock"
)

// fakeHeartbeats is a HeartbeatSource holding the newest ping per probe.
type fakeHeartbeats struct {
	mu    sync.Mutex
	pings map[string]Ping
	err   error
}

func (f *fakeHeartbeats) LastPing(_ context.Context, _, probeID string) (Ping, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return Ping{}, false, f.err
	}
	p, ok := f.pings[probeID]
	return p, ok, nil
}

func (f *fakeHeartbeats) ping(probeID string, p Ping) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pings == nil {
		f.pings = map[string]Ping{}
	}
	f.pings[probeID] = p
}

func TestHeartbeatProbe(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(since)
	src := &fakeHeartbeats{}
	r := Run{Env: &Env{Clock: clk, Heartbeats: src}, ProbeID: "nightly-backup", Since: since}
	spec := &HeartbeatSpec{PingToken: "a-long-random-url-secret", Period: Duration(24 * time.Hour), Grace: Duration(time.Hour)}
	if err := spec.Validate(nil); err != nil {
		t.Fatalf("validate: %v", err)
	}

	// One monitored job's life, in order: each step moves the clock and
	// maybe pings, then the probe is judged.
	steps := []struct {
		name    string
		at      time.Duration // since Since
		ping    *Ping
		wantOut Outcome
		wantErr string
	}{
		{name: "pending", at: time.Hour, wantOut: Up},
		{name: "pending until the deadline", at: 25 * time.Hour, wantOut: Up},
		{name: "first ping late", at: 25*time.Hour + time.Second, wantOut: Down, wantErr: "no heartbeat received since 2026-01-01T00:00:00Z"},
		{name: "recovered", at: 26 * time.Hour, ping: &Ping{}, wantOut: Up},
		{name: "on time", at: 50 * time.Hour, wantOut: Up},
		{name: "late", at: 52 * time.Hour, wantOut: Down, wantErr: "last heartbeat 26h ago (expected every 24h + 1h grace)"},
		{name: "late by minutes", at: 52*time.Hour + 30*time.Minute + 10*time.Second, wantOut: Down, wantErr: "last heartbeat 26h30m ago (expected every 24h + 1h grace)"},
		{name: "failed ping", at: 53 * time.Hour, ping: &Ping{Failed: true, Message: "disk full\n\x1b[31mno space\u202e left"}, wantOut: Down, wantErr: "job reported failure: disk full [31mno space left"},
		{name: "failed ping without message", at: 54 * time.Hour, ping: &Ping{Failed: true}, wantOut: Down, wantErr: "job reported failure"},
		{name: "recovered after failure", at: 55 * time.Hour, ping: &Ping{Message: "ok"}, wantOut: Up},
	}
	for _, st := range steps {
		clk.Set(since.Add(st.at))
		if st.ping != nil {
			p := *st.ping
			p.At = clk.Now()
			src.ping(r.ProbeID, p)
		}
		res := spec.Probe(context.Background(), r)
		if res.Outcome != st.wantOut || res.Error != st.wantErr {
			t.Errorf("%s: got %s %q, want %s %q", st.name, res.Outcome, res.Error, st.wantOut, st.wantErr)
		}
	}
}

func TestHeartbeatProbeFaults(t *testing.T) {
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	spec := &HeartbeatSpec{PingToken: "a-long-random-url-secret", Period: Duration(time.Hour)}
	cases := []struct {
		name    string
		src     HeartbeatSource
		ping    Ping
		wantErr string
	}{
		{name: "no source", wantErr: "heartbeats are not available on this server"},
		{name: "source fails", src: &fakeHeartbeats{err: errors.New("database is closed")}, wantErr: "read heartbeats: database is closed"},
		{
			name: "no grace", src: &fakeHeartbeats{pings: map[string]Ping{"p": {At: since}}},
			wantErr: "last heartbeat 2h ago (expected every 1h)",
		},
		{
			name: "long message capped", src: &fakeHeartbeats{pings: map[string]Ping{"p": {At: since, Failed: true, Message: strings.Repeat("é", 300)}}},
			wantErr: "job reported failure: " + strings.Repeat("é", maxPingMessage) + "…",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Run{Env: &Env{Clock: clock.NewFake(since.Add(2 * time.Hour)), Heartbeats: tc.src}, ProbeID: "p", Since: since}
			res := spec.Probe(context.Background(), r)
			if res.Outcome != Down || res.Error != tc.wantErr {
				t.Fatalf("got %s %q, want down %q", res.Outcome, res.Error, tc.wantErr)
			}
		})
	}
}

func TestHeartbeatSpec(t *testing.T) {
	k, ok := NewRegistry().Lookup("heartbeat")
	if !ok || !k.Push {
		t.Fatalf("got kind %+v, %v; want a push kind", k, ok)
	}
	spec, ok := k.New().(*HeartbeatSpec)
	if !ok {
		t.Fatalf("got %T, want *HeartbeatSpec", k.New())
	}
	spec.PingToken, spec.Period, spec.Grace = "a-long-random-url-secret", Duration(24*time.Hour), Duration(time.Hour)
	if got := spec.Token(); got != "a-long-random-url-secret" {
		t.Errorf("got token %q, want %q", got, "a-long-random-url-secret")
	}
	if got := spec.Deadline(); got != 25*time.Hour {
		t.Errorf("got deadline %v, want 25h", got)
	}
}

func TestHeartbeatValidate(t *testing.T) {
	cases := []struct {
		name string
		spec HeartbeatSpec
		want []string
	}{
		{name: "ok", spec: HeartbeatSpec{PingToken: "Abc_def-0123456789", Period: Duration(time.Hour)}},
		{name: "empty", want: []string{"token: is required", "period: is required and must be positive (e.g. 24h)"}},
		{name: "short token", spec: HeartbeatSpec{PingToken: "short", Period: Duration(time.Hour)}, want: []string{"token: must be 16 to 128 characters, got 5"}},
		{name: "long token", spec: HeartbeatSpec{PingToken: strings.Repeat("a", 129), Period: Duration(time.Hour)}, want: []string{"token: must be 16 to 128 characters, got 129"}},
		{
			name: "bad characters, not echoed", spec: HeartbeatSpec{PingToken: "secret/../../etc/passwd", Period: Duration(time.Hour)},
			want: []string{"token: may only hold letters, digits, '-' and '_'"},
		},
		{name: "non-ascii letters", spec: HeartbeatSpec{PingToken: "ééééééééééééééééé", Period: Duration(time.Hour)}, want: []string{"token: may only hold letters"}},
		{
			name: "short period, negative grace", spec: HeartbeatSpec{PingToken: "a-long-random-url-secret", Period: Duration(time.Second), Grace: Duration(-time.Minute)},
			want: []string{"period: must be at least 1m, got 1s", "grace: must not be negative, got -1m0s"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.spec.Validate(nil)
			wantFieldErrors(t, err, tc.want)
			if err != nil && strings.Contains(err.Error(), tc.spec.PingToken) && tc.spec.PingToken != "" {
				t.Errorf("got %q, which repeats the token", err)
			}
		})
	}
}

func TestCompactDuration(t *testing.T) {
	cases := map[time.Duration]string{
		25 * time.Hour:                        "25h",
		24*time.Hour + 30*time.Minute + 59:    "24h30m",
		90 * time.Minute:                      "1h30m",
		45*time.Second + 300*time.Millisecond: "45s",
		2 * time.Minute:                       "2m",
		0:                                     "0s",
		1500 * time.Microsecond:               "1.5ms",
	}
	for d, want := range cases {
		if got := compactDuration(d); got != want {
			t.Errorf("compactDuration(%v): got %q, want %q", d, got, want)
		}
	}
}
