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
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/notify"
	"github.com/lookout-status/lookout/notify/email"
	"github.com/lookout-status/lookout/notify/subscriber"
	"github.com/lookout-status/lookout/notify/webhook"
	"github.com/lookout-status/lookout/probes"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// subscriberDocs describes the payloads (meta.documentation).
const subscriberDocs = "https://github.com/lookout-status/lookout/blob/main/docs/webhooks.md#subscriber-webhooks"

// E-mail subscriptions: how long a confirmation link is valid, how many
// confirmation e-mails one address may be sent per hour, and how many
// deliveries in a row may bounce before the subscription is disabled.
const (
	confirmWithin        = 48 * time.Hour
	confirmationsPerHour = 3
	maxBounces           = 3
	expireEvery          = 10 * time.Minute
)

// subscribers keeps the webhook and e-mail subscriptions in memory for the
// engine's hook (which must not read the database) and gives the notify
// worker a notifier per pending or active subscriber, next to the
// configured ones: its own for each webhook, the SMTP notifier for every
// e-mail. It implements web.SubscriberService and subscriber.Confirmer
// (refreshing itself after each change), and reloads itself when the
// worker's outbox disables a subscription.
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
	mailer    *email.Notifier                      // nil without an smtp section
	active    map[string][]subscriber.Subscription // by org
	notifiers map[string]*subscriber.Notifier      // webhooks by subscriber id
	built     map[string]string                    // subscriber id → url+secret it was built with
	mail      map[string]bool                      // e-mail subscriber ids served
	// transports are shared by an organization's webhook subscribers, by
	// organization and egress policy.
	transports map[string]*http.Transport
}

// transport returns the organization's shared subscriber transport. s.mu
// is held (for writing).
func (s *subscribers) transport(org config.Organization) *http.Transport {
	key := org.ID + "\x00" + fmt.Sprint(org.Egress)
	if t := s.transports[key]; t != nil {
		return t
	}
	if s.transports == nil {
		s.transports = map[string]*http.Transport{}
	}
	for k, t := range s.transports {
		if strings.HasPrefix(k, org.ID+"\x00") {
			t.CloseIdleConnections() // the policy changed
			delete(s.transports, k)
		}
	}
	t := subscriber.NewTransport(probes.NewEgress(org.Egress))
	s.transports[key] = t
	return t
}

// setConfig installs a (re)loaded config and its notifiers, then reloads
// the subscriptions.
func (s *subscribers) setConfig(ctx context.Context, cfg *config.Config, base map[string]notify.Notifier) error {
	var mailer *email.Notifier
	if c := cfg.SMTP; c != nil {
		var err error
		mailer, err = email.New(email.Config{Host: c.Host, Port: c.Port, Username: c.Username, Password: c.Password.Reveal(),
			From: c.From, TLS: c.TLS, Timeout: c.Timeout}, s.logger)
		if err != nil {
			return fmt.Errorf("smtp: %w", err)
		}
	}
	s.mu.Lock()
	s.cfg, s.base, s.mailer = cfg, base, mailer
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
	mail := map[string]bool{}
	for _, sub := range all {
		org, ok := s.org(sub.Org)
		if !ok || sub.Status == store.SubscriberDisabled {
			continue
		}
		if sub.Kind == store.KindEmail {
			if s.mailer == nil {
				s.logger.Warn("e-mail subscriber not served: no smtp section", "subscriber", sub.ID)
				continue
			}
			mail[sub.ID] = true
			if sub.Status == store.SubscriberActive {
				active[sub.Org] = append(active[sub.Org], s.subscription(org, sub))
			}
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
	s.active, s.notifiers, s.built, s.mail = active, notifiers, built, mail
	s.publish()
	return nil
}

// notifier returns the subscriber's notifier, reusing the current one when
// nothing changed. s.mu is held.
func (s *subscribers) notifier(org config.Organization, sub store.Subscriber) (*subscriber.Notifier, error) {
	if n := s.notifiers[sub.ID]; n != nil && s.built[sub.ID] == sub.URL+"\x00"+sub.Secret {
		return n, nil
	}
	return subscriber.New(subscriber.Config{ID: sub.ID, URL: sub.URL, Secret: sub.Secret, Clock: s.clock, Transport: s.transport(org)},
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
	if s.mailer != nil {
		for id := range s.mail {
			all[subscriber.Channel(id)] = s.mailer
		}
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
	p := subscriber.Page{ID: org.ID, Name: org.Name, URL: pageURL(org), Documentation: subscriberDocs, Components: map[string]subscriber.Component{}}
	var show []string
	if len(org.Pages) > 0 {
		pg := org.Pages[0]
		p.ID, show = pg.ID, pg.Components
		if pg.Name != "" {
			p.Name = pg.Name
		}
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

// subscription is sub as deliveries need it. s.mu is held.
func (s *subscribers) subscription(org config.Organization, sub store.Subscriber) subscriber.Subscription {
	out := subscriber.Subscription{
		ID: sub.ID, Destination: subscriber.Destination(sub.URL), Components: sub.Components,
		Unsubscribe: strings.TrimSuffix(pageURL(org), "/") + "/unsubscribe/" + unsubscribeToken(sub.ID, sub.Secret),
	}
	if sub.Kind == store.KindEmail {
		out.Email = sub.Email
		if s.mailer != nil {
			// All e-mail goes through one server: one destination.
			out.Destination = s.mailer.Destination()
		}
	}
	return out
}

// engineConfigs adds the subscribers hook to every organization's config.
func (s *subscribers) engineConfigs(cfgs []engine.OrgConfig) []engine.OrgConfig {
	for i := range cfgs {
		org := cfgs[i].Org
		cfgs[i].Subscribers = func(st incidents.State, effs []incidents.Effect, now time.Time) []notify.Delivery {
			return s.deliveries(org, func(page subscriber.Page, subs []subscriber.Subscription) []notify.Delivery {
				return subscriber.Deliveries(org, page, subs, st, effs, now)
			})
		}
	}
	return cfgs
}

// deliveries builds, with the subscriptions read-locked, what org's active
// subscribers are sent; nothing when it has none.
func (s *subscribers) deliveries(org string, build func(subscriber.Page, []subscriber.Subscription) []notify.Delivery) []notify.Delivery {
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
	return build(subscriberPage(o), subs)
}

// unsubscribeToken is the one-click link's token: the id and an HMAC of
// it keyed with the subscriber's secret, so only Lookout (and the
// subscriber) can make it.
func unsubscribeToken(id, secret string) string { return linkToken("unsubscribe", id, secret) }

// confirmToken is an e-mail subscription's confirmation link's token.
func confirmToken(id, secret string) string { return linkToken("confirm", id, secret) }

func linkToken(purpose, id, secret string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(purpose + ":" + id))
	return id + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:24])
}

// tokenSubscriber returns the subscription a link's token names, if the
// token checks out for purpose.
func (s *subscribers) tokenSubscriber(ctx context.Context, purpose, token string) (store.Subscriber, error) {
	id, _, ok := strings.Cut(token, ".")
	if !ok || !strings.HasPrefix(id, "sub_") {
		return store.Subscriber{}, fmt.Errorf("%s token: %w", purpose, fs.ErrNotExist)
	}
	sub, err := s.db.Subscriber(ctx, id)
	if err != nil {
		return store.Subscriber{}, err
	}
	if !hmac.Equal([]byte(token), []byte(linkToken(purpose, sub.ID, sub.Secret))) {
		return store.Subscriber{}, fmt.Errorf("%s token: %w", purpose, fs.ErrNotExist)
	}
	return sub, nil
}

// Subscribe implements web.SubscriberService.
func (s *subscribers) Subscribe(ctx context.Context, req web.SubscribeRequest) (web.Subscription, error) {
	s.mu.RLock()
	org, ok := s.org(req.Org)
	if req.Org == "" {
		org, ok = s.orgOfPage(req.Page)
	}
	mailer := s.mailer
	s.mu.RUnlock()
	if !ok {
		return web.Subscription{}, fmt.Errorf("subscribe: organization: %w", fs.ErrNotExist)
	}
	page := subscriberPage(org)
	comps := slices.Compact(slices.Sorted(slices.Values(req.Components)))
	for _, c := range comps {
		if _, ok := page.Components[c]; !ok {
			return web.Subscription{}, &probes.FieldError{Field: "components", Msg: fmt.Sprintf("%q is not a public component", c)}
		}
	}
	switch req.Type {
	case store.KindWebhook:
		return s.subscribeWebhook(ctx, org, page, req.URL, comps)
	case store.KindEmail:
		if mailer == nil || pageURL(org) == "" {
			return web.Subscription{}, &probes.FieldError{Field: "type", Msg: "e-mail subscriptions are not enabled (they need an smtp section and the page's url)"}
		}
		return s.subscribeEmail(ctx, org, page, req.Email, comps)
	}
	return web.Subscription{}, &probes.FieldError{Field: "type", Msg: `want "webhook" or "email"`}
}

func newSubscriberID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "sub_" + hex.EncodeToString(b)
}

func (s *subscribers) subscribeWebhook(ctx context.Context, org config.Organization, page subscriber.Page, url string, comps []string) (web.Subscription, error) {
	if err := subscriber.CheckURL(url, probes.NewEgress(org.Egress)); err != nil {
		return web.Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
	}
	sub := store.Subscriber{ID: newSubscriberID(), Org: org.ID, Kind: store.KindWebhook, URL: url,
		Secret: webhook.GenerateSecret(), Components: comps, Status: store.SubscriberPending}
	// The notifier is in place before the verification row exists: the
	// worker never sees a row it has no notifier for.
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	s.mu.Lock()
	n, err := subscriber.New(subscriber.Config{ID: sub.ID, URL: sub.URL, Secret: sub.Secret, Clock: s.clock, Transport: s.transport(org)},
		s.logger, probes.NewEgress(org.Egress), s)
	if err != nil {
		s.mu.Unlock()
		return web.Subscription{}, &probes.FieldError{Field: "url", Msg: err.Error()}
	}
	if s.notifiers == nil {
		s.notifiers, s.built = map[string]*subscriber.Notifier{}, map[string]string{}
	}
	s.notifiers[sub.ID], s.built[sub.ID] = n, sub.URL+"\x00"+sub.Secret
	s.publish()
	sb := s.subscription(org, sub)
	s.mu.Unlock()
	now := s.clock.Now()
	v := subscriber.VerificationDelivery(org.ID, page, sb, now)
	if err := s.create(ctx, sub, v); err != nil {
		return web.Subscription{}, err
	}
	s.logger.Info("subscriber pending verification", "org", org.ID, "subscriber", sub.ID, "host", subscriber.Destination(sub.URL))
	if comps == nil {
		comps = []string{}
	}
	return web.Subscription{ID: sub.ID, Type: store.KindWebhook, URL: sub.URL, Components: comps,
		Status: string(store.SubscriberPending), Secret: sub.Secret, CreatedAt: now.UTC()}, nil
}

// subscribeEmail creates a pending e-mail subscription and queues its
// confirmation e-mail, unless the address was sent confirmationsPerHour
// of them in the last hour. The secret keying its links is never shown
// (whoever knew it could confirm without the e-mail).
func (s *subscribers) subscribeEmail(ctx context.Context, org config.Organization, page subscriber.Page, raw string, comps []string) (web.Subscription, error) {
	addr, err := email.NormalizeAddress(raw)
	if err != nil {
		return web.Subscription{}, &probes.FieldError{Field: "email", Msg: err.Error()}
	}
	// Under changeMu, two requests cannot both pass the count.
	s.changeMu.Lock()
	defer s.changeMu.Unlock()
	now := s.clock.Now()
	n, err := s.db.RecentEmailSubscriptions(ctx, addr, now.Add(-time.Hour))
	if err != nil {
		return web.Subscription{}, err
	}
	if n >= confirmationsPerHour {
		s.logger.Warn("subscribe refused: too many confirmation e-mails to one address", "org", org.ID, "recent", n)
		return web.Subscription{}, web.ErrSubscribeLimited
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	sub := store.Subscriber{ID: newSubscriberID(), Org: org.ID, Kind: store.KindEmail, Email: addr,
		Secret: hex.EncodeToString(key), Components: comps, Status: store.SubscriberPending, ExpiresAt: now.Add(confirmWithin)}
	s.mu.Lock()
	if s.mail == nil {
		s.mail = map[string]bool{}
	}
	s.mail[sub.ID] = true
	s.publish()
	sb := s.subscription(org, sub)
	s.mu.Unlock()
	confirm := strings.TrimSuffix(pageURL(org), "/") + "/subscriptions/confirm/" + confirmToken(sub.ID, sub.Secret)
	d := subscriber.ConfirmationDelivery(org.ID, page, sb, confirm, sub.ExpiresAt, now)
	if err := s.create(ctx, sub, d); err != nil {
		return web.Subscription{}, err
	}
	s.logger.Info("e-mail subscriber pending confirmation", "org", org.ID, "subscriber", sub.ID)
	if comps == nil {
		comps = []string{}
	}
	expires := sub.ExpiresAt.UTC()
	return web.Subscription{ID: sub.ID, Type: store.KindEmail, Email: addr, Components: comps,
		Status: string(store.SubscriberPending), CreatedAt: now.UTC(), ExpiresAt: &expires}, nil
}

// create stores a new subscription with its first delivery and wakes the
// worker; on failure the notifiers are rebuilt from the database. changeMu
// is held.
func (s *subscribers) create(ctx context.Context, sub store.Subscriber, first notify.Delivery) error {
	if err := s.db.CreateSubscriber(ctx, sub, []notify.Delivery{first}); err != nil {
		if rerr := s.reloadLocked(ctx); rerr != nil {
			s.logger.Error("reload subscribers", "err", rerr)
		}
		return err
	}
	if s.worker != nil {
		s.worker.Wake()
	}
	return nil
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
func (s *subscribers) UnsubscribeToken(ctx context.Context, token string, apply bool) error {
	sub, err := s.tokenSubscriber(ctx, "unsubscribe", token)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || !apply {
		return err
	}
	if _, err := s.db.DeleteSubscriber(ctx, sub.ID); err != nil {
		return err
	}
	s.logger.Info("subscriber unsubscribed by link", "org", sub.Org, "subscriber", sub.ID)
	return s.reload(ctx)
}

// Confirm implements web.SubscriberService.
func (s *subscribers) Confirm(ctx context.Context, token string, apply bool) (web.Confirmation, error) {
	sub, err := s.tokenSubscriber(ctx, "confirm", token)
	if err != nil {
		return web.Confirmation{}, err
	}
	s.mu.RLock()
	org, ok := s.org(sub.Org)
	s.mu.RUnlock()
	if !ok || sub.Kind != store.KindEmail || sub.Status == store.SubscriberDisabled {
		return web.Confirmation{}, fmt.Errorf("confirm token: %w", fs.ErrNotExist)
	}
	c := web.Confirmation{Page: subscriberPage(org).Name, Email: sub.Email, Status: string(sub.Status)}
	if sub.Status == store.SubscriberActive {
		return c, nil
	}
	now := s.clock.Now()
	if !sub.ExpiresAt.IsZero() && !now.Before(sub.ExpiresAt) {
		return web.Confirmation{}, web.ErrLinkExpired
	}
	if !apply {
		return c, nil
	}
	if err := s.ConfirmSubscriber(ctx, sub.ID, now); err != nil {
		if errors.Is(err, store.ErrExpired) {
			return web.Confirmation{}, web.ErrLinkExpired
		}
		return web.Confirmation{}, err
	}
	s.logger.Info("e-mail subscriber confirmed", "org", sub.Org, "subscriber", sub.ID)
	c.Status = string(store.SubscriberActive)
	return c, nil
}

// List implements web.SubscriberService.
func (s *subscribers) List(ctx context.Context, org string) ([]web.Subscription, error) {
	if org == "" {
		return nil, nil
	}
	all, err := s.db.Subscribers(ctx, org)
	if err != nil {
		return nil, err
	}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		t = t.UTC()
		return &t
	}
	out := make([]web.Subscription, 0, len(all))
	for _, sub := range all {
		comps := sub.Components
		if comps == nil {
			comps = []string{}
		}
		out = append(out, web.Subscription{ID: sub.ID, Type: sub.Kind, URL: sub.URL, Email: sub.Email, Components: comps,
			Status: string(sub.Status), CreatedAt: sub.CreatedAt.UTC(), ExpiresAt: opt(sub.ExpiresAt),
			ConfirmedAt: opt(sub.ConfirmedAt), DisabledAt: opt(sub.DisabledAt), DisabledReason: sub.DisabledReason})
	}
	return out, nil
}

// Deliveries implements web.SubscriberService.
func (s *subscribers) Deliveries(ctx context.Context, org, id string, before int64, limit int) (web.DeliveryLog, error) {
	sub, err := s.db.Subscriber(ctx, id)
	if err != nil {
		return web.DeliveryLog{}, err
	}
	if sub.Org != org {
		return web.DeliveryLog{}, fmt.Errorf("subscriber %s: %w", id, store.ErrNotFound)
	}
	recs, next, err := s.db.Attempts(ctx, subscriber.Channel(id), before, limit)
	if err != nil {
		return web.DeliveryLog{}, err
	}
	s.mu.RLock()
	o, _ := s.org(org)
	s.mu.RUnlock()
	domain := subscriberPage(o).Domain()
	var out web.DeliveryLog
	for _, a := range recs {
		d := web.DeliveryAttempt{At: a.At, Event: string(a.Event), Attempt: a.Attempt, Outcome: a.Outcome,
			LatencyMS: a.Latency.Milliseconds(), Error: a.Error}
		if sub.Kind == store.KindEmail {
			d.MessageID = "<" + email.MessageID(a.Key, domain) + ">"
			if a.Reply.Code != 0 {
				d.SMTPReply = strings.TrimSpace(fmt.Sprintf("%d %s", a.Reply.Code, a.Reply.Text))
			}
		} else {
			d.WebhookID, d.StatusCode = webhook.MessageID(a.Key), a.Reply.Code
		}
		out.Deliveries = append(out.Deliveries, d)
	}
	if next > 0 {
		out.NextCursor = strconv.FormatInt(next, 10)
	}
	return out, nil
}

// expire deletes the e-mail subscriptions whose confirmation period ended,
// every expireEvery until ctx is done.
func (s *subscribers) expire(ctx context.Context) error {
	for {
		n, err := s.db.DeleteExpiredSubscribers(ctx, s.clock.Now())
		switch {
		case err != nil && ctx.Err() == nil:
			s.logger.Error("delete expired subscriptions", "err", err)
		case n > 0:
			s.logger.Info("unconfirmed subscriptions expired", "count", n)
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.logger.Error("reload subscribers", "err", err)
			}
		}
		t := s.clock.NewTimer(expireEvery)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// ConfirmSubscriber implements subscriber.Confirmer.
func (s *subscribers) ConfirmSubscriber(ctx context.Context, id string, at time.Time) error {
	if err := s.db.ConfirmSubscriber(ctx, id, at); err != nil {
		return err
	}
	return s.reload(ctx)
}

// outbox is the store's outbox as the delivery worker records attempts:
// a subscriber's given-up delivery disables the subscription by
// giveUpRule, in the attempt's transaction; then the subscribers in memory
// are reloaded.
type outbox struct {
	*store.DB
	subs *subscribers
}

// Record implements notify.Outbox.
func (o outbox) Record(ctx context.Context, a notify.Attempt) error {
	g, err := o.DB.RecordWith(ctx, a, giveUpRule)
	if err != nil {
		return err
	}
	o.subs.givenUp(ctx, g)
	return nil
}

// giveUpRule is the store.GiveUpRule of subscriptions: a webhook
// subscription is disabled at its first given-up delivery (after a day of
// retries, or a refusal), an e-mail one after maxBounces given up in a row
// (a mailbox refusing one message may take the next). The reason is shown
// to admins and kept in the audit log: no URL's path, query or user
// information (a webhook's may hold a token).
func giveUpRule(sub store.Subscriber, inARow int, reason string) (string, bool) {
	if sub.Kind == store.KindEmail {
		if inARow < maxBounces {
			return "", false
		}
		reason = fmt.Sprintf("%d e-mails in a row given up; last: %s", inARow, reason)
	}
	return withoutURLSecrets(reason), true
}

// givenUp logs what a recorded attempt did to a subscription whose
// delivery it gave up, and reloads the subscribers when it disabled one.
func (s *subscribers) givenUp(ctx context.Context, g store.GivenUp) {
	switch {
	case g.Disabled:
		s.logger.Warn("subscriber disabled: delivery given up", "subscriber", g.Subscriber, "reason", g.Reason)
		if err := s.reload(ctx); err != nil {
			s.logger.Error("reload subscribers", "err", err)
		}
	case g.Subscriber != "" && g.Kind == store.KindEmail:
		s.logger.Warn("e-mail to subscriber given up", "subscriber", g.Subscriber, "in_a_row", g.InARow, "disabled_at", maxBounces)
	}
}

// urlInText finds URLs in an error's text.
var urlInText = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^\s"'<>]+`)

// withoutURLSecrets cuts every URL in s down to its scheme and host.
func withoutURLSecrets(s string) string {
	return urlInText.ReplaceAllStringFunc(s, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "[url]"
		}
		return u.Scheme + "://" + u.Host
	})
}
