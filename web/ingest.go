package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify/alertmanager"
)

// AlertIngest resolves an Alertmanager ingest token into the organization
// its alerts belong to and the label naming their component ("" for the
// default, "component"); ok is false for an unknown token. Implementations
// compare in constant time.
type AlertIngest interface {
	Lookup(token string) (org, componentLabel string, ok bool)
}

// alertmanagerPath is where Alertmanager's webhook receiver posts.
const alertmanagerPath = "/api/v1/integrations/alertmanager"

// maxIngestBody caps an Alertmanager payload. A group of a few hundred
// alerts fits; Alertmanager's max_alerts bounds what it sends.
const maxIngestBody = 1 << 20

// defaultComponentLabel mirrors config.DefaultComponentLabel.
const defaultComponentLabel = "component"

// handleAlertmanager turns an Alertmanager webhook into ExternalAlert
// events, all applied in one engine call. The token is checked before the
// body is read. Redeliveries (an HA pair, repeat notifications) are
// recognised by the engine and change nothing.
func (s *server) handleAlertmanager(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r)
	if !ok {
		s.failAPI(w, r, errUnauthorized)
		return
	}
	org, label, ok := s.ingest.Lookup(token)
	if !ok {
		s.logger.InfoContext(r.Context(), "alertmanager token refused", "remote_addr", r.RemoteAddr)
		s.failAPI(w, r, errUnauthorized)
		return
	}
	if r.ContentLength > maxIngestBody {
		s.failAPI(w, r, alertmanager.ErrTooLarge)
		return
	}
	if label == "" {
		label = defaultComponentLabel
	}
	msg, err := alertmanager.ParseWebhook(r.Body, maxIngestBody)
	if err != nil {
		s.failAPI(w, r, ingestError(err))
		return
	}
	evs := make([]incidents.Event, 0, len(msg.Alerts))
	for _, a := range msg.Alerts {
		evs = append(evs, externalAlert(a, label))
	}
	effs, err := s.actions.Do(r.Context(), org, evs...)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("apply alerts: %w", err))
		return
	}
	s.logger.InfoContext(r.Context(), "alertmanager webhook", "org", org, "alerts", len(evs),
		"effects", len(effs), "group_key", msg.GroupKey)
	respondJSON(w, http.StatusOK, struct {
		Alerts int `json:"alerts"`
	}{len(evs)})
}

// ingestError keeps a too-large body a 413 and makes every other parse
// problem a 400 that says what is wrong.
func ingestError(err error) error {
	var tooLarge *http.MaxBytesError
	if errors.Is(err, alertmanager.ErrTooLarge) || errors.As(err, &tooLarge) {
		return err
	}
	return &apiError{status: http.StatusBadRequest, code: "invalid_payload", message: err.Error()}
}

func externalAlert(a alertmanager.Alert, componentLabel string) incidents.ExternalAlert {
	status := incidents.AlertResolved
	if a.Firing() {
		status = incidents.AlertFiring
	}
	summary := firstNonBlank(a.Annotations["summary"], a.Annotations["description"], a.Name(), a.Fingerprint)
	return incidents.ExternalAlert{
		Fingerprint: a.Fingerprint,
		Status:      status,
		Labels:      a.Labels,
		Component:   a.Component(componentLabel),
		Summary:     summary,
		StartsAt:    a.StartsAt,
	}
}

func firstNonBlank(vs ...string) string {
	for _, v := range vs {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
