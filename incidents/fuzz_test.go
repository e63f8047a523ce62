package incidents

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

// bytesIn hands out bytes, then zeros.
type bytesIn struct {
	b []byte
	i int
}

func (r *bytesIn) next() byte {
	if r.i >= len(r.b) {
		return 0
	}
	c := r.b[r.i]
	r.i++
	return c
}

func (r *bytesIn) more() bool { return r.i < len(r.b) }

// decodeConfig reads the policy knobs from two bytes.
func decodeConfig(r *bytesIn) Config {
	cfg := testConfig()
	a, b := r.next(), r.next()
	p := &cfg.Policy
	p.GroupingWindow = time.Duration(a&3) * 5 * time.Minute
	p.AutoResolve = a&4 == 0
	p.QuietPeriod = time.Duration(a>>3&3) * 5 * time.Minute
	p.PublishAutomatically = a&32 == 0
	p.AckTimeout = time.Duration(b&3) * 15 * time.Minute
	p.FlapChanges = int(b >> 2 & 3)
	p.FlapWindow = time.Duration(b>>4&3) * 10 * time.Minute
	cfg.Probes[3].DegradedPages = b&64 != 0
	return cfg
}

// decodeEvent reads one event; now is the time it will be applied at.
func decodeEvent(r *bytesIn, now time.Time) Event {
	op, b := r.next()%16, r.next()
	id := fmt.Sprintf("e%d", b%8)
	inc := fmt.Sprintf("acme-%d", b%6)
	actor := genActors[int(b)%len(genActors)]
	switch op {
	case 0, 1, 2, 3, 4, 5:
		o := []Outcome{Up, Degraded, Down, Down, "bogus"}[int(b>>2)%5]
		at := now
		if b&0x80 != 0 {
			at = now.Add(-time.Minute) // late or duplicate delivery
		}
		return ProbeResult{Org: "acme", Probe: genProbes[int(op)%len(genProbes)], Region: genRegions[int(b)%3], Outcome: o, At: at}
	case 6:
		return Tick{}
	case 7:
		return Acknowledge{ID: id, Incident: inc, Actor: actor}
	case 8:
		return Resolve{ID: id, Incident: inc, Actor: actor}
	case 9:
		return Snooze{ID: id, Incident: inc, Actor: actor, For: time.Duration(r.next()) * time.Minute}
	case 10:
		return AddNote{ID: id, Incident: inc, Actor: actor, Body: "note"}
	case 11:
		c := r.next()
		st := []PublicStatus{Investigating, Identified, Monitoring, PublicResolved, "", "bogus"}[int(c)%6]
		cs := map[string]ComponentStatus{genComps[int(c>>3)%len(genComps)]: []ComponentStatus{DegradedPerformance, MajorOutage, UnderMaintenance, "bogus"}[int(c>>6)%4]}
		return PublicUpdate{ID: id, Incident: inc, Actor: actor, Status: st, ComponentStatuses: cs}
	case 12:
		return SetImpact{ID: id, Incident: inc, Actor: actor, Impact: []Impact{ImpactNone, ImpactMinor, ImpactMajor, ImpactCritical, "bogus"}[int(r.next())%5]}
	case 13:
		return ComponentOverride{Component: genComps[int(b)%len(genComps)], Status: []ComponentStatus{"", MajorOutage, UnderMaintenance, "bogus"}[int(r.next())%4], Actor: actor}
	case 14:
		mid := fmt.Sprintf("m%d", b%3)
		switch c := r.next(); c % 3 {
		case 0:
			start := now.Add(time.Duration(int8(r.next())) * time.Minute)
			comps := []string{genComps[int(c>>2)%len(genComps)], genComps[int(c>>5)%len(genComps)]}
			return MaintenanceSchedule{ID: mid, Components: comps, Start: start, End: start.Add(time.Duration(r.next()) * time.Minute), Actor: actor}
		case 1:
			return MaintenanceCancel{ID: mid, Actor: actor}
		default:
			to := []MaintenanceStatus{MaintenanceScheduled, MaintenanceInProgress, MaintenanceVerifying, MaintenanceCompleted, MaintenanceCancelled}[int(c>>2)%5]
			return MaintenanceAdvance{ID: mid, Actor: actor, To: to}
		}
	default:
		c := r.next()
		st := []AlertStatus{AlertFiring, AlertResolved, "bogus"}[int(c)%3]
		comp := ""
		if c&4 != 0 {
			comp = genComps[int(c>>3)%len(genComps)]
		}
		return ExternalAlert{Fingerprint: fmt.Sprintf("f%d", b%4), Status: st, Component: comp,
			Labels: map[string]string{"severity": "critical"}, StartsAt: t0.Add(time.Duration(r.next()) * time.Minute)}
	}
}

// FuzzStep decodes a configuration and up to 200 timed events from the
// input and checks every invariant after each step, plus idempotency.
func FuzzStep(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 4, 0, 8, 4, 4, 1, 2, 8, 7, 0, 60, 6, 0, 120})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &bytesIn{b: data}
		s := New("acme", decodeConfig(r))
		now := t0
		c := &checker{t: t, keys: map[string]string{}}
		for n := 0; n < 200 && r.more(); n++ {
			ev := decodeEvent(r, now)
			next, effs := Step(s, ev, now)
			c.step(s, ev, now, next, effs)
			twice, again := Step(next, ev, now)
			if len(again) > 0 || !reflect.DeepEqual(twice, next) {
				t.Fatalf("%T%+v applied twice: effects %v", ev, ev, describeAll(again))
			}
			s = next
			now = now.Add(time.Duration(int8(r.next())) * 17 * time.Second)
		}
	})
}
