package incidents

import (
	"testing"
	"time"
)

// TestHumanActionWritesOneEntryUnderItsID: every human action that changes
// an incident appends exactly one timeline entry carrying its event id, and
// a repeat of the same event appends none. The API and Slack tell a
// responder whether their action was recorded by that entry alone (web's
// applied), so this is the contract they rely on.
func TestHumanActionWritesOneEntryUnderItsID(t *testing.T) {
	open, _, _ := run(t, newState(t, nil), []step{result("sync-tx", "eu", Down, 0)})
	inc := open.Components["sync"].Incident
	if inc == "" {
		t.Fatal("no incident opened on sync")
	}
	for _, ev := range []Event{
		Acknowledge{ID: "e1", Incident: inc, Actor: "ana"},
		Snooze{ID: "e1", Incident: inc, Actor: "ana", For: time.Hour},
		AddNote{ID: "e1", Incident: inc, Actor: "ana", Body: "looking"},
		PublicUpdate{ID: "e1", Incident: inc, Actor: "ana", Status: Identified, Body: "found it",
			ComponentStatuses: map[string]ComponentStatus{"sync": PartialOutage}},
		PublicUpdate{ID: "e1", Incident: inc, Actor: "ana", Status: PublicResolved, Body: "fixed"},
		SetImpact{ID: "e1", Incident: inc, Actor: "ana", Impact: ImpactCritical},
		Resolve{ID: "e1", Incident: inc, Actor: "ana", Body: "done"},
	} {
		count := func(effs []Effect) int {
			n := 0
			for _, ef := range effs {
				if ta, ok := ef.(TimelineAppended); ok && ta.Entry.EventID == "e1" {
					if ta.Incident != inc {
						t.Errorf("%T: entry under the event id on %s, want %s", ev, ta.Incident, inc)
					}
					n++
				}
			}
			return n
		}
		s, effs := Step(open, ev, at(time.Minute))
		if n := count(effs); n != 1 {
			t.Errorf("%T: %d timeline entries under its event id, want 1; effects %v", ev, n, describeAll(effs))
		}
		if _, again := Step(s, ev, at(2*time.Minute)); count(again) != 0 {
			t.Errorf("%T repeated: %v, want no entry under its event id", ev, describeAll(again))
		}
	}
}
