// Package notify delivers what the incident engine decided: pages, updates and
// resolutions, through an outbox (rows written in the same transaction as the
// state change) drained by workers with retries, backoff with jitter and a
// stable idempotency key. Each integration (slack, alertmanager, webhook)
// lives in its own subpackage and implements Notifier.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Event says why a message is sent.
type Event string

// Events a notifier renders.
const (
	Triggered    Event = "triggered"    // a new incident pages level 0
	Escalated    Event = "escalated"    // no acknowledgement: the next level is paged
	Renotify     Event = "renotify"     // ack timeout or snooze expiry: page again
	Updated      Event = "updated"      // components, status or public update changed
	Acknowledged Event = "acknowledged" // someone owns it: stop paging
	Resolved     Event = "resolved"
)

// Incident is a snapshot of an incident at the time the message was decided.
type Incident struct {
	ID             string      `json:"id"`
	Org            string      `json:"org"`
	Title          string      `json:"title"`
	Status         string      `json:"status"`        // triggered | acknowledged | resolved
	PublicStatus   string      `json:"public_status"` // investigating | identified | monitoring | resolved
	Impact         string      `json:"impact"`        // none | minor | major | critical
	Components     []Component `json:"components"`
	StartedAt      time.Time   `json:"started_at"`
	AcknowledgedAt time.Time   `json:"acknowledged_at,omitzero"`
	AcknowledgedBy string      `json:"acknowledged_by,omitempty"`
	ResolvedAt     time.Time   `json:"resolved_at,omitzero"`
	Flapping       bool        `json:"flapping,omitempty"`
	// Summary is the latest reason in a sentence, e.g.
	// `storage-roundtrip: put: connection refused`.
	Summary string `json:"summary,omitempty"`
	// URL links to the incident (console); PageURL to the public status page.
	URL     string `json:"url,omitempty"`
	PageURL string `json:"page_url,omitempty"`
}

// Component is one affected component and its status.
type Component struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // operational ... major_outage, under_maintenance
}

// Target is a person being paged.
type Target struct {
	User    string `json:"user"`
	Name    string `json:"name,omitempty"`
	SlackID string `json:"slack_id,omitempty"`
	Email   string `json:"email,omitempty"`
}

// Message is one delivery to one channel.
type Message struct {
	// Key is the idempotency key: stable across retries and restarts, so a
	// receiver can drop duplicates.
	Key      string   `json:"key"`
	Event    Event    `json:"event"`
	Incident Incident `json:"incident"`
	Level    int      `json:"level"`
	Repeat   int      `json:"repeat"`
	Targets  []Target `json:"targets,omitempty"`
	// Ref is what this channel returned for an earlier delivery about the
	// same incident (e.g. the Slack message's channel+ts), "" the first time.
	Ref string    `json:"ref,omitempty"`
	At  time.Time `json:"at"`
	// Body, when set, is the payload prebuilt when the message was
	// decided, posted as is on every attempt (subscriber webhooks).
	Body json.RawMessage `json:"body,omitempty"`
}

// Receipt is what a successful delivery returns.
type Receipt struct {
	// Ref, if set, is remembered for the incident and handed back in
	// Message.Ref on later deliveries to the same channel.
	Ref string
	// Reply is what the receiver answered, for the delivery log.
	Reply Reply
}

// Reply is what a receiver answered to an attempt: an HTTP status code, or
// an SMTP reply's code and text. The zero Reply means no answer (a refused
// connection, a timeout).
type Reply struct {
	Code int
	Text string
}

// WithReply attaches the receiver's answer to a failed attempt's error, for
// the delivery log; permanence and Retry-After pass through.
func WithReply(err error, r Reply) error {
	if err == nil {
		return nil
	}
	return &replyError{err: err, reply: r}
}

type replyError struct {
	err   error
	reply Reply
}

func (e *replyError) Error() string { return e.err.Error() }
func (e *replyError) Unwrap() error { return e.err }

// ReplyOf returns the answer WithReply attached to err (or to one it wraps).
func ReplyOf(err error) (Reply, bool) {
	var re *replyError
	if errors.As(err, &re) {
		return re.reply, true
	}
	return Reply{}, false
}

// Notifier delivers messages to one integration.
type Notifier interface {
	Deliver(ctx context.Context, m Message) (Receipt, error)
}

// SubscriberChannelPrefix starts the outbox channel of every status-page
// subscriber: one channel per subscriber, so one failing endpoint holds up
// no other.
const SubscriberChannelPrefix = "subscriber:"

// SubscriberChannel is the outbox channel of subscriber id.
func SubscriberChannel(id string) string { return SubscriberChannelPrefix + id }

// SubscriberOf returns the subscriber id of a channel; ok is false for
// other channels.
func SubscriberOf(channel string) (id string, ok bool) {
	id, ok = strings.CutPrefix(channel, SubscriberChannelPrefix)
	return id, ok && id != ""
}

// ErrPermanent marks a failure that retrying cannot fix (a 4xx, a refused
// destination): the delivery is given up at once.
var ErrPermanent = errors.New("permanent failure")

type permanent struct{ err error }

func (p permanent) Error() string        { return p.err.Error() }
func (p permanent) Unwrap() []error      { return []error{p.err, ErrPermanent} }
func (p permanent) Is(target error) bool { return target == ErrPermanent }

// Permanent wraps err so IsPermanent reports true.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err (or one it wraps) is permanent.
func IsPermanent(err error) bool { return errors.Is(err, ErrPermanent) }
