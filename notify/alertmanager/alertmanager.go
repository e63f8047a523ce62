// Package alertmanager connects Lookout to Prometheus Alertmanager both ways:
// Notifier pushes incidents as alerts through Alertmanager's API v2, and
// ParseWebhook reads the payload Alertmanager's webhook receiver sends, for
// ingesting alerts as incident events.
//
// # Alerts Lookout posts
//
// Each incident is one alert. Its labels are its identity in Alertmanager
// (the fingerprint), so they hold only what routing needs:
//
//	alertname="LookoutIncident"
//	incident_id="inc-42"
//	organization="acme"
//	component="api,sync"       the affected component ids, sorted, comma-joined
//	severity="critical"        impact critical|major → critical, minor → warning,
//	                           none → info, anything else → critical
//	...                        plus Config.ExtraLabels
//
// A label with an empty value is left out (Alertmanager refuses empty values).
// Everything that changes during an incident without changing what it is goes
// in annotations: summary, description, status, public_status, impact,
// components, incident_url, status_page_url, acknowledged_by, acknowledged_at.
//
// An acknowledgement does not resolve or silence the alert: it keeps firing,
// with the acknowledged_by and acknowledged_at annotations set, until the
// incident is resolved. It is an annotation rather than a label so that the
// alert keeps its fingerprint (a label change would make a second alert).
//
// When the components or the impact of an incident change, its label set and
// so its fingerprint change. Deliver then resolves the alert with the previous
// label set in the same request, so the incident never shows twice. The
// previous label set travels in Receipt.Ref / Message.Ref, which the outbox
// persists, so this also works across restarts.
//
// While an incident is open its alert has endsAt = now + AlertTTL, and
// Resend re-posts every open incident each ResendEvery: if Lookout stops,
// the alerts expire on their own instead of firing forever. A resolved
// incident is posted with endsAt = its resolution time, which resolves it.
// Alertmanager only takes a resolution whose endsAt is in its past, so a
// resolved incident's endsAt is never after Lookout's now; keep the clocks of
// both hosts in sync (NTP), or a resolution may wait out the TTL.
//
// Watchdog posts an always-firing LookoutWatchdog alert, like Prometheus's
// Watchdog: route it to a dead man's switch, so its silence means Lookout is
// down.
package alertmanager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-openapi/runtime"
	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/prometheus/alertmanager/api/v2/client"
	"github.com/prometheus/alertmanager/api/v2/client/alert"
	"github.com/prometheus/alertmanager/api/v2/models"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/notify"
)

// Names of the alerts Lookout posts.
const (
	IncidentAlertName = "LookoutIncident"
	WatchdogAlertName = "LookoutWatchdog"
)

// Defaults applied by New.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultResendEvery = time.Minute
	DefaultAlertTTL    = 5 * time.Minute
)

// maxAnnotation caps one annotation value; an incident summary is a sentence,
// not a log file.
const maxAnnotation = 4096

// Config configures a Notifier.
type Config struct {
	// URL is Alertmanager's base URL, e.g. http://alertmanager:9093 or
	// https://user:password@am.example.net/alertmanager (a route prefix and
	// basic auth credentials are honoured). Required.
	URL string
	// Timeout bounds one request to Alertmanager (default 10s).
	Timeout time.Duration
	// ResendEvery is how often the engine should call Resend (default 1m).
	// It must be shorter than AlertTTL.
	ResendEvery time.Duration
	// AlertTTL is how long an open incident's alert lives without a resend
	// (default 5m).
	AlertTTL time.Duration
	// ExtraLabels are added to every alert (e.g. team="storage"). A name must
	// match [a-zA-Z_][a-zA-Z0-9_]* and may not be one Lookout sets; empty
	// values are left out.
	ExtraLabels map[string]string
	// PageURL is the status page linked from alerts whose incident carries
	// no PageURL of its own.
	PageURL string
	// Clock is the time source (default the wall clock).
	Clock clock.Clock
}

// Notifier posts incidents to one Alertmanager. It is safe for concurrent use.
type Notifier struct {
	api       *client.AlertmanagerAPI
	transport *http.Transport
	cfg       Config
	clock     clock.Clock
	logger    *slog.Logger
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reservedLabels are set by Lookout and cannot be overridden by ExtraLabels.
var reservedLabels = []string{"alertname", "incident_id", "organization", "component", "severity"}

// New validates cfg, applies defaults and returns a Notifier. It does not
// contact Alertmanager.
func New(cfg Config, logger *slog.Logger) (*Notifier, error) {
	var errs []error
	cfg.Timeout = cmp.Or(cfg.Timeout, DefaultTimeout)
	cfg.ResendEvery = cmp.Or(cfg.ResendEvery, DefaultResendEvery)
	cfg.AlertTTL = cmp.Or(cfg.AlertTTL, DefaultAlertTTL)
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("timeout %s: must be positive", cfg.Timeout))
	}
	if cfg.ResendEvery < 0 || cfg.AlertTTL < 0 {
		errs = append(errs, fmt.Errorf("resend_every %s, alert_ttl %s: must be positive", cfg.ResendEvery, cfg.AlertTTL))
	} else if cfg.ResendEvery >= cfg.AlertTTL {
		errs = append(errs, fmt.Errorf("resend_every %s must be shorter than alert_ttl %s, or alerts expire between resends", cfg.ResendEvery, cfg.AlertTTL))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.ExtraLabels)) {
		switch {
		case !labelName.MatchString(name):
			errs = append(errs, fmt.Errorf("extra label %q: invalid name (want [a-zA-Z_][a-zA-Z0-9_]*)", name))
		case slices.Contains(reservedLabels, name):
			errs = append(errs, fmt.Errorf("extra label %q: reserved, Lookout sets it", name))
		case !utf8.ValidString(cfg.ExtraLabels[name]):
			errs = append(errs, fmt.Errorf("extra label %q: value is not valid UTF-8", name))
		}
	}
	u, err := url.Parse(cfg.URL)
	switch {
	case cfg.URL == "":
		errs = append(errs, errors.New("url: required"))
	case err != nil:
		// url.Parse's error repeats the URL, which may hold a password.
		errs = append(errs, errors.New("url: not a valid URL"))
	case u.Scheme != "http" && u.Scheme != "https":
		errs = append(errs, fmt.Errorf("url %s: scheme must be http or https", u.Redacted()))
	case u.Host == "":
		errs = append(errs, fmt.Errorf("url %s: no host", u.Redacted()))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, fmt.Errorf("url %s: must not have a query or fragment", u.Redacted()))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("alertmanager notifier: %w", err)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg.ExtraLabels = maps.Clone(cfg.ExtraLabels)

	transport := http.DefaultTransport.(*http.Transport).Clone()
	rt := httptransport.NewWithClient(u.Host, strings.TrimSuffix(u.Path, "/")+client.DefaultBasePath,
		[]string{u.Scheme}, &http.Client{Transport: transport, Timeout: cfg.Timeout})
	// SWAGGER_DEBUG or DEBUG in the environment would otherwise dump every
	// request and response to stderr.
	rt.Debug = false
	// Any content type is readable, so an error status from a proxy in front
	// of Alertmanager is reported by its code, not as "no consumer".
	rt.Consumers["*/*"] = runtime.ByteStreamConsumer()
	if u.User != nil {
		pass, _ := u.User.Password()
		rt.DefaultAuthentication = httptransport.BasicAuth(u.User.Username(), pass)
	}
	return &Notifier{
		api:       client.New(rt, strfmt.Default),
		transport: transport,
		cfg:       cfg,
		clock:     cfg.Clock,
		logger:    logger.With("alertmanager", u.Redacted()),
	}, nil
}

// ResendEvery is how often the engine should call Resend, defaults applied.
func (n *Notifier) ResendEvery() time.Duration { return n.cfg.ResendEvery }

// Close releases idle connections.
func (n *Notifier) Close() error {
	n.transport.CloseIdleConnections()
	return nil
}

// Deliver posts the incident of m as an alert: firing (endsAt = now +
// AlertTTL) for every event but Resolved, resolved (endsAt = the resolution
// time) for Resolved. The receipt's Ref is the label set posted; when
// m.Ref holds a different one (the components or impact changed), the old
// alert is resolved in the same request.
func (n *Notifier) Deliver(ctx context.Context, m notify.Message) (notify.Receipt, error) {
	now := n.clock.Now()
	inc := m.Incident
	if m.Event == notify.Resolved && inc.ResolvedAt.IsZero() {
		inc.ResolvedAt = now
	}
	a, err := n.incidentAlert(inc, now)
	if err != nil {
		return notify.Receipt{}, notify.Permanent(fmt.Errorf("deliver %s for incident %q: %w", m.Event, inc.ID, err))
	}
	alerts := models.PostableAlerts{a}
	if old := parseRef(m.Ref); old != nil && old["incident_id"] == inc.ID && !maps.Equal(old, map[string]string(a.Labels)) {
		stale := *a
		stale.Labels = old
		stale.EndsAt = strfmt.DateTime(now)
		if time.Time(stale.StartsAt).After(now) {
			stale.StartsAt = stale.EndsAt
		}
		alerts = append(alerts, &stale)
	}
	if err := n.post(ctx, alerts); err != nil {
		return notify.Receipt{}, fmt.Errorf("deliver %s for incident %q: %w", m.Event, inc.ID, err)
	}
	n.logger.DebugContext(ctx, "alert posted", "incident", inc.ID, "event", m.Event, "alerts", len(alerts))
	return notify.Receipt{Ref: formatRef(a.Labels)}, nil
}

// Resend re-posts every incident in open so their alerts do not expire. The
// engine calls it every ResendEvery with the incidents still open; an
// incident already resolved is posted resolved. One request carries all.
func (n *Notifier) Resend(ctx context.Context, open []notify.Incident) error {
	if len(open) == 0 {
		return nil
	}
	now := n.clock.Now()
	alerts := make(models.PostableAlerts, 0, len(open))
	var errs []error
	for _, inc := range open {
		a, err := n.incidentAlert(inc, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("incident %q: %w", inc.ID, err))
			continue
		}
		alerts = append(alerts, a)
	}
	if len(alerts) > 0 {
		if err := n.post(ctx, alerts); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("resend %d incidents: %w", len(open), err)
	}
	return nil
}

// Watchdog posts the always-firing LookoutWatchdog alert (severity "none"),
// valid until now + AlertTTL. Call it every ResendEvery.
func (n *Notifier) Watchdog(ctx context.Context, now time.Time) error {
	labels := n.labels(map[string]string{"alertname": WatchdogAlertName, "severity": "none"})
	a := &models.PostableAlert{
		Alert: models.Alert{Labels: labels},
		Annotations: models.LabelSet{
			"summary": "Lookout is running",
			"description": "This alert always fires while Lookout runs. Route it to a dead man's switch: " +
				"when it stops arriving, Lookout is down and incidents are not being reported.",
		},
		StartsAt: strfmt.DateTime(now),
		EndsAt:   strfmt.DateTime(now.Add(n.cfg.AlertTTL)),
	}
	if err := n.post(ctx, models.PostableAlerts{a}); err != nil {
		return fmt.Errorf("watchdog: %w", err)
	}
	return nil
}

// post sends alerts; a 4xx (but 408 and 429) is permanent, anything else
// (5xx, connection errors, timeouts) may be retried.
func (n *Notifier) post(ctx context.Context, alerts models.PostableAlerts) error {
	params := alert.NewPostAlertsParamsWithContext(ctx).WithTimeout(n.cfg.Timeout).WithAlerts(alerts)
	_, err := n.api.Alert.PostAlerts(params, readStatus)
	if err == nil {
		return nil
	}
	err = fmt.Errorf("post alerts: %w", err)
	var se *StatusError
	if errors.As(err, &se) && se.Code >= 400 && se.Code < 500 &&
		se.Code != http.StatusRequestTimeout && se.Code != http.StatusTooManyRequests {
		return notify.Permanent(err)
	}
	return err
}

// StatusError is an error status answered by Alertmanager (or a proxy in
// front of it).
type StatusError struct {
	Code int
	// Body is the start of the response body, for the operator.
	Body string
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("alertmanager answered %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// readStatus makes every non-2xx answer a *StatusError with its code,
// whatever its content type or body.
func readStatus(op *runtime.ClientOperation) {
	op.Reader = statusReader{op.Reader}
}

type statusReader struct{ next runtime.ClientResponseReader }

func (r statusReader) ReadResponse(res runtime.ClientResponse, c runtime.Consumer) (any, error) {
	if code := res.Code(); code < 200 || code > 299 {
		b, _ := io.ReadAll(io.LimitReader(res.Body(), 512))
		return nil, &StatusError{Code: code, Body: oneLine(string(b))}
	}
	return r.next.ReadResponse(res, c)
}

// oneLine makes s printable on one log line: valid UTF-8, no control
// characters, trimmed.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(s), `"`))
}

// incidentAlert builds the alert for inc: firing until now+AlertTTL if open,
// ended at ResolvedAt if resolved.
func (n *Notifier) incidentAlert(inc notify.Incident, now time.Time) (*models.PostableAlert, error) {
	if inc.ID == "" {
		return nil, errors.New("incident has no id")
	}
	labels := n.labels(map[string]string{
		"alertname":    IncidentAlertName,
		"incident_id":  inc.ID,
		"organization": inc.Org,
		"component":    componentLabel(inc.Components),
		"severity":     Severity(inc.Impact),
	})
	starts := inc.StartedAt
	if starts.IsZero() {
		starts = now
	}
	ends := now.Add(n.cfg.AlertTTL)
	if inc.Status == "resolved" || !inc.ResolvedAt.IsZero() {
		// Alertmanager ignores an endsAt still in its future when the alert
		// it updates ends later: the resolution would be lost until the TTL.
		ends = now
		if !inc.ResolvedAt.IsZero() && inc.ResolvedAt.Before(now) {
			ends = inc.ResolvedAt
		}
	}
	if ends.Before(starts) {
		// Alertmanager refuses an alert that ends before it starts.
		starts = ends
	}
	a := &models.PostableAlert{
		Alert:       models.Alert{Labels: labels},
		Annotations: n.annotations(inc),
		StartsAt:    strfmt.DateTime(starts),
		EndsAt:      strfmt.DateTime(ends),
	}
	if inc.URL != "" {
		a.GeneratorURL = strfmt.URI(inc.URL)
	}
	return a, nil
}

// labels returns base plus the extra labels, without empty values.
func (n *Notifier) labels(base map[string]string) models.LabelSet {
	ls := make(models.LabelSet, len(base)+len(n.cfg.ExtraLabels))
	for k, v := range n.cfg.ExtraLabels {
		if v != "" {
			ls[k] = v
		}
	}
	for k, v := range base {
		if v = strings.ToValidUTF8(v, "\uFFFD"); v != "" {
			ls[k] = v
		}
	}
	return ls
}

func (n *Notifier) annotations(inc notify.Incident) models.LabelSet {
	summary := inc.Title
	switch {
	case inc.Title == "":
		summary = inc.Summary
	case inc.Summary != "":
		summary = inc.Title + ": " + inc.Summary
	}
	var comps []string
	for _, c := range inc.Components {
		if c.ID == "" && c.Name == "" {
			continue
		}
		comps = append(comps, fmt.Sprintf("%s (%s)", cmp.Or(c.Name, c.ID), cmp.Or(c.Status, "unknown")))
	}
	var desc strings.Builder
	fmt.Fprintf(&desc, "Incident %s", inc.ID)
	if inc.Title != "" {
		fmt.Fprintf(&desc, " %q", inc.Title)
	}
	fmt.Fprintf(&desc, " is %s", cmp.Or(inc.Status, "triggered"))
	if inc.Impact != "" {
		fmt.Fprintf(&desc, ", impact %s", inc.Impact)
	}
	fmt.Fprintf(&desc, ".")
	if len(comps) > 0 {
		fmt.Fprintf(&desc, "\nAffected: %s.", strings.Join(comps, ", "))
	}
	if inc.Summary != "" {
		fmt.Fprintf(&desc, "\nLatest: %s", inc.Summary)
	}
	if inc.AcknowledgedBy != "" {
		fmt.Fprintf(&desc, "\nAcknowledged by %s.", inc.AcknowledgedBy)
	}
	if inc.Flapping {
		fmt.Fprintf(&desc, "\nFlapping.")
	}
	ann := map[string]string{
		"summary":         summary,
		"description":     desc.String(),
		"status":          inc.Status,
		"public_status":   inc.PublicStatus,
		"impact":          inc.Impact,
		"components":      strings.Join(comps, ", "),
		"incident_url":    inc.URL,
		"status_page_url": cmp.Or(inc.PageURL, n.cfg.PageURL),
		"acknowledged_by": inc.AcknowledgedBy,
	}
	if !inc.AcknowledgedAt.IsZero() {
		ann["acknowledged_at"] = inc.AcknowledgedAt.UTC().Format(time.RFC3339)
	}
	out := make(models.LabelSet, len(ann))
	for k, v := range ann {
		if v = truncate(strings.ToValidUTF8(v, "\uFFFD"), maxAnnotation); v != "" {
			out[k] = v
		}
	}
	return out
}

// truncate cuts s to at most limit bytes on a rune boundary.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// componentLabel is the sorted, de-duplicated, comma-joined ids of the
// affected components: one label that routes (component=~".*storage.*") and
// reads well, whatever the number of components.
func componentLabel(cs []notify.Component) string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		if c.ID != "" {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return strings.Join(slices.Compact(ids), ",")
}

// Severity maps an incident impact to the severity label: critical and major
// page (critical), minor warns, none informs; an unknown impact is treated as
// critical, so a mistake pages rather than hides.
func Severity(impact string) string {
	switch impact {
	case "minor":
		return "warning"
	case "none":
		return "info"
	default:
		return "critical"
	}
}

// formatRef encodes a label set as the receipt's Ref (a sorted query string).
func formatRef(ls models.LabelSet) string {
	v := make(url.Values, len(ls))
	for k, val := range ls {
		v.Set(k, val)
	}
	return v.Encode()
}

// parseRef decodes formatRef's output; nil if ref is not one.
func parseRef(ref string) map[string]string {
	if ref == "" {
		return nil
	}
	v, err := url.ParseQuery(ref)
	if err != nil || v.Get("alertname") != IncidentAlertName {
		return nil
	}
	ls := make(map[string]string, len(v))
	for k, vals := range v {
		if len(vals) != 1 || vals[0] == "" || !labelName.MatchString(k) {
			return nil
		}
		ls[k] = vals[0]
	}
	return ls
}
