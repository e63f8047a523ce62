package incidents

import (
	"fmt"
	"strings"
	"time"
)

// PostmortemDraft is the Markdown a new postmortem starts from, built from
// inc and its timeline: a summary, the impact and affected components, the
// timeline in UTC (detection, components joining, acknowledgement, each
// public update, recovery), the time to acknowledge and to resolve, the
// evidence (the probes and alerts that opened it, with the first failure
// the timeline recorded), and empty sections for the root cause, the
// resolution and the action items.
//
// A postmortem is written to be published, so internal notes and the names
// of responders stay out of it. Every text taken from the incident (its
// title, update bodies, errors) is escaped: it reads as written and cannot
// add Markdown structure. names maps component ids to display names; a
// component missing from it shows its id.
func PostmortemDraft(inc Incident, names map[string]string) string {
	var b strings.Builder
	name := func(id string) string {
		if n := names[id]; n != "" {
			return n
		}
		return id
	}
	var comps []string
	for _, id := range inc.Components {
		comps = append(comps, mdText(name(id)))
	}
	ack := firstAcknowledgement(inc)
	resolved := inc.Lifecycle == Resolved && !inc.EndedAt.IsZero()

	fmt.Fprintf(&b, "# Postmortem: %s\n\n", mdText(inc.Title))

	b.WriteString("## Summary\n\n")
	switch {
	case resolved:
		fmt.Fprintf(&b, "From %s to %s (%s)", utc(inc.StartedAt), utc(inc.EndedAt), HumanDuration(inc.EndedAt.Sub(inc.StartedAt)))
		if len(comps) > 0 {
			fmt.Fprintf(&b, ", %s %s affected", strings.Join(comps, ", "), plural(len(comps), "was", "were"))
		}
		b.WriteString(".")
	case len(comps) > 0:
		fmt.Fprintf(&b, "Since %s, %s %s affected; the incident was still open when this draft was generated.",
			utc(inc.StartedAt), strings.Join(comps, ", "), plural(len(comps), "has been", "have been"))
	default:
		fmt.Fprintf(&b, "Since %s; the incident was still open when this draft was generated.", utc(inc.StartedAt))
	}
	b.WriteString(" _Say in a sentence or two what users saw._\n\n")

	b.WriteString("## Impact\n\n")
	fmt.Fprintf(&b, "- Impact: %s\n", orDefault(string(inc.Impact), string(ImpactNone)))
	b.WriteString("- Affected components: ")
	if len(inc.Components) == 0 {
		b.WriteString("none recorded\n")
	} else {
		for i, id := range inc.Components {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(mdText(name(id)))
			if st, ok := inc.Declared[id]; ok {
				fmt.Fprintf(&b, " (%s)", statusWords(string(st)))
			}
		}
		b.WriteString("\n")
	}
	if resolved {
		fmt.Fprintf(&b, "- Duration: %s\n", HumanDuration(inc.EndedAt.Sub(inc.StartedAt)))
	}
	b.WriteString("\n")

	b.WriteString("## Timeline (UTC)\n\n")
	for _, e := range inc.Timeline {
		line := timelineLine(e, name)
		if line == "" {
			continue
		}
		fmt.Fprintf(&b, "- **%s** %s\n", e.At.UTC().Format("2006-01-02 15:04:05"), line)
	}
	b.WriteString("\n")
	if ack.IsZero() {
		b.WriteString("- Time to acknowledge: not acknowledged\n")
	} else {
		fmt.Fprintf(&b, "- Time to acknowledge: %s\n", HumanDuration(ack.Sub(inc.StartedAt)))
	}
	if resolved {
		fmt.Fprintf(&b, "- Time to resolve: %s\n", HumanDuration(inc.EndedAt.Sub(inc.StartedAt)))
	} else {
		b.WriteString("- Time to resolve: not resolved yet\n")
	}
	b.WriteString("\n")

	b.WriteString("## Evidence\n\n")
	evidence := 0
	for _, e := range inc.Timeline {
		if e.Kind != "opened" {
			continue
		}
		if probe, ok := strings.CutPrefix(e.Actor, "probe:"); ok {
			fmt.Fprintf(&b, "- Opened by probe %s", mdCode(probe))
			if cause := openingFailure(inc.Title, e.Body); cause != "" {
				fmt.Fprintf(&b, "; first failure: %s", mdText(cause))
			}
			b.WriteString("\n")
			evidence++
		}
	}
	for _, fp := range inc.Alerts {
		fmt.Fprintf(&b, "- Alert %s\n", mdCode(fp))
		evidence++
	}
	if evidence == 0 {
		b.WriteString("- No probe or alert recorded in the timeline.\n")
	}
	b.WriteString("\n")

	b.WriteString("## Root cause\n\n_What failed, and why?_\n\n")
	b.WriteString("## Resolution\n\n_What brought the service back?_\n\n")
	b.WriteString("## Action items\n\n1. _What will keep this from happening again?_\n")
	return b.String()
}

// timelineLine words one timeline entry for a postmortem; "" leaves it out.
func timelineLine(e Entry, name func(string) string) string {
	switch e.Kind {
	case "opened":
		who := "Detected"
		if probe, ok := strings.CutPrefix(e.Actor, "probe:"); ok {
			who = "Detected by probe " + mdCode(probe)
		} else if fp, ok := strings.CutPrefix(e.Actor, "alert:"); ok {
			who = "Detected by alert " + mdCode(fp)
		}
		return who + ": " + mdText(e.Body)
	case "joined":
		return "Also affected: " + mdText(name(e.To))
	case "acknowledged":
		return "Acknowledged"
	case "snoozed":
		if e.From == string(Triggered) {
			return "Acknowledged (and snoozed)"
		}
		return ""
	case "retriggered":
		return "Failing again: " + mdText(e.Body)
	case "flapping":
		return "Flapping: kept open until stable"
	case "impact":
		return "Impact set to " + mdText(e.To)
	case "update":
		return "Public update, " + mdText(statusWords(e.To)) + ": " + mdText(e.Body)
	case "resolved":
		if e.Body == "" {
			return "Resolved"
		}
		return "Resolved: " + mdText(e.Body)
	}
	return "" // notes (internal), snooze ends, stable, ...
}

// firstAcknowledgement is when the incident was first acknowledged (by an
// acknowledgement or a snooze of the triggered incident): a re-trigger
// clears AckedAt, the timeline remembers.
func firstAcknowledgement(inc Incident) time.Time {
	for _, e := range inc.Timeline {
		if e.Kind == "acknowledged" || (e.Kind == "snoozed" && e.From == string(Triggered)) {
			return e.At
		}
	}
	return inc.AckedAt
}

// openingFailure is the failure an "opened" entry records: open writes the
// title followed by the first failing probe's error in parentheses.
func openingFailure(title, body string) string {
	rest, ok := strings.CutPrefix(body, title+" (")
	if !ok {
		return ""
	}
	return strings.TrimSuffix(rest, ")")
}

// HumanDuration writes d as hours, minutes and seconds, leaving out zero
// parts ("2 m 22 s", "1 h 5 s", "0 s"); days are counted in hours.
func HumanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d < 0 {
		d = -d
	}
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var parts []string
	if h > 0 {
		parts = append(parts, fmt.Sprintf("%d h", h))
	}
	if m > 0 {
		parts = append(parts, fmt.Sprintf("%d m", m))
	}
	if s > 0 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%d s", s))
	}
	return strings.Join(parts, " ")
}

func utc(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") + " UTC" }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// statusWords turns "major_outage" into "major outage".
func statusWords(s string) string { return strings.ReplaceAll(s, "_", " ") }

// mdText makes s one line of literal Markdown text: line breaks and other
// control characters become spaces, and the characters Markdown could read
// as emphasis, code, links, HTML, tables or entities are backslash-escaped.
// (The text never starts a line, so block markers such as "#" or "-" need
// no escape.)
func mdText(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r < ' ' || r == 0x7f:
			b.WriteByte(' ')
		case strings.ContainsRune("\\`*_[]<>|~&#", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// mdCode writes an identifier as inline code, or as escaped text when it
// holds a backtick or a control character.
func mdCode(s string) string {
	if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r == '`' || r < ' ' || r == 0x7f }) {
		return mdText(s)
	}
	return "`" + s + "`"
}
