package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// subscriberDocs describes the payloads (meta.documentation).
const subscriberDocs = "https://github.com/lookout-status/lookout/blob/main/docs/webhooks.md#subscriber-webhooks"

// subscribers keeps the webhook subscriptions in memory for the engine's
// hook (which must not read the database) and gives the notify worker a
// notifier per pending or active subscriber, next to the configured ones.
// It implements web.SubscriberService, subscriber.Confirmer and
// subscriber.Disabler (refreshing itself after each change).
type subscribers struct {
	db     *store.DB
	clock  clock.Clock
	logger *slog.Logger
	worker *notify.Worker

	// changeMu serializes reading the subscriptions from the database
	// (reload) with creating one: otherwise a reload that read the rows
	// just before a new subscription's commit would publish notifiers
	// without it, and the worker would give up its verification ("no
	// notifier for channel"), as the soak showed with 1,000 subscribers.
	changeMu sync.Mutex
	// afterRead, if set, runs in reload between reading the rows and
	// publishing them: a seam for the test of that race.
	afterRead func()

	mu        sync.RWMutex
	cfg       *config.Config
	base      map[string]notify.Notifier           // the configured notifiers
	active    map[string][]subscriber.Subscription // by org
	notifiers map[string]*subscriber.Notifier      // by subscriber id
	built     map[string]string                    // subscriber id → url+secret it was built with
}

// setConfig installs a (re)loaded config and its notifiers, then reloads
// the subscriptions.
func (s *subscribers) setConfig(ctx context.Context, cfg *config.Config, base map[string]notify.Notifier) error {
	s.mu.Lock()
	s.cfg, s.base = cfg, base
	s.mu.Unlock()
	return s.reload(ctx)
}

// reload reads the subscriptions and hands the worker every notifier.
func (s *subscribers) reload(ctx context.Context) error {
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	return s.reloadLocked(ctx)
}

// reloadLocked is reload with s.changeMu held.
func (s *subscribers) reloadLocked(ctx context.Context) error {
	all, err := s.db.Subscribers(ctx, "")
	if err != nil {
		return err
	}
	if s.afterRead != nil {
		s.afterRead()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	active := map[string][]subscriber.Subscription{}
	notifiers := map[string]*subscriber.Notifier{}
	built := map[string]string{}
	for _, sub := range all {
		org, ok := s.org(sub.Org)
		if !ok || sub.Status == store.SubscriberDisabled {
			continue
		}
		n, err := s.notifier(org, sub)
		if err != nil {
			// A URL the (reloaded) egress policy now refuses.
			s.logger.Warn("subscriber not served", "subscriber", sub.ID, "err", err)
			continue
		}
		notifiers[sub.ID], built[sub.ID] = n, sub.URL+"\x00"+sub.Secret
		if sub.Status == store.SubscriberActive {
			active[sub.Org] = append(active[sub.Org], s.subscription(org, sub))
		}
	}
	for id, n := range s.notifiers {
		if notifiers[id] != n {
			n.CloseIdleConnections()
		}
	}
	s.active, s.notifiers, s.built = active, notifiers, built
	s.publish()
	return nil
}

// notifier returns the subscriber's notifier, reusing the current one when
// nothing changed. s.mu is held.
func (s *subscribers) notifier(org config.Organization, sub store.Subscriber) (*subscriber.Notifier, error) {
	if n := s.notifiers[sub.ID]; n != nil && s.built[sub.ID] == sub.URL+"\x00"+sub.Secret {
		return n, nil
	}
	return subscriber.New(subscriber.Config{ID: sub.ID, URL: sub.URL, Secret: sub.Secret, Clock: s.clock},
		s.logger, probes.NewEgress(org.Egress), s)
}

// publish gives the worker the configured notifiers and the subscribers'.
// s.mu is held.
func (s *subscribers) publish() {
	if s.worker == nil {
		return
	}
	all := maps.Clone(s.base)
	if all == nil {
		all = map[string]notify.Notifier{}
	}
	for id, n := range s.notifiers {
		all[subscriber.Channel(id)] = n
	}
	s.worker.SetNotifiers(all)
}

func (s *subscribers) org(id string) (config.Organization, bool) {
	if s.cfg == nil {
		return config.Organization{}, false
	}
	for _, o := range s.cfg.Organizations {
		if o.ID == id {
			return o, true
		}
	}
	return config.Organization{}, false
}

// page is what subscriber payloads say of the organization's first page.
func subscriberPage(org config.Organization) subscriber.Page {
	p := subscriber.Page{ID: org.ID, URL: pageURL(org), Documentation: subscriberDocs, Components: map[string]subscriber.Component{}}
	var show []string
	if len(org.Pages) > 0 {
		pg := org.Pages[0]
		p.ID, show = pg.ID, pg.Components
		if pg.Private {
			return p // no public component at all
		}
	}
	for _, c := range org.Components {
		if c.Private || (len(show) > 0 && !slices.Contains(show, c.ID)) {
			continue
		}
		p.Components[c.ID] = subscriber.Component{ID: c.ID, Name: c.Name}
	}
	return p
}

func (s *subscribers) subscription(org config.Organization, sub store.Subscriber) subscriber.Subscription {
	return subscriber.Subscription{
		ID: sub.ID, Destination: subscriber.Destination(sub.URL), Components: sub.Components,
		Unsubscribe: strings.TrimSuffix(pageURL(org), "/") + "/unsubscribe/" + unsubscribeToken(sub.ID, sub.Secret),
	}
}

// engineConfigs adds the subscribers hook to every organization's config.
func (s *subscribers) engineConfigs(cfgs []engine.OrgConfig) []engine.OrgConfig {
	for i := range cfgs {
		org := cfgs[i].Org
		cfgs[i].Subscribers = func(st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
			s.mu.RLock()
			defer s.mu.RUnlock()
			subs := s.active[org]
			if len(subs) == 0 {
				return nil
			}
			o, ok := s.org(org)
			if !ok {
				return nil
			}
			return subscriber.Deliveries(org, subscriberPage(o), subs, st, effs, now)
		}
	}
	return cfgs
}

// unsubscribeToken is the one-click link's token: the id and an HMAC of
// it keyed with the subscriber's secret, so only Lookout (and the
// subscriber) can make it.
func unsubscribeToken(id, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("unsubscribe:" + id))
	return id + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])
}

// Subscribe implements web.SubscriberService.
func (s *subscribers) Subscribe(ctx context.Context, req web.SubscribeRequest) (web.Subscription, error) {
	s.mu.RLock()
	org, ok := s.org(req.Org)
	if req.Org == "" {
		org, ok = s.orgOfPage(req.Page)
	}
	s.mu.RUnlock()
	if !ok {
		return web.Subscription{}, fmt.Errorf("subscribe: organization: %w", fs.ErrNotExist)
	}
	if req.Type != "webhook" {
		return web.Subscription{}, &probes.FieldError{Field: "type", Msg: `only "webhook" is supported`}
	}
	if err := subscriber.CheckURL(req.URL, probes.NewEgress(org.Egress)); err != nil {
		return web.Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
	}
	page := subscriberPage(org)
	comps := slices.Compact(slices.Sorted(slices.Values(req.Components)))
	for _, c := range comps {
		if _, ok := page.Components[c]; !ok {
			return web.Subscription{}, &probes.FieldError{Field: "components", Msg: fmt.Sprintf("%q is not a public component", c)}
		}
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	sub := store.Subscriber{ID: "sub_" + hex.EncodeToString(b), Org: org.ID, Kind: "webhook", URL: req.URL,
		Secret: webhook.GenerateSecret(), Components: comps, Status: store.SubscriberPending}
	n, err := subscriber.New(subscriber.Config{ID: sub.ID, URL: sub.URL, Secret: sub.Secret, Clock: s.clock},
		s.logger, probes.NewEgress(org.Egress), s)
	if err != nil {
		return web.Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
	}
	// The notifier is in place before the verification row exists: the
	// worker never sees a row it has no notifier for.
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	s.mu.Lock()
	if s.notifiers == nil {
		s.notifiers, s.built = map[string]*subscriber.Notifier{}, map[string]string{}
	}
	s.notifiers[sub.ID], s.built[sub.ID] = n, sub.URL+"\x00"+sub.Secret
	s.publish()
	s.mu.Unlock()
	now := s.clock.Now()
	v := subscriber.VerificationDelivery(org.ID, page, s.subscription(org, sub), now)
	if err := s.db.CreateSubscriber(ctx, sub, []notify.Delivery{v}); err != nil {
		if rerr := s.reloadLocked(ctx); rerr != nil {
			s.logger.Error("reload subscribers", "err", rerr)
		}
		return web.Subscription{}, err
	}
	if s.worker != nil {
		s.worker.Wake()
	}
	s.logger.Info("subscriber pending verification", "org", org.ID, "subscriber", sub.ID, "host", subscriber.Destination(sub.URL))
	if comps == nil {
		comps = []string{}
	}
	return web.Subscription{ID: sub.ID, Type: "webhook", URL: sub.URL, Components: comps,
		Status: string(store.SubscriberPending), Secret: sub.Secret, CreatedAt: now.UTC()}, nil
}

// orgOfPage finds the organization of a page id (an organization without
// pages has one named after it). s.mu is held.
func (s *subscribers) orgOfPage(page string) (config.Organization, bool) {
	if s.cfg == nil {
		return config.Organization{}, false
	}
	for _, o := range s.cfg.Organizations {
		if len(o.Pages) == 0 && o.ID == page {
			return o, true
		}
		for _, p := range o.Pages {
			if p.ID == page {
				return o, true
			}
		}
	}
	return config.Organization{}, false
}

// Unsubscribe implements web.SubscriberService.
func (s *subscribers) Unsubscribe(ctx context.Context, org, id string) (bool, error) {
	sub, err := s.db.Subscriber(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.Org != org) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	found, err := s.db.DeleteSubscriber(ctx, id)
	if err != nil {
		return false, err
	}
	return found, s.reload(ctx)
}

// UnsubscribeToken implements web.SubscriberService: a token whose
// subscriber is gone is answered as done (idempotent); one whose HMAC does
// not match is not found.
func (s *subscribers) UnsubscribeToken(ctx context.Context, token string) error {
	id, _, ok := strings.Cut(token, ".")
	if !ok || !strings.HasPrefix(id, "sub_") {
		return fmt.Errorf("unsubscribe token: %w", fs.ErrNotExist)
	}
	sub, err := s.db.Subscriber(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !hmac.Equal([]byte(token), []byte(unsubscribeToken(sub.ID, sub.Secret))) {
		return fmt.Errorf("unsubscribe token: %w", fs.ErrNotExist)
	}
	if _, err := s.db.DeleteSubscriber(ctx, id); err != nil {
		return err
	}
	s.logger.Info("subscriber unsubscribed by link", "org", sub.Org, "subscriber", id)
	return s.reload(ctx)
}

// ConfirmSubscriber implements subscriber.Confirmer.
func (s *subscribers) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	if err := s.db.ConfirmSubscriber(ctx, id, at); err != nil {
		return err
	}
	return s.reload(ctx)
}

// DeliveryChannel implements subscriber.Disabler.
func (s *subscribers) DeliveryChannel(ctx context.Context, id int64) (string, error) {
	return s.db.DeliveryChannel(ctx, id)
}

// DisableSubscriber implements subscriber.Disabler.
func (s *subscribers) DisableSubscriber(ctx context.Context, id string, at time.Time, reason string) error {
	if err := s.db.DisableSubscriber(ctx, id, at, reason); err != nil {
		return err
	}
	return s.reload(ctx)
}
