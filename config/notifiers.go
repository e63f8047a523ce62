package config

import (
	"log/slog"
	"net/url"
	"time"
)

// Notifier defaults.
const (
	DefaultNotifierTimeout = 10 * time.Second
	DefaultResendEvery     = time.Minute
	DefaultAlertTTL        = 5 * time.Minute
)

// The notifier kinds, in the order messages list them.
var notifierKinds = []string{"slack", "alertmanager", "webhook"}

// Notifier is a destination for incident notifications: exactly one of
// Slack, Alertmanager and Webhook is set. Escalation targets name it by ID.
type Notifier struct {
	ID           string                `yaml:"id"`
	Slack        *SlackNotifier        `yaml:"slack"`
	Alertmanager *AlertmanagerNotifier `yaml:"alertmanager"`
	Webhook      *WebhookNotifier      `yaml:"webhook"`
}

// Kind returns "slack", "alertmanager" or "webhook".
func (n Notifier) Kind() string {
	switch {
	case n.Slack != nil:
		return "slack"
	case n.Alertmanager != nil:
		return "alertmanager"
	case n.Webhook != nil:
		return "webhook"
	}
	return ""
}

// LogValue logs the notifier's id, kind and destination host: never its
// secrets, headers or a URL's path and query (which may carry a token).
func (n Notifier) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("id", n.ID), slog.String("kind", n.Kind())}
	var raw string
	switch {
	case n.Slack != nil:
		attrs = append(attrs, slog.String("channel", n.Slack.Channel))
	case n.Alertmanager != nil:
		raw = n.Alertmanager.URL
	case n.Webhook != nil:
		raw = n.Webhook.URL
	}
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		attrs = append(attrs, slog.String("host", u.Host))
	}
	return slog.GroupValue(attrs...)
}

// SlackNotifier posts incidents to a Slack channel (notify/slack).
type SlackNotifier struct {
	// Token is the bot token (xoxb-…).
	Token Secret `yaml:"token"`
	// Channel is a channel id (C…) or name (#ops).
	Channel string `yaml:"channel"`
	// SigningSecret verifies Slack's callbacks (buttons, slash commands);
	// optional if those are not used.
	SigningSecret Secret `yaml:"signing_secret"`
	// APIURL replaces Slack's Web API base URL (tests); "" for Slack's.
	APIURL string `yaml:"api_url"`
}

// AlertmanagerNotifier posts incidents as alerts to an Alertmanager
// (notify/alertmanager), which routes them on.
//
// Its URL is not checked against the organization's egress policy:
// Alertmanager is the operator's own infrastructure, almost always on a
// private address (http://alertmanager:9093), and the URL is written by
// whoever runs Lookout, not by a tenant, so it is not a server-side request
// forgery vector the way a probe target or a subscriber's webhook is.
type AlertmanagerNotifier struct {
	// URL is Alertmanager's base URL; basic-auth credentials in it must
	// come from ${VARIABLE} references.
	URL string `yaml:"url"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `yaml:"timeout"`
	// ResendEvery is how often open incidents' alerts are re-posted
	// (default 1m); it must be shorter than AlertTTL (default 5m).
	ResendEvery time.Duration `yaml:"resend_every"`
	AlertTTL    time.Duration `yaml:"alert_ttl"`
	// Labels are added to every alert.
	Labels map[string]string `yaml:"labels"`
}

// WebhookNotifier posts signed incident events (Standard Webhooks) to a URL
// (notify/webhook). The URL must pass the organization's egress policy.
type WebhookNotifier struct {
	URL string `yaml:"url"`
	// Secret is the signing secret: "whsec_" and at least 24 bytes in
	// standard base64.
	Secret Secret `yaml:"secret"`
	// Headers are added to every request; their values are secrets (an
	// Authorization header, an API key).
	Headers map[string]Secret `yaml:"headers"`
	// Timeout bounds one delivery (default 10s).
	Timeout time.Duration `yaml:"timeout"`
}
