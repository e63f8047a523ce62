package slack

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/lookout-status/lookout/notify"
)

// Action IDs of the buttons on an incident message; the handler maps them
// back to Action.Kind.
const (
	ActionIDAcknowledge = "lookout_ack"
	ActionIDResolve     = "lookout_resolve"
)

// MetadataEventType is the event_type of the metadata attached to every
// message Lookout posts, with event_payload {key, incident_id, event}, so a
// duplicate post (at-least-once delivery) can be recognized in the channel.
const MetadataEventType = "lookout_incident"

// Slack's limits, in characters, from the Block Kit reference.
const (
	maxHeader     = 150
	maxSection    = 3000
	maxField      = 2000
	maxFallback   = 3000
	maxComponents = 15
)

// Incident states as notify.Incident.Status names them.
const (
	stateTriggered    = "triggered"
	stateAcknowledged = "acknowledged"
	stateResolved     = "resolved"
)

// state is the incident's lifecycle state, inferred from the timestamps when
// Status is empty.
func state(inc notify.Incident) string {
	switch inc.Status {
	case stateTriggered, stateAcknowledged, stateResolved:
		return inc.Status
	}
	switch {
	case !inc.ResolvedAt.IsZero():
		return stateResolved
	case !inc.AcknowledgedAt.IsZero() || inc.AcknowledgedBy != "":
		return stateAcknowledged
	}
	return stateTriggered
}

// render builds the Block Kit blocks and the plain fallback text for the
// incident message, in the state m describes. consoleURL is the console's
// base URL, used when the incident carries no link of its own.
func render(m notify.Message, consoleURL string) ([]slack.Block, string) {
	inc := m.Incident
	st := state(inc)

	title := clean(inc.Title)
	if title == "" {
		title = "Incident " + clean(inc.ID)
	}
	emoji := impactEmoji(inc.Impact)
	if st == stateResolved {
		emoji = ":white_check_mark:"
	}
	// The header is plain_text: Slack renders no mentions or links there, so
	// it needs no escaping, only the length limit.
	header := slack.NewHeaderBlock(plain(truncate(emoji+" "+title, maxHeader)))

	fields := []*slack.TextBlockObject{
		mrkdwn(truncate("*Status*\n"+statusLine(inc, st), maxField)),
		mrkdwn("*Impact*\n" + escTrunc(orDash(inc.Impact), 100)),
	}
	if !inc.StartedAt.IsZero() {
		fields = append(fields, mrkdwn("*Started*\n"+slackDate(inc.StartedAt)))
	}
	if inc.PublicStatus != "" {
		fields = append(fields, mrkdwn("*Public status*\n"+escTrunc(inc.PublicStatus, 100)))
	}
	blocks := []slack.Block{header, slack.NewSectionBlock(nil, fields, nil)}

	if len(inc.Components) > 0 {
		var b strings.Builder
		b.WriteString("*Affected components*")
		for i, c := range inc.Components {
			if i == maxComponents {
				fmt.Fprintf(&b, "\n…and %d more", len(inc.Components)-maxComponents)
				break
			}
			name := c.Name
			if name == "" {
				name = c.ID
			}
			fmt.Fprintf(&b, "\n%s %s: %s", componentEmoji(c.Status), escTrunc(clean(name), 100),
				escTrunc(strings.ReplaceAll(clean(c.Status), "_", " "), 50))
		}
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(b.String()), nil, nil))
	}
	if s := clean(inc.Summary); s != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn("*Reason*\n"+escTrunc(s, maxSection-20)), nil, nil))
	}

	ctx := []string{"Incident `" + escTrunc(clean(inc.ID), 100) + "`"}
	if inc.Flapping {
		ctx = append(ctx, ":warning: flapping")
	}
	console := inc.URL
	if console == "" && consoleURL != "" {
		console = strings.TrimRight(consoleURL, "/") + "/console/incidents/" + url.PathEscape(inc.ID)
		if inc.Org != "" {
			// The console picks the organization per request.
			console += "?org=" + url.QueryEscape(inc.Org)
		}
	}
	if l := link(console, "Open in console"); l != "" {
		ctx = append(ctx, l)
	}
	if l := link(inc.PageURL, "Status page"); l != "" {
		ctx = append(ctx, l)
	}
	blocks = append(blocks, slack.NewContextBlock("", mrkdwn(strings.Join(ctx, " · "))))

	if st != stateResolved {
		var buttons []slack.BlockElement
		id := truncate(inc.ID, 2000)
		if st == stateTriggered {
			buttons = append(buttons, slack.NewButtonBlockElement(ActionIDAcknowledge, id, plain("Acknowledge")).
				WithStyle(slack.StylePrimary))
		}
		confirm := slack.NewConfirmationBlockObject(
			plain("Resolve this incident?"),
			mrkdwn("Resolve *"+escTrunc(title, 200)+"* now? Paging stops and the status page shows it resolved."),
			plain("Resolve"),
			plain("Cancel"),
		).WithStyle(slack.StyleDanger)
		buttons = append(buttons, slack.NewButtonBlockElement(ActionIDResolve, id, plain("Resolve")).
			WithStyle(slack.StyleDanger).WithConfirm(confirm))
		blocks = append(blocks, slack.NewActionBlock("lookout_incident_actions", buttons...))
	}

	text := fmt.Sprintf("%s: %s (%s impact, %s)", stateWord(st), title, orDash(inc.Impact), clean(inc.ID))
	return blocks, escTrunc(text, maxFallback)
}

// threadText is the short threaded reply that says what a later delivery
// changed; ok is false for events that only update the message.
func threadText(m notify.Message) (text string, ok bool) {
	inc := m.Incident
	switch m.Event {
	case notify.Escalated:
		s := fmt.Sprintf(":arrow_double_up: Escalated to level %d", m.Level+1)
		if t := targets(m.Targets); t != "" {
			s += ": " + t
		}
		return s, true
	case notify.Renotify:
		s := ":rotating_light: Paging again"
		if m.Repeat > 0 {
			s += fmt.Sprintf(" (repeat %d)", m.Repeat)
		}
		if t := targets(m.Targets); t != "" {
			s += ": " + t
		}
		return s, true
	case notify.Updated:
		var parts []string
		if inc.PublicStatus != "" {
			parts = append(parts, "public status "+escTrunc(inc.PublicStatus, 100))
		}
		if s := clean(inc.Summary); s != "" {
			parts = append(parts, escTrunc(s, maxSection-100))
		}
		if len(parts) == 0 {
			return ":memo: Updated", true
		}
		return ":memo: Updated: " + strings.Join(parts, "; "), true
	case notify.Acknowledged:
		return ":eyes: " + acknowledgedText(inc), true
	case notify.Resolved:
		return ":white_check_mark: " + resolvedText(inc), true
	}
	return "", false
}

func statusLine(inc notify.Incident, st string) string {
	switch st {
	case stateResolved:
		return ":white_check_mark: " + resolvedText(inc)
	case stateAcknowledged:
		return ":eyes: " + acknowledgedText(inc)
	}
	return ":rotating_light: Triggered"
}

func stateWord(st string) string {
	switch st {
	case stateResolved:
		return "Resolved"
	case stateAcknowledged:
		return "Acknowledged"
	}
	return "Triggered"
}

func acknowledgedText(inc notify.Incident) string {
	if by := clean(inc.AcknowledgedBy); by != "" {
		return "Acknowledged by " + escTrunc(by, 100)
	}
	return "Acknowledged"
}

func resolvedText(inc notify.Incident) string {
	if inc.StartedAt.IsZero() || inc.ResolvedAt.IsZero() || inc.ResolvedAt.Before(inc.StartedAt) {
		return "Resolved"
	}
	return "Resolved after " + humanDuration(inc.ResolvedAt.Sub(inc.StartedAt))
}

// slackIDPattern is what a Slack user ID looks like; anything else is shown
// as a name, so a bad SlackID cannot become `<!channel>`.
var slackIDPattern = regexp.MustCompile(`^[UW][A-Z0-9]{2,30}$`)

func targets(ts []notify.Target) string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if slackIDPattern.MatchString(t.SlackID) {
			out = append(out, "<@"+t.SlackID+">")
			continue
		}
		name := clean(t.Name)
		if name == "" {
			name = clean(t.User)
		}
		if name != "" {
			out = append(out, "@"+escTrunc(name, 100))
		}
	}
	return strings.Join(out, ", ")
}

// humanDuration renders d the way people say it: 45s, 48m, 2h 5m, 3d 4h.
func humanDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%dh", h)
		}
		return fmt.Sprintf("%dh %dm", h, m)
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	if h == 0 {
		return fmt.Sprintf("%dd", days)
	}
	return fmt.Sprintf("%dd %dh", days, h)
}

// slackDate renders t in each reader's own time zone, with a UTC fallback
// for clients that cannot.
func slackDate(t time.Time) string {
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC"))
}

// link renders a mrkdwn link to an http(s) URL, or "" for anything else, so
// a `javascript:` URL or one carrying `|` or `>` cannot break out.
func link(raw, label string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	s := strings.NewReplacer("<", "%3C", ">", "%3E", "|", "%7C", " ", "%20").Replace(u.String())
	return "<" + s + "|" + escape(label) + ">"
}

func impactEmoji(impact string) string {
	switch impact {
	case "critical":
		return ":red_circle:"
	case "major":
		return ":large_orange_circle:"
	case "minor":
		return ":large_yellow_circle:"
	}
	return ":large_blue_circle:"
}

func componentEmoji(status string) string {
	switch status {
	case "operational":
		return ":large_green_circle:"
	case "degraded_performance":
		return ":large_yellow_circle:"
	case "partial_outage":
		return ":large_orange_circle:"
	case "major_outage":
		return ":red_circle:"
	case "under_maintenance":
		return ":wrench:"
	}
	return ":white_circle:"
}

// escape makes s inert in mrkdwn: Slack treats <…> as mentions, links and
// commands (<!channel>), so user-supplied text must not carry them.
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clean drops invalid UTF-8 and control characters other than newline.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' {
			return r
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// escTrunc escapes s for mrkdwn and cuts the result to at most n runes,
// never inside an entity.
func escTrunc(s string, n int) string {
	escaped := escape(s)
	if utf8.RuneCountInString(escaped) <= n {
		return escaped
	}
	var b strings.Builder
	count := 0
	for _, r := range s {
		piece := escape(string(r))
		w := utf8.RuneCountInString(piece)
		if count+w > n-1 {
			break
		}
		b.WriteString(piece)
		count += w
	}
	return b.String() + "…"
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, s, true, false)
}

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}
