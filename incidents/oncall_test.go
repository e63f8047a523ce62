package incidents

import (
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Berlin without depending on the host's zone files
)

func berlin(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatalf("load Europe/Berlin: %v", err)
	}
	return loc
}

func TestScheduleOnCall(t *testing.T) {
	loc := berlin(t)
	local := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, loc) }
	utc := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, time.UTC) }
	daily := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"ana", "ben", "cy"},
		Start:   local(2026, 3, 27, 9, 0), // ana from Fri 27 March 09:00
		Length:  24 * time.Hour,
	}}}
	halfDay := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"day", "night"},
		Start:   local(2026, 10, 20, 9, 0),
		Length:  12 * time.Hour,
	}}}
	weekly := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"ana", "ben"},
		Start:   local(2026, 3, 23, 9, 0), // Monday
		Length:  7 * 24 * time.Hour,
	}}}
	stacked := Schedule{TimeZone: loc, Layers: []Layer{
		{Members: []string{"base"}, Start: local(2026, 1, 1, 0, 0), Length: 24 * time.Hour},
		{ // business hours on weekdays, on top
			Members:      []string{"office"},
			Start:        local(2026, 1, 1, 0, 0),
			Length:       24 * time.Hour,
			Restrictions: []Restriction{{Kind: Weekly, Start: 9 * time.Hour, Length: 8 * time.Hour}, {Kind: Weekly, Start: 33 * time.Hour, Length: 8 * time.Hour}},
		},
	}, Overrides: []Override{{User: "zoe", Start: local(2026, 3, 24, 12, 0), End: local(2026, 3, 24, 13, 0)}}}
	ended := Schedule{Layers: []Layer{{Members: []string{"old"}, Start: utc(2026, 1, 1, 0, 0), End: utc(2026, 2, 1, 0, 0), Length: 24 * time.Hour}}}

	tests := []struct {
		name  string
		sched Schedule
		at    time.Time
		want  []string
	}{
		{"daily: first shift", daily, local(2026, 3, 27, 9, 0), []string{"ana"}},
		{"daily: before the first handoff nobody", daily, local(2026, 3, 27, 8, 59), nil},
		{"daily: second shift", daily, local(2026, 3, 28, 9, 0), []string{"ben"}},
		// Spring forward on 29 March (02:00 → 03:00): ben's shift is 23h and
		// the 09:00 local handoff is 07:00 UTC, not 08:00.
		{"spring DST: 08:59 local is still ben", daily, local(2026, 3, 29, 8, 59), []string{"ben"}},
		{"spring DST: 09:00 local is cy", daily, local(2026, 3, 29, 9, 0), []string{"cy"}},
		{"spring DST: 06:59 UTC is ben", daily, utc(2026, 3, 29, 6, 59), []string{"ben"}},
		{"spring DST: 07:00 UTC is cy", daily, utc(2026, 3, 29, 7, 0), []string{"cy"}},
		{"daily: wraps around the members", daily, local(2026, 3, 30, 9, 0), []string{"ana"}},
		// Fall back on 25 October (03:00 → 02:00): 09:00 local is 08:00 UTC.
		{"fall DST: 24 October is day 211 (ben)", daily, local(2026, 10, 24, 9, 0), []string{"ben"}},
		{"fall DST: 07:59 UTC is 08:59 local, still ben", daily, utc(2026, 10, 25, 7, 59), []string{"ben"}},
		{"fall DST: 08:00 UTC is the 09:00 local handoff to cy", daily, utc(2026, 10, 25, 8, 0), []string{"cy"}},
		{"fall DST: the doubled hour 02:30 CET is still ben", daily, utc(2026, 10, 25, 1, 30), []string{"ben"}},
		{"12h: day shift at 09:00", halfDay, local(2026, 10, 24, 9, 0), []string{"day"}},
		{"12h: night shift at 21:00", halfDay, local(2026, 10, 24, 21, 0), []string{"night"}},
		{"12h: across fall DST, still day at 09:00 local", halfDay, local(2026, 10, 25, 9, 0), []string{"day"}},
		{"12h: 08:59 local after DST is night", halfDay, local(2026, 10, 25, 8, 59), []string{"night"}},
		{"12h: after DST, 21:00 local is night", halfDay, local(2026, 10, 26, 21, 0), []string{"night"}},
		{"weekly: first week", weekly, local(2026, 3, 29, 23, 0), []string{"ana"}},
		{"weekly: second week from Monday 09:00", weekly, local(2026, 3, 30, 9, 0), []string{"ben"}},
		{"layers: the top layer wins in its window (Tue 10:00)", stacked, local(2026, 3, 24, 10, 0), []string{"office"}},
		{"layers: outside it the base layer (Tue 18:00)", stacked, local(2026, 3, 24, 18, 0), []string{"base"}},
		{"layers: the top layer has no Wednesday window", stacked, local(2026, 3, 25, 10, 0), []string{"base"}},
		{"override wins over every layer", stacked, local(2026, 3, 24, 12, 30), []string{"zoe"}},
		{"override ends at End", stacked, local(2026, 3, 24, 13, 0), []string{"office"}},
		{"layer end: nobody after", ended, utc(2026, 2, 1, 0, 0), nil},
		{"layer end: on call before", ended, utc(2026, 1, 31, 23, 59), []string{"old"}},
		{"empty schedule", Schedule{}, utc(2026, 1, 1, 0, 0), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.sched.OnCall(tc.at); !slices.Equal(got, tc.want) {
				t.Errorf("OnCall(%s) = %v, want %v", tc.at.In(loc), got, tc.want)
			}
		})
	}
}

func TestScheduleNext(t *testing.T) {
	loc := berlin(t)
	local := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, loc) }
	daily := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"ana", "ben", "cy"},
		Start:   local(2026, 3, 27, 9, 0),
		Length:  24 * time.Hour,
	}}, Overrides: []Override{{User: "zoe", Start: local(2026, 4, 1, 12, 0), End: local(2026, 4, 1, 14, 0)}}}
	tests := []struct {
		name     string
		sched    Schedule
		at       time.Time
		wantUser string
		wantFrom time.Time
	}{
		{"across spring DST", daily, local(2026, 3, 29, 1, 0), "cy", local(2026, 3, 29, 9, 0)},
		{"before the first shift", daily, local(2026, 3, 1, 0, 0), "ana", local(2026, 3, 27, 9, 0)},
		{"an override is next", daily, local(2026, 4, 1, 10, 0), "zoe", local(2026, 4, 1, 12, 0)},
		{"after the override, back to the rotation", daily, local(2026, 4, 1, 12, 30), "cy", local(2026, 4, 1, 14, 0)},
		{"one member never changes", Schedule{Layers: []Layer{{Members: []string{"solo"}, Start: local(2026, 1, 1, 0, 0), Length: 24 * time.Hour}}}, local(2026, 3, 1, 0, 0), "", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, from := tc.sched.Next(tc.at)
			if u != tc.wantUser || !from.Equal(tc.wantFrom) {
				t.Errorf("Next(%s) = %q from %s, want %q from %s", tc.at, u, from.In(loc), tc.wantUser, tc.wantFrom.In(loc))
			}
		})
	}
}

// TestEscalationUsesOnCallWhenTheLevelFires: the override in force at the
// moment each level fires gets the page.
func TestEscalationUsesOnCallWhenTheLevelFires(t *testing.T) {
	s := newState(t, func(c *Config) {
		c.Schedules[0].Overrides = []Override{{User: "zoe", Start: at(10 * time.Minute), End: at(20 * time.Minute)}}
	})
	s, _, all := run(t, s, with(openStorage, tick(5*time.Minute+time.Second), tick(15*time.Minute+time.Second)))
	var got []string
	for _, e := range all {
		if n, ok := e.(Notify); ok {
			got = append(got, describe(n))
		}
	}
	want := []string{
		"notify acme-1/notify/g0/l0/r0 triggered [ana]",
		"notify acme-1/notify/g0/l1/r0 escalated [lead,#ops]",
		"notify acme-1/notify/g0/l0/r1 escalated [zoe]",
	}
	if d := diffLines(got, want); d != "" {
		t.Error(d)
	}
	_ = s
}

func TestScheduleShifts(t *testing.T) {
	loc := berlin(t)
	local := func(d, h int) time.Time { return time.Date(2026, 4, d, h, 0, 0, 0, loc) }
	daily := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"ana", "ben"},
		Start:   local(1, 9),
		Length:  24 * time.Hour,
	}}}
	withOverride := daily
	withOverride.Overrides = []Override{{User: "zoe", Start: local(2, 12), End: local(2, 14)}}
	overlapping := daily
	overlapping.Overrides = []Override{
		{User: "zoe", Start: local(2, 12), End: local(2, 14)},
		{User: "vic", Start: local(2, 13), End: local(2, 15)},
	}
	sameUser := daily
	sameUser.Overrides = []Override{{User: "ana", Start: local(1, 9), End: local(2, 9)}}
	office := Schedule{TimeZone: loc, Layers: []Layer{{
		Members: []string{"ana"}, Start: local(1, 0), Length: 24 * time.Hour,
		Restrictions: []Restriction{{Kind: Daily, Start: 9 * time.Hour, Length: 8 * time.Hour}},
	}}}
	tests := []struct {
		name     string
		sched    Schedule
		from, to time.Time
		want     []string
	}{
		{"rotation, cut at both ends", daily, local(1, 12), local(3, 12), []string{
			"[ana] 04-01 12:00–04-02 09:00", "[ben] 04-02 09:00–04-03 09:00", "[ana] 04-03 09:00–04-03 12:00"}},
		{"an override splits a shift", withOverride, local(2, 9), local(3, 9), []string{
			"[ben] 04-02 09:00–04-02 12:00", "[zoe] 04-02 12:00–04-02 14:00", "[ben] 04-02 14:00–04-03 09:00"}},
		{"overlapping overrides: everyone covered, in list order", overlapping, local(2, 11), local(2, 16), []string{
			"[ben] 04-02 11:00–04-02 12:00", "[zoe] 04-02 12:00–04-02 13:00", "[zoe vic] 04-02 13:00–04-02 14:00",
			"[vic] 04-02 14:00–04-02 15:00", "[ben] 04-02 15:00–04-02 16:00"}},
		{"an override of who is on call anyway changes nothing", sameUser, local(1, 9), local(2, 9), []string{
			"[ana] 04-01 09:00–04-02 09:00"}},
		{"gaps nobody covers are left out", office, local(1, 0), local(3, 0), []string{
			"[ana] 04-01 09:00–04-01 17:00", "[ana] 04-02 09:00–04-02 17:00"}},
		{"before the first shift", daily, local(1, 0), local(1, 9), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, sh := range tc.sched.Shifts(tc.from, tc.to) {
				got = append(got, fmt.Sprintf("%v %s–%s", sh.Users, sh.Start.In(loc).Format("01-02 15:04"), sh.End.In(loc).Format("01-02 15:04")))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
