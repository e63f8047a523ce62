package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/alertmanager"
	"github.com/lookout-status/lookout/notify/slack"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
)

// channelID names an organization's notifier in the outbox: notifier ids
// are unique per organization only.
func channelID(org, notifier string) string { return org + "/" + notifier }

// notifiers builds every organization's notifiers, keyed by channel id, and
// the Alertmanager ones separately (they also need periodic re-posts).
func buildNotifiers(cfg *config.Config, clk clock.Clock, logger *slog.Logger) (map[string]notify.Notifier, map[string]*alertmanager.Notifier, map[string]string, error) {
	all := map[string]notify.Notifier{}
	ams := map[string]*alertmanager.Notifier{}
	dests := map[string]string{}
	for _, org := range cfg.Organizations {
		eg := probes.NewEgress(org.Egress)
		page, console := pageURL(org), cfg.ConsoleURL(org)
		for _, n := range org.Notifiers {
			id := channelID(org.ID, n.ID)
			l := logger.With("notifier", id)
			switch {
			case n.Slack != nil:
				s, err := slack.New(slack.Config{Token: n.Slack.Token.Reveal(), Channel: n.Slack.Channel, APIURL: n.Slack.APIURL, ConsoleURL: console}, l)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("notifier %s: %w", id, err)
				}
				all[id], dests[id] = s, "slack"
			case n.Alertmanager != nil:
				a, err := alertmanager.New(alertmanager.Config{
					URL: n.Alertmanager.URL, Timeout: n.Alertmanager.Timeout, ResendEvery: n.Alertmanager.ResendEvery,
					AlertTTL: n.Alertmanager.AlertTTL, ExtraLabels: n.Alertmanager.Labels, PageURL: page, Clock: clk,
				}, l)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("notifier %s: %w", id, err)
				}
				all[id], ams[id], dests[id] = a, a, hostOf(n.Alertmanager.URL)
			case n.Webhook != nil:
				headers := map[string]string{}
				for k, v := range n.Webhook.Headers {
					headers[k] = v.Reveal()
				}
				w, err := webhook.New(webhook.Config{URL: n.Webhook.URL, Secret: n.Webhook.Secret.Reveal(), Headers: headers, Timeout: n.Webhook.Timeout, Clock: clk}, l, eg)
				if err != nil {
					return nil, nil, nil, fmt.Errorf("notifier %s: %w", id, err)
				}
				all[id], dests[id] = w, w.Destination()
			}
		}
	}
	return all, ams, dests, nil
}

func hostOf(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.Host != "" {
		return u.Host
	}
	return raw
}

func pageURL(org config.Organization) string {
	if len(org.Pages) > 0 {
		return org.Pages[0].URL
	}
	return ""
}

// engineConfigs maps the config to the incident engine's view.
func engineConfigs(cfg *config.Config, dests map[string]string) []engine.OrgConfig {
	var out []engine.OrgConfig
	for _, org := range cfg.Organizations {
		oc := engine.OrgConfig{Org: org.ID, Config: org.IncidentConfig(), Users: map[string]notify.Target{}, PageURL: pageURL(org), ConsoleURL: cfg.ConsoleURL(org)}
		for _, n := range org.Notifiers {
			id := channelID(org.ID, n.ID)
			oc.Channels = append(oc.Channels, engine.Channel{ID: id, Destination: dests[id]})
		}
		for _, m := range org.Maintenances {
			oc.Maintenances = append(oc.Maintenances, engineMaintenance(m))
		}
		for _, u := range org.Users {
			oc.Users[u.ID] = notify.Target{User: u.ID, Name: u.Name, SlackID: u.SlackID, Email: u.Email}
		}
		out = append(out, oc)
	}
	return out
}

// engineMaintenance is a configured window as the engine takes it.
func engineMaintenance(m config.Maintenance) incidents.MaintenanceSchedule {
	return incidents.MaintenanceSchedule{
		ID: m.ID, Title: m.Title, Components: m.Components, Start: m.Start, End: m.End, Actor: "config",
	}
}

// probeEvent turns a probe result into the engine's event.
func probeEvent(org string, p probes.Probe, r probes.Result) incidents.ProbeResult {
	return incidents.ProbeResult{
		Org: org, Probe: r.ProbeID, Component: p.Component, Region: r.Region,
		Outcome: incidents.Outcome(r.Outcome), At: r.Started, Error: r.Error,
	}
}

// resendAlerts re-posts open incidents to each Alertmanager before their
// alerts expire, and keeps the watchdog alert firing: silence means
// Lookout is down.
func resendAlerts(ctx context.Context, clk clock.Clock, eng *engine.Engine, current *atomic.Pointer[map[string]*alertmanager.Notifier], logger *slog.Logger) error {
	for {
		ams := *current.Load()
		every := time.Minute
		ids := make([]string, 0, len(ams))
		for id, a := range ams {
			ids = append(ids, id)
			if a.ResendEvery() < every {
				every = a.ResendEvery()
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			org, _, _ := strings.Cut(id, "/")
			if err := ams[id].Resend(ctx, eng.OpenIncidents(org)); err != nil && ctx.Err() == nil {
				logger.Warn("alertmanager resend", "notifier", id, "err", err)
			}
			if err := ams[id].Watchdog(ctx, clk.Now()); err != nil && ctx.Err() == nil {
				logger.Warn("alertmanager watchdog", "notifier", id, "err", err)
			}
		}
		t := clk.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}
