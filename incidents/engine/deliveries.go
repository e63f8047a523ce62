package engine

import (
	"net/url"
	"sort"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
)

// Deliveries maps one commit's effects to outbox rows: every channel of the
// organization hears of every incident's life (opened or paged, escalated,
// updated, acknowledged, resolved). Keys derive from the effects' own
// deterministic keys plus the channel, so re-running the same step after a
// crash queues the same rows, which the outbox ignores.
//
// prev is the state before the effects (nil on first configuration); it
// tells an acknowledgement apart from other updates.
func Deliveries(cfg OrgConfig, prev *incidents.State, st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
	if len(cfg.Channels) == 0 {
		return nil
	}
	type msg struct {
		key   string
		event notify.Event
		inc   incidents.Incident
		level int
		rep   int
		rcpt  []incidents.Recipient
	}
	var msgs []msg
	paged := map[string]bool{} // incidents with a Notify in this commit
	for _, ef := range effs {
		if n, ok := ef.(incidents.Notify); ok {
			paged[n.Incident] = true
		}
	}
	// lifecycle follows each incident through this commit's effects, so an
	// acknowledgement is announced once even among several updates.
	lifecycle := map[string]incidents.Lifecycle{}
	lookup := func(id string) (incidents.Incident, bool) {
		inc, ok := st.Incidents[id]
		return inc, ok
	}
	for _, ef := range effs {
		switch ef := ef.(type) {
		case incidents.IncidentOpened:
			lifecycle[ef.Incident.ID] = ef.Incident.Lifecycle
			if !paged[ef.Incident.ID] {
				msgs = append(msgs, msg{key: ef.Key(), event: notify.Triggered, inc: ef.Incident})
			}
		case incidents.Notify:
			inc, ok := lookup(ef.Incident)
			if !ok {
				continue
			}
			ev := notify.Escalated
			switch ef.Reason {
			case incidents.ReasonTriggered:
				ev = notify.Triggered
			case incidents.ReasonAckTimeout, incidents.ReasonSnoozeExpired, incidents.ReasonRetriggered:
				ev = notify.Renotify
			}
			msgs = append(msgs, msg{key: ef.Key(), event: ev, inc: inc, level: ef.Level, rep: ef.Repeat, rcpt: ef.Recipients})
		case incidents.IncidentUpdated:
			ev := notify.Updated
			id := ef.Incident.ID
			was, seen := lifecycle[id]
			if !seen && prev != nil {
				if old, ok := prev.Incidents[id]; ok {
					was, seen = old.Lifecycle, true
				}
			}
			if ef.Incident.Lifecycle == incidents.Acknowledged && (!seen || was != incidents.Acknowledged) {
				ev = notify.Acknowledged
			}
			lifecycle[id] = ef.Incident.Lifecycle
			msgs = append(msgs, msg{key: ef.Key(), event: ev, inc: ef.Incident})
		case incidents.IncidentResolved:
			msgs = append(msgs, msg{key: ef.Key(), event: notify.Resolved, inc: ef.Incident})
		}
	}
	var out []notify.Delivery
	for _, m := range msgs {
		im := incidentMessage(cfg, st, m.inc)
		targets := recipients(cfg, m.rcpt)
		for _, ch := range cfg.Channels {
			dest := ch.Destination
			if dest == "" {
				dest = ch.ID
			}
			out = append(out, notify.Delivery{
				Channel:     ch.ID,
				Destination: dest,
				NextAt:      now,
				Message: notify.Message{
					Key:      m.key + "/" + ch.ID,
					Event:    m.event,
					Incident: im,
					Level:    m.level,
					Repeat:   m.rep,
					Targets:  targets,
					At:       now,
				},
			})
		}
	}
	return out
}

// incidentMessage snapshots an incident for notifiers.
func incidentMessage(cfg OrgConfig, st incidents.State, inc incidents.Incident) notify.Incident {
	m := notify.Incident{
		ID:             inc.ID,
		Org:            cfg.Org,
		Title:          inc.Title,
		Status:         string(inc.Lifecycle),
		PublicStatus:   string(inc.Public),
		Impact:         string(inc.Impact),
		StartedAt:      inc.StartedAt,
		AcknowledgedAt: inc.AckedAt,
		AcknowledgedBy: displayName(cfg, inc.AckedBy),
		ResolvedAt:     inc.EndedAt,
		Flapping:       inc.Flapping,
		PageURL:        cfg.PageURL,
	}
	if cfg.ConsoleURL != "" {
		// The console picks the organization per request (?org=): the
		// link opens this incident for a member of several.
		m.URL = cfg.ConsoleURL + "/console/incidents/" + url.PathEscape(inc.ID) + "?org=" + url.QueryEscape(cfg.Org)
	}
	for _, id := range inc.Components {
		c := notify.Component{ID: id, Name: id}
		if sc, ok := st.Components[id]; ok {
			c.Name, c.Status = sc.Name, string(sc.Status)
			if c.Name == "" {
				c.Name = id
			}
		}
		if s, ok := inc.Declared[id]; ok {
			c.Status = string(s)
		}
		m.Components = append(m.Components, c)
	}
	m.Summary = summary(st, inc)
	return m
}

// summary is the newest failure reason among the incident's probes.
func summary(st incidents.State, inc incidents.Incident) string {
	in := map[string]bool{}
	for _, c := range inc.Components {
		in[c] = true
	}
	var ids []string
	for id, p := range st.Probes {
		if in[p.Component] && p.LastError != "" && p.Verdict != incidents.Up {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		return ""
	}
	return ids[0] + ": " + st.Probes[ids[0]].LastError
}

func displayName(cfg OrgConfig, user string) string {
	if t, ok := cfg.Users[user]; ok && t.Name != "" {
		return t.Name
	}
	return user
}

// recipients resolves paged users into notify targets; channel recipients
// are the channels themselves and need no target.
func recipients(cfg OrgConfig, rs []incidents.Recipient) []notify.Target {
	var out []notify.Target
	for _, r := range rs {
		if r.Kind != incidents.TargetUser {
			continue
		}
		t, ok := cfg.Users[r.ID]
		if !ok {
			t = notify.Target{User: r.ID}
		}
		t.User = r.ID
		out = append(out, t)
	}
	return out
}
