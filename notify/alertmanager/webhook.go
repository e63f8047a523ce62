package alertmanager

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ErrTooLarge is returned by ParseWebhook for a body over its limit; an HTTP
// handler answers it with 413.
var ErrTooLarge = errors.New("webhook body too large")

// DefaultMaxBytes is ParseWebhook's limit when it is given none.
const DefaultMaxBytes = 4 << 20

// WebhookMessage is the payload (version 4) Alertmanager's webhook receiver
// posts: one notification for one group of alerts.
type WebhookMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   uint64            `json:"truncatedAlerts"`
	Status            string            `json:"status"` // firing | resolved
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []Alert           `json:"alerts"`
}

// Alert is one alert of a webhook payload.
type Alert struct {
	Status       string            `json:"status"` // firing | resolved
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"` // zero-year while firing with no end known
	GeneratorURL string            `json:"generatorURL"`
	// Fingerprint is Alertmanager's hash of the labels. ParseWebhook fills it
	// in, computed the same way, when the payload has none, so it always
	// identifies the alert.
	Fingerprint string `json:"fingerprint"`
}

// Firing reports whether the alert is firing (not resolved).
func (a Alert) Firing() bool { return a.Status == "firing" }

// Name returns the alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Component returns the value of the label that names the affected
// component (e.g. "component", "service", "job"), "" if the alert has none.
func (a Alert) Component(labelName string) string {
	return strings.TrimSpace(a.Labels[labelName])
}

// DedupKey identifies this state of this alert: the same alert delivered
// twice, e.g. by both members of an Alertmanager HA pair or by a repeat
// notification, has the same key; its resolution has another.
func (a Alert) DedupKey() string {
	return a.Fingerprint + "|" + a.StartsAt.UTC().Format(time.RFC3339Nano) + "|" + a.Status
}

// ParseWebhook reads and validates one webhook payload of at most maxBytes
// (DefaultMaxBytes if maxBytes <= 0). A larger body is ErrTooLarge; any
// other problem is an error naming it.
func ParseWebhook(r io.Reader, maxBytes int64) (*WebhookMessage, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	body, err := io.ReadAll(io.LimitReader(r, maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read webhook: %w", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, fmt.Errorf("%w: over %d bytes", ErrTooLarge, maxBytes)
	}
	// Alerts are decoded one by one so an error names the alert.
	var raw struct {
		WebhookMessage
		Alerts []json.RawMessage `json:"alerts"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("parse webhook: %w", describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("parse webhook: data after the JSON object at offset %d", dec.InputOffset())
	}
	m := raw.WebhookMessage
	m.Alerts = make([]Alert, len(raw.Alerts))
	for i, a := range raw.Alerts {
		if err := json.Unmarshal(a, &m.Alerts[i]); err != nil {
			return nil, fmt.Errorf("parse webhook: alerts[%d]: %w", i, describeJSONError(err))
		}
	}
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("parse webhook: %w", err)
	}
	for i := range m.Alerts {
		if m.Alerts[i].Fingerprint == "" {
			m.Alerts[i].Fingerprint = Fingerprint(m.Alerts[i].Labels)
		}
	}
	return &m, nil
}

// Fingerprint hashes a label set exactly as Alertmanager does, so an alert
// has the same identity with or without the payload's fingerprint field.
func Fingerprint(labels map[string]string) string {
	ls := make(model.LabelSet, len(labels))
	for k, v := range labels {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls.Fingerprint().String()
}

func (m *WebhookMessage) validate() error {
	if m.Version != "4" {
		return fmt.Errorf("unsupported version %q (want \"4\")", m.Version)
	}
	var errs []error
	if m.Status != "firing" && m.Status != "resolved" {
		errs = append(errs, fmt.Errorf("status %q: want firing or resolved", m.Status))
	}
	if len(m.Alerts) == 0 {
		errs = append(errs, errors.New("no alerts"))
	}
	for i, a := range m.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			errs = append(errs, fmt.Errorf("alerts[%d].status %q: want firing or resolved", i, a.Status))
		}
		if len(a.Labels) == 0 {
			errs = append(errs, fmt.Errorf("alerts[%d].labels: empty", i))
		}
		if a.StartsAt.IsZero() {
			errs = append(errs, fmt.Errorf("alerts[%d].startsAt: missing", i))
		}
		if len(errs) >= 10 {
			errs = append(errs, errors.New("more problems not shown"))
			break
		}
	}
	return errors.Join(errs...)
}

// describeJSONError names what is wrong and where.
func describeJSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return errors.New("empty body")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("invalid JSON: unexpected end of body")
	case errors.As(err, &syn):
		return fmt.Errorf("invalid JSON at offset %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "the payload"
		}
		return fmt.Errorf("%s: got a JSON %s, want %s", field, typ.Value, jsonKind(typ.Type))
	default:
		return err
	}
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	default:
		return t.Kind().String()
	}
}
