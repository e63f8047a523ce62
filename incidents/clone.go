package incidents

import (
	"maps"
	"slices"
)

// Clone returns a deep copy of s that shares nothing mutable with it.
// Configuration slices (DependsOn, escalation levels, schedule layers) are
// shared: they are never modified in place, only replaced.
func (s State) Clone() State {
	c := s
	c.Components = maps.Clone(s.Components)
	c.Escalations = maps.Clone(s.Escalations)
	c.Schedules = maps.Clone(s.Schedules)
	c.Maintenances = maps.Clone(s.Maintenances)
	c.Alerts = maps.Clone(s.Alerts)
	if s.Probes != nil {
		c.Probes = make(map[string]Probe, len(s.Probes))
		for id, p := range s.Probes {
			p.Regions = slices.Clone(p.Regions)
			p.Changes = slices.Clone(p.Changes)
			c.Probes[id] = p
		}
	}
	if s.Incidents != nil {
		c.Incidents = make(map[string]Incident, len(s.Incidents))
		for id, inc := range s.Incidents {
			c.Incidents[id] = inc.clone()
		}
	}
	return c
}

func (inc Incident) clone() Incident {
	inc.Components = slices.Clone(inc.Components)
	inc.Alerts = slices.Clone(inc.Alerts)
	inc.Timeline = slices.Clone(inc.Timeline)
	inc.Declared = maps.Clone(inc.Declared)
	return inc
}

// snapshot is a copy for an effect, without the timeline.
func (inc Incident) snapshot() Incident {
	c := inc.clone()
	c.Timeline = nil
	return c
}
