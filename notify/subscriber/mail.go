package subscriber

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/email"
)

// E-mail subscribers get the same decisions as webhook subscribers,
// rendered as e-mails: a plain-text and an HTML part (everything escaped,
// no remote content: no images, no style sheets, only links to the page and
// to unsubscribe), threaded per incident or maintenance.

// mailTime formats a time for e-mails, in UTC.
func mailTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// Domain is the page's host, the right-hand side of its e-mails'
// Message-IDs and of the List-Id.
func (page Page) Domain() string {
	if u, err := url.Parse(page.URL); err == nil && u.Hostname() != "" {
		return strings.ToLower(u.Hostname())
	}
	return "lookout.invalid"
}

func (page Page) name() string {
	if page.Name != "" {
		return page.Name
	}
	return page.ID
}

// statusWord is an update status as a heading.
func statusWord(s string) string {
	switch s {
	case "in_progress":
		return "In progress"
	case "":
		return ""
	}
	return strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "_", " ")
}

// mailBody builds a message's two parts from paragraphs and links: the
// text part as is, the HTML part escaped.
type mailBody struct {
	text, html strings.Builder
}

func (b *mailBody) heading(s string) {
	fmt.Fprintf(&b.text, "%s\n%s\n\n", s, strings.Repeat("=", min(len([]rune(s)), 72)))
	fmt.Fprintf(&b.html, "<h1 style=\"font-size:20px\">%s</h1>\n", html.EscapeString(s))
}

func (b *mailBody) para(s string) {
	fmt.Fprintf(&b.text, "%s\n\n", s)
	fmt.Fprintf(&b.html, "<p>%s</p>\n", strings.ReplaceAll(html.EscapeString(s), "\n", "<br>\n"))
}

func (b *mailBody) small(s string) {
	fmt.Fprintf(&b.text, "%s\n", s)
	fmt.Fprintf(&b.html, "<p style=\"color:#555;font-size:13px\">%s</p>\n", html.EscapeString(s))
}

func (b *mailBody) link(label, href string) {
	fmt.Fprintf(&b.text, "%s: %s\n\n", label, href)
	fmt.Fprintf(&b.html, "<p><a href=\"%s\">%s</a></p>\n", html.EscapeString(href), html.EscapeString(label))
}

func (b *mailBody) message() (string, string) {
	return b.text.String(), "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"></head>\n<body style=\"font-family:sans-serif;max-width:640px\">\n" +
		b.html.String() + "</body></html>\n"
}

// email renders payload p for e-mail subscriber s.
func (page Page) email(s Subscription, key string, p Payload, now time.Time) email.Message {
	inc := p.Incident
	var b mailBody
	var subject, thread string
	if p.maintenance != "" {
		thread = "maintenance." + inc.ID + "@" + page.Domain()
		switch p.maintenance {
		case incidents.MaintenanceScheduled:
			subject = "Scheduled maintenance: " + inc.Name
		case incidents.MaintenanceInProgress:
			subject = "Maintenance in progress: " + inc.Name
		default:
			subject = "Maintenance " + string(p.maintenance) + ": " + inc.Name
		}
		b.heading(inc.Name)
		b.para("Scheduled from " + mailTime(time.Time(inc.ScheduledFor)) + " to " + mailTime(time.Time(inc.ScheduledUntil)) + ".")
	} else {
		thread = "incident." + inc.ID + "@" + page.Domain()
		subject = statusWord(inc.Status) + ": " + inc.Name
		b.heading(inc.Name)
		if inc.Impact != "" && inc.Impact != "none" {
			b.small("Impact: " + inc.Impact)
		}
	}
	if len(inc.Components) > 0 {
		names := make([]string, len(inc.Components))
		for i, c := range inc.Components {
			names[i] = c.Name
		}
		b.small("Affected: " + strings.Join(names, ", "))
	}
	for i, u := range inc.IncidentUpdates {
		if i == 1 {
			b.small("")
			b.small("Earlier updates")
		}
		b.para(statusWord(u.Status) + " (" + mailTime(time.Time(u.CreatedAt)) + ")\n" + u.Body)
	}
	b.link("View "+page.name(), inc.Shortlink)
	b.small("You receive this e-mail because this address subscribed to " + page.name() + ".")
	b.link("Unsubscribe", s.Unsubscribe)
	text, htm := b.message()
	return email.Message{
		To: s.Email, Subject: "[" + page.name() + "] " + subject, Text: text, HTML: htm,
		MessageID: email.MessageID(key, page.Domain()), Thread: thread,
		Unsubscribe: s.Unsubscribe, ListID: page.ID + "." + page.Domain(), Date: now,
	}
}

// ConfirmationDelivery is the double opt-in e-mail of a new e-mail
// subscriber: nothing else is sent to the address until confirm (a page
// with a button) is used, before expires.
func ConfirmationDelivery(org string, page Page, s Subscription, confirm string, expires, now time.Time) notify.Delivery {
	var b mailBody
	b.heading("Confirm your subscription to " + page.name())
	b.para("Someone, hopefully you, asked for status updates of " + page.name() + " to be sent to " + s.Email +
		". Nothing will be sent unless you confirm, by " + mailTime(expires) + ":")
	b.link("Confirm the subscription", confirm)
	b.small("If you did not ask for this, ignore this e-mail: the request expires by itself.")
	text, htm := b.message()
	key := "subscriber/" + s.ID + "/confirmation"
	m := email.Message{
		To: s.Email, Subject: "[" + page.name() + "] Confirm your subscription", Text: text, HTML: htm,
		MessageID: email.MessageID(key, page.Domain()), Unsubscribe: s.Unsubscribe,
		ListID: page.ID + "." + page.Domain(), Date: now,
	}
	body, _ := json.Marshal(m) // cannot fail: strings and times
	return notify.Delivery{
		Channel: Channel(s.ID), Destination: s.Destination, NextAt: now,
		Message: notify.Message{Key: key, Event: EventConfirmation, Incident: notify.Incident{Org: org}, At: now, Body: body},
	}
}
