package config

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret is a configuration value that must never be shown: a bot token, a
// signing secret, an API token. Every way of printing it (fmt verbs
// including %#v and %x, slog, encoding/json, YAML and other text encoders)
// writes "[redacted]", or "" when it is empty; Reveal returns the value for
// the one place that needs it.
type Secret string

const redacted = "[redacted]"

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

func (s Secret) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]".
func (s Secret) String() string { return s.shown() }

// GoString returns "[redacted]" for %#v.
func (s Secret) GoString() string { return s.shown() }

// Format writes "[redacted]" whatever the verb (%v, %s, %q, %x, %#v...).
func (s Secret) Format(f fmt.State, verb rune) { _, _ = io.WriteString(f, s.shown()) }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.shown()) }

// MarshalText keeps the value out of JSON, YAML and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }
