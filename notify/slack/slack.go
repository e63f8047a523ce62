// Package slack posts incidents to a Slack channel as Block Kit messages with
// Acknowledge and Resolve buttons, keeps each message current with chat.update,
// threads short replies under it (escalations, acknowledgements, resolution),
// and serves the signed interactivity and slash-command endpoints.
//
// Delivery is at-least-once. The outbox commits a delivery only after Slack
// answered, so a crash between Slack's answer and that commit posts the first
// message again on restart: the channel then holds two messages about the
// incident. Each carries metadata (event_type "lookout_incident",
// event_payload {key, incident_id, event}) with the same idempotency key, so
// the duplicate can be recognized. Later deliveries carry the Ref of the
// message that was committed, and chat.update on the same ts is idempotent;
// a thread reply may be posted twice under the same crash window. The orphaned
// duplicate is never updated again, but its buttons still act on the right
// incident, since they carry the incident ID, not the message.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/lookout-status/lookout/notify"
)

// DefaultAPIURL is Slack's Web API.
const DefaultAPIURL = "https://slack.com/api/"

// Config configures a Notifier.
type Config struct {
	// Token is the bot token (xoxb-…). It is a secret: never logged.
	Token string
	// Channel is where incidents are posted: a channel ID (C…) or name.
	Channel string
	// APIURL is Slack's Web API base URL; tests point it at slacktest.
	// Default DefaultAPIURL.
	APIURL string
	// ConsoleURL is the console's base URL, used to link an incident that
	// carries no URL of its own (ConsoleURL + "/console/incidents/" + id +
	// "?org=" + org).
	ConsoleURL string
}

// String describes c without its token.
func (c Config) String() string {
	return fmt.Sprintf("slack.Config{Channel:%q APIURL:%q ConsoleURL:%q Token:[redacted]}", c.Channel, c.APIURL, c.ConsoleURL)
}

// LogValue keeps the token out of logs even if a Config is logged whole.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.String("channel", c.Channel), slog.String("api_url", c.APIURL))
}

// Notifier delivers incident messages to one Slack channel.
type Notifier struct {
	api        *slack.Client
	channel    string
	consoleURL string
	logger     *slog.Logger
}

// New returns a Notifier posting to cfg.Channel.
func New(cfg Config, logger *slog.Logger) (*Notifier, error) {
	var errs []error
	if strings.TrimSpace(cfg.Token) == "" {
		errs = append(errs, errors.New("token is required"))
	}
	if strings.TrimSpace(cfg.Channel) == "" {
		errs = append(errs, errors.New("channel is required"))
	}
	api := cfg.APIURL
	if api == "" {
		api = DefaultAPIURL
	}
	if u, err := url.Parse(api); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("api_url %q: want an http(s) URL", api))
	}
	if cfg.ConsoleURL != "" {
		if u, err := url.Parse(cfg.ConsoleURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("console_url %q: want an http(s) URL", cfg.ConsoleURL))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("slack notifier: %w", err)
	}
	if !strings.HasSuffix(api, "/") {
		api += "/"
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	client := slack.New(cfg.Token,
		slack.OptionAPIURL(api),
		// A backstop: the caller's ctx is the real deadline.
		slack.OptionHTTPClient(&http.Client{Timeout: 30 * time.Second}),
	)
	return &Notifier{
		api:        client,
		channel:    cfg.Channel,
		consoleURL: cfg.ConsoleURL,
		logger:     logger.With("notifier", "slack", "channel", cfg.Channel),
	}, nil
}

// Deliver posts the incident message the first time (m.Ref == "") and returns
// Receipt{Ref: channelID + ":" + ts}; later it updates that message in place
// and, for escalations, re-pages, updates, acknowledgements and resolutions,
// threads a short reply under it, keeping the Ref. If the message was deleted
// in Slack, a new one is posted and its Ref returned.
//
// Errors Slack will keep giving (bad token, unknown or archived channel, bot
// not in the channel, malformed request) are notify.Permanent; rate limits,
// 5xx and network errors are returned as they are, to be retried, and a rate
// limit's wait is exposed by a RetryAfter() time.Duration method in the chain.
func (n *Notifier) Deliver(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	if m.Incident.ID == "" {
		return notify.Receipt{}, notify.Permanent(errors.New("slack deliver: message has no incident id"))
	}
	blocks, text := render(m, n.consoleURL)
	opts := []slack.MsgOption{
		slack.MsgOptionText(text, false),
		slack.MsgOptionBlocks(blocks...),
		slack.MsgOptionMetadata(metadata(m)),
	}
	if m.Ref == "" {
		return n.post(ctx, m, opts)
	}

	channel, ts, ok := parseRef(m.Ref)
	if !ok {
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("slack deliver: malformed ref %q", m.Ref))
	}
	if _, _, _, err := n.api.UpdateMessageContext(ctx, channel, ts, opts...); err != nil {
		if slackCode(err) == "message_not_found" || slackCode(err) == "cant_update_message" {
			n.logger.Warn("incident message gone, posting a new one", "incident", m.Incident.ID, "ref", m.Ref, "err", err)
			return n.post(ctx, m, opts)
		}
		return notify.Receipt{}, classify("slack update message", err)
	}
	if reply, ok := threadText(m); ok {
		_, _, err := n.api.PostMessageContext(ctx, channel,
			slack.MsgOptionText(reply, false),
			slack.MsgOptionTS(ts),
			slack.MsgOptionMetadata(metadata(m)),
			slack.MsgOptionDisableLinkUnfurl(),
		)
		if err != nil {
			return notify.Receipt{}, classify("slack post thread reply", err)
		}
	}
	n.logger.Debug("incident message updated", "incident", m.Incident.ID, "event", string(m.Event), "ref", m.Ref)
	return notify.Receipt{Ref: m.Ref}, nil
}

func (n *Notifier) post(ctx context.Context, m notify.Message, opts []slack.MsgOption) (notify.Receipt, error) {
	opts = append(opts, slack.MsgOptionDisableLinkUnfurl())
	channel, ts, err := n.api.PostMessageContext(ctx, n.channel, opts...)
	if err != nil {
		return notify.Receipt{}, classify("slack post message", err)
	}
	if channel == "" || ts == "" {
		return notify.Receipt{}, fmt.Errorf("slack post message: answer without channel or ts")
	}
	ref := channel + ":" + ts
	n.logger.Debug("incident message posted", "incident", m.Incident.ID, "event", string(m.Event), "ref", ref)
	return notify.Receipt{Ref: ref}, nil
}

func metadata(m notify.Message) slack.SlackMetadata {
	return slack.SlackMetadata{
		EventType: MetadataEventType,
		EventPayload: map[string]any{
			"key":         m.Key,
			"incident_id": m.Incident.ID,
			"event":       string(m.Event),
		},
	}
}

// parseRef splits "C123:1700000000.000100". A Slack channel ID has no colon,
// so the first one separates.
func parseRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, ":")
	return channel, ts, ok && channel != "" && ts != ""
}

// permanentCodes are Slack error codes that retrying the same request cannot
// fix: the token, the channel or the message itself is wrong.
var permanentCodes = map[string]bool{
	"invalid_auth":            true,
	"not_authed":              true,
	"account_inactive":        true,
	"token_revoked":           true,
	"token_expired":           true,
	"no_permission":           true,
	"missing_scope":           true,
	"not_allowed_token_type":  true,
	"ekm_access_denied":       true,
	"team_access_not_granted": true,
	"channel_not_found":       true,
	"not_in_channel":          true,
	"is_archived":             true,
	"restricted_action":       true,
	"invalid_blocks":          true,
	"invalid_blocks_format":   true,
	"invalid_arguments":       true,
	"invalid_metadata_format": true,
	"invalid_metadata_schema": true,
	"msg_too_long":            true,
	"no_text":                 true,
	"too_many_attachments":    true,
	"cant_update_message":     true,
	"edit_window_closed":      true,
	"message_not_found":       true,
}

func slackCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// rateLimited is a retryable error that says how long Slack asked to wait.
type rateLimited struct {
	err   error
	after time.Duration
}

func (r rateLimited) Error() string             { return r.err.Error() }
func (r rateLimited) Unwrap() error             { return r.err }
func (r rateLimited) RetryAfter() time.Duration { return r.after }

// classify wraps err with op and marks the failures retrying cannot fix.
func classify(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	if code := slackCode(err); code != "" {
		if permanentCodes[code] {
			return notify.Permanent(wrapped)
		}
		return wrapped // ratelimited, internal_error, fatal_error, …
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return rateLimited{err: wrapped, after: rl.RetryAfter}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		if sc.Code == http.StatusTooManyRequests || sc.Code == http.StatusRequestTimeout || sc.Code >= 500 {
			return wrapped
		}
		return notify.Permanent(wrapped)
	}
	return wrapped // network, context, decoding: retry
}

// RetryAfter reports how long Slack asked to wait before retrying, if err
// carries a rate limit with a Retry-After.
func RetryAfter(err error) (time.Duration, bool) {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter(), true
	}
	return 0, false
}
