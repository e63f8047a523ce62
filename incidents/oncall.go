package incidents

import (
	"slices"
	"time"
)

// Schedule says who is on call when. Rotations are measured in wall-clock
// time in TimeZone: a daily 09:00 handoff stays at 09:00 local across a DST
// change (that day's shift is 23 or 25 hours long).
type Schedule struct {
	ID string
	// TimeZone is the schedule's zone; nil means UTC. (The config loader
	// resolves the name: loading zone data is I/O, not done here.)
	TimeZone *time.Location
	// Layers are stacked: a later layer sits on top of an earlier one and
	// wins wherever it has someone on call.
	Layers []Layer
	// Overrides win over every layer for their span.
	Overrides []Override
}

// Layer is one rotation.
type Layer struct {
	Name    string
	Members []string
	// Start is the first handoff; its wall-clock time in the schedule's zone
	// is the handoff time of every shift. Nobody is on call from this layer
	// before Start, or from End on (zero End: forever).
	Start, End time.Time
	// Length is one shift in wall-clock time: 24h is one local day, 168h one
	// local week, 12h half a local day.
	Length time.Duration
	// Restrictions limit the layer to windows (all day when empty).
	Restrictions []Restriction
}

// RestrictionKind says what a restriction's offsets count from.
type RestrictionKind string

// The restriction kinds.
const (
	Daily  RestrictionKind = "daily"  // offsets from local midnight
	Weekly RestrictionKind = "weekly" // offsets from Monday 00:00 local
)

// Restriction is a recurring window in local wall-clock time, e.g. daily from
// 9h for 8h (09:00–17:00), or weekly from 4*24h+18h for 63h (Friday 18:00 to
// Monday 09:00).
type Restriction struct {
	Kind   RestrictionKind
	Start  time.Duration
	Length time.Duration
}

// Override puts User on call from Start until End, over every layer.
type Override struct {
	User       string
	Start, End time.Time
}

func (s Schedule) loc() *time.Location {
	if s.TimeZone == nil {
		return time.UTC
	}
	return s.TimeZone
}

// civil returns t's wall clock in loc as a UTC time, where durations are
// wall-clock durations.
func civil(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	y, mo, d := l.Date()
	h, mi, sec := l.Clock()
	return time.Date(y, mo, d, h, mi, sec, l.Nanosecond(), time.UTC)
}

// fromCivil returns the instant that has wall clock c in loc. A wall time
// skipped by DST normalizes as time.Date does.
func fromCivil(c time.Time, loc *time.Location) time.Time {
	return time.Date(c.Year(), c.Month(), c.Day(), c.Hour(), c.Minute(), c.Second(), c.Nanosecond(), loc)
}

// OnCall returns who is on call at at: the users of the overrides covering
// at, or else the user of the topmost layer with someone on call; nil when
// nobody is.
func (s Schedule) OnCall(at time.Time) []string {
	var out []string
	for _, o := range s.Overrides {
		if o.User != "" && !at.Before(o.Start) && at.Before(o.End) && !slices.Contains(out, o.User) {
			out = append(out, o.User)
		}
	}
	if len(out) > 0 {
		return out
	}
	loc := s.loc()
	for i := len(s.Layers) - 1; i >= 0; i-- {
		if u := s.Layers[i].onCall(at, loc); u != "" {
			return []string{u}
		}
	}
	return nil
}

// Next returns who comes on call next after at, and from when: the first
// moment after at when the on-call set changes to a different, non-empty
// one (its first user). It looks ahead up to a year; "" if nothing changes
// (for instance a one-member rotation).
func (s Schedule) Next(at time.Time) (string, time.Time) {
	cur := s.OnCall(at)
	horizon := at.AddDate(1, 0, 0)
	t := at
	for range 10000 {
		n, ok := s.nextBoundary(t)
		if !ok || n.After(horizon) {
			break
		}
		t = n
		if got := s.OnCall(t); len(got) > 0 && !slices.Equal(got, cur) {
			return got[0], t
		}
	}
	return "", time.Time{}
}

// nextBoundary returns the earliest instant after t at which the on-call
// set may change.
func (s Schedule) nextBoundary(t time.Time) (time.Time, bool) {
	var best time.Time
	found := false
	consider := func(c time.Time) {
		if c.After(t) && (!found || c.Before(best)) {
			best, found = c, true
		}
	}
	for _, o := range s.Overrides {
		consider(o.Start)
		consider(o.End)
	}
	loc := s.loc()
	for _, l := range s.Layers {
		consider(l.Start)
		if !l.End.IsZero() {
			consider(l.End)
		}
		if l.Length > 0 && !t.Before(l.Start) {
			k := l.shift(t, loc)
			consider(l.handoff(k+1, loc))
		}
		for _, r := range l.Restrictions {
			for _, c := range r.boundaries(t, loc) {
				consider(c)
			}
		}
	}
	return best, found
}

// handoff returns the start of shift k.
func (l Layer) handoff(k int64, loc *time.Location) time.Time {
	return fromCivil(civil(l.Start, loc).Add(time.Duration(k)*l.Length), loc)
}

// shift returns the index of the shift covering at (at ≥ Start, Length > 0).
func (l Layer) shift(at time.Time, loc *time.Location) int64 {
	k := int64(civil(at, loc).Sub(civil(l.Start, loc)) / l.Length)
	for range 3 {
		if k > 0 && l.handoff(k, loc).After(at) {
			k--
		}
	}
	for range 3 {
		if l.handoff(k+1, loc).After(at) {
			break
		}
		k++
	}
	return max(k, 0)
}

func (l Layer) onCall(at time.Time, loc *time.Location) string {
	if len(l.Members) == 0 || l.Length <= 0 || at.Before(l.Start) || (!l.End.IsZero() && !at.Before(l.End)) {
		return ""
	}
	if len(l.Restrictions) > 0 {
		in := false
		for _, r := range l.Restrictions {
			if r.covers(at, loc) {
				in = true
				break
			}
		}
		if !in {
			return ""
		}
	}
	k := l.shift(at, loc)
	return l.Members[k%int64(len(l.Members))]
}

// period returns the restriction's cycle and the civil start of the cycle
// containing c.
func (r Restriction) period(c time.Time) (time.Duration, time.Time) {
	day := time.Date(c.Year(), c.Month(), c.Day(), 0, 0, 0, 0, time.UTC)
	if r.Kind == Weekly {
		back := (int(day.Weekday()) + 6) % 7 // days since Monday
		return 7 * 24 * time.Hour, day.AddDate(0, 0, -back)
	}
	return 24 * time.Hour, day
}

func (r Restriction) covers(at time.Time, loc *time.Location) bool {
	if r.Length <= 0 {
		return false
	}
	c := civil(at, loc)
	p, base := r.period(c)
	off := (c.Sub(base) - r.Start) % p
	if off < 0 {
		off += p
	}
	return off < r.Length
}

// boundaries returns the next window start and end after t.
func (r Restriction) boundaries(t time.Time, loc *time.Location) []time.Time {
	if r.Length <= 0 {
		return nil
	}
	c := civil(t, loc)
	p, base := r.period(c)
	var out []time.Time
	for _, off := range []time.Duration{r.Start, r.Start + r.Length} {
		b := base.Add(off % p)
		for i := 0; i < 4 && !fromCivil(b, loc).After(t); i++ {
			b = b.Add(p)
		}
		out = append(out, fromCivil(b, loc))
	}
	return out
}

// Shift is a span during which the same people are on call.
type Shift struct {
	Users      []string
	Start, End time.Time
}

// Shifts returns the spans between from and to during which someone is on
// call: consecutive moments with the same on-call set form one shift, and
// spans nobody covers are left out. A shift already running at from is cut
// to start at from, one still running at to to end at to.
func (s Schedule) Shifts(from, to time.Time) []Shift {
	var out []Shift
	cur, start := s.OnCall(from), from
	t := from
	for range 10000 {
		n, ok := s.nextBoundary(t)
		if !ok || !n.Before(to) {
			break
		}
		t = n
		got := s.OnCall(t)
		if slices.Equal(got, cur) {
			continue
		}
		if len(cur) > 0 {
			out = append(out, Shift{Users: cur, Start: start, End: t})
		}
		cur, start = got, t
	}
	if len(cur) > 0 && start.Before(to) {
		out = append(out, Shift{Users: cur, Start: start, End: to})
	}
	return out
}
