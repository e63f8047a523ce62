package main

import (
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/web"
)

// postmortemNotices tells the organization's active webhook subscribers
// that a postmortem was published (web.PostmortemNotices): publishing goes
// through the store, not the engine, so the engine's Subscribers hook never
// sees it. The page status comes from the engine's committed state.
func (s *subscribers) postmortemNotices(eng *engine.Engine) web.PostmortemNotices {
	return func(org string, inc incidents.Incident, body string, now time.Time) []notify.Delivery {
		return s.deliveries(org, func(page subscriber.Page, subs []subscriber.Subscription) []notify.Delivery {
			st, _ := eng.State(org)
			return subscriber.PostmortemDeliveries(org, page, subs, st, inc, body, now)
		})
	}
}

// componentNames names an organization's components for the console, from
// the engine's committed state.
func componentNames(eng *engine.Engine) func(org string) map[string]string {
	return func(org string) map[string]string {
		st, ok := eng.State(org)
		if !ok {
			return nil
		}
		out := make(map[string]string, len(st.Components))
		for id, c := range st.Components {
			out[id] = c.Name
		}
		return out
	}
}
