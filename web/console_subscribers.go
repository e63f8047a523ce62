package web

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/templates"
)

// The console's subscribers pages (admins):
//
//	GET  /console/subscribers              every subscription, oldest first, 100 a page
//	POST /console/subscribers              subscribe a webhook or an address (as the API)
//	GET  /console/subscribers/{id}         one subscription and its delivery log
//	POST /console/subscribers/{id}/remove  remove it (audited)
//
// They read through the same SubscriberService as GET /api/v1/subscribers
// and /deliveries. A webhook's URL is shown without its query (it may
// carry a token); the audit summary of a removal names the destination's
// host (or the address's domain), never the URL.

// consoleSubscribersPage is the number of subscriptions on a list page.
const consoleSubscribersPage = 100

// consoleSubscriberRoutes registers the subscribers pages (called from
// routes).
func (s *server) consoleSubscriberRoutes(mux *http.ServeMux) {
	if s.subscribers == nil || s.auth == nil {
		return
	}
	s.console(mux, "GET /console/subscribers", roleAdmin, s.handleConsoleSubscribers)
	s.console(mux, "POST /console/subscribers", roleAdmin, s.handleConsoleSubscribe)
	s.console(mux, "GET /console/subscribers/{id}", roleAdmin, s.handleConsoleSubscriber)
	s.console(mux, "POST /console/subscribers/{id}/remove", roleAdmin, s.handleConsoleRemoveSubscriber)
}

func subscriberPath(id string) string { return "/console/subscribers/" + url.PathEscape(id) }

// shownURL is a webhook URL as the console shows it: without user
// information, and with its query (which may carry a token) elided.
func shownURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(unreadable URL)"
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.ForceQuery {
		out += "?…"
	}
	return cleanText(out)
}

// subscriberDestination is where a subscription delivers, for the audit
// log: a webhook's host, an address's domain.
func subscriberDestination(sub Subscription) string {
	if sub.Type == "email" {
		_, domain, _ := strings.Cut(sub.Email, "@")
		return "…@" + domain
	}
	if u, err := url.Parse(sub.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return "?"
}

var subscriptionStatusLabels = map[string]string{
	"pending": "Pending", "active": "Active", "disabled": "Disabled",
}

func (s *server) subscriptionRow(sub Subscription, p Principal, names map[string]string) templates.ConsoleSubscription {
	row := templates.ConsoleSubscription{
		ID:        sub.ID,
		Href:      consoleURL(subscriberPath(sub.ID), p.Org),
		Type:      "Webhook",
		Status:    sub.Status,
		Label:     label(subscriptionStatusLabels, sub.Status),
		Created:   consoleTime(sub.CreatedAt, consoleDateTime),
		Remove:    consoleURL(subscriberPath(sub.ID)+"/remove", p.Org),
		Reason:    cleanText(sub.DisabledReason),
		Confirmed: optTime(sub.ConfirmedAt),
		Disabled:  optTime(sub.DisabledAt),
		Expires:   optTime(sub.ExpiresAt),
	}
	if sub.Type == "email" {
		row.Type, row.Destination = "E-mail", cleanText(sub.Email)
	} else {
		row.Destination = shownURL(sub.URL)
	}
	if len(sub.Components) == 0 {
		row.Components = "All public components"
	} else {
		row.Components = componentList(sub.Components, names)
	}
	return row
}

func optTime(t *time.Time) templates.ConsoleTime {
	if t == nil {
		return templates.ConsoleTime{}
	}
	return consoleTime(*t, consoleDateTime)
}

func (s *server) handleConsoleSubscribers(w http.ResponseWriter, r *http.Request, p Principal) {
	page := 1
	if v := r.URL.Query().Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			http.Error(w, "page: want a page number from 1", http.StatusBadRequest)
			return
		}
		page = n
	}
	v, err := s.subscribersView(r, p, page, templates.ConsoleSubscribeForm{})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	c := s.consoleFrame(w, r, p, "subscribers", "Subscribers")
	s.consoleHTML(w, r, http.StatusOK, templates.ConsoleSubscribersPage(c, v))
}

// handleConsoleSubscribe is the subscribe form: the same Subscribe as
// POST /api/v1/subscribers. It answers the list page itself rather than
// redirecting, so a webhook's signing secret is shown this once without
// passing through a cookie; a refusal shows the form again as typed (422).
func (s *server) handleConsoleSubscribe(w http.ResponseWriter, r *http.Request, p Principal) {
	if err := r.ParseForm(); err != nil {
		s.fail(w, r, err)
		return
	}
	form := templates.ConsoleSubscribeForm{Type: r.PostForm.Get("type"), URL: r.PostForm.Get("url"), Email: r.PostForm.Get("email")}
	req := SubscribeRequest{Org: p.Org, Type: cmp.Or(form.Type, "webhook"), Components: r.PostForm["components"]}
	if req.Type == "email" {
		req.Email = strings.TrimSpace(form.Email)
	} else {
		req.URL = strings.TrimSpace(form.URL)
	}
	status := http.StatusOK
	var created *templates.ConsoleCreatedSubscription
	sub, err := s.subscribers.Subscribe(r.Context(), req)
	if err != nil {
		var ae *apiError
		if !errors.As(subscribeError(err), &ae) {
			s.fail(w, r, err)
			return
		}
		form.Error, form.Field, status = ae.message, ae.field, http.StatusUnprocessableEntity
	} else {
		noteAudit(r, sub.ID, "subscribed "+sub.Type+" to "+subscriberDestination(sub))
		created = &templates.ConsoleCreatedSubscription{ID: sub.ID, Href: consoleURL(subscriberPath(sub.ID), p.Org),
			Secret: sub.Secret, Pending: sub.Status == "pending"}
		form = templates.ConsoleSubscribeForm{}
		req.Components = nil
	}
	v, err := s.subscribersView(r, p, 1, form, req.Components...)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	v.Created = created
	c := s.consoleFrame(w, r, p, "subscribers", "Subscribers")
	s.consoleHTML(w, r, status, templates.ConsoleSubscribersPage(c, v))
}

// subscribersView is the list's page (from 1) with the subscribe form;
// checked are the components to show checked in it.
func (s *server) subscribersView(r *http.Request, p Principal, page int, form templates.ConsoleSubscribeForm, checked ...string) (templates.ConsoleSubscriberList, error) {
	subs, err := s.subscribers.List(r.Context(), p.Org)
	if err != nil {
		return templates.ConsoleSubscriberList{}, fmt.Errorf("list subscribers: %w", err)
	}
	v := templates.ConsoleSubscriberList{Total: len(subs)}
	for _, sub := range subs {
		switch sub.Status {
		case "pending":
			v.Pending++
		case "active":
			v.Active++
		case "disabled":
			v.Disabled++
		}
	}
	from := (page - 1) * consoleSubscribersPage
	if from > len(subs) {
		from = len(subs)
	}
	to := min(from+consoleSubscribersPage, len(subs))
	if page > 1 {
		v.PrevHref = consoleURL("/console/subscribers", p.Org, "page", strconv.Itoa(page-1))
	}
	if to < len(subs) {
		v.NextHref = consoleURL("/console/subscribers", p.Org, "page", strconv.Itoa(page+1))
	}
	names := s.namesOf(p.Org)
	for _, sub := range subs[from:to] {
		v.Rows = append(v.Rows, s.subscriptionRow(sub, p, names))
	}
	if to > from && (from > 0 || to < len(subs)) {
		v.Range = fmt.Sprintf("%d–%d of %d", from+1, to, len(subs))
	}
	form.Action = consoleURL("/console/subscribers", p.Org)
	for _, id := range slices.Sorted(maps.Keys(names)) {
		form.Components = append(form.Components, templates.ConsoleComponentChoice{ID: id,
			Name: componentName(id, names), Checked: slices.Contains(checked, id)})
	}
	v.Add = form
	return v, nil
}

// subscriberNotFound answers 404 with the console's frame: another
// organization's subscription is not found either.
func (s *server) subscriberNotFound(w http.ResponseWriter, r *http.Request, p Principal) {
	c := s.consoleFrame(w, r, p, "subscribers", "Not found")
	s.consoleHTML(w, r, http.StatusNotFound, templates.ConsoleSubscriberNotFound(c, consoleURL("/console/subscribers", p.Org)))
}

func notFoundErr(err error) bool {
	return errors.Is(err, errNotFound) || errors.Is(err, store.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}

// findSubscription returns org's subscription id.
func (s *server) findSubscription(r *http.Request, org, id string) (Subscription, bool, error) {
	subs, err := s.subscribers.List(r.Context(), org)
	if err != nil {
		return Subscription{}, false, fmt.Errorf("list subscribers: %w", err)
	}
	for _, sub := range subs {
		if sub.ID == id {
			return sub, true, nil
		}
	}
	return Subscription{}, false, nil
}

func (s *server) handleConsoleSubscriber(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	var before int64
	if c := r.URL.Query().Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n <= 0 {
			http.Error(w, "cursor: not a cursor from the Older link", http.StatusBadRequest)
			return
		}
		before = n
	}
	// The delivery log is read first: it checks the organization.
	log, err := s.subscribers.Deliveries(r.Context(), p.Org, id, before, defaultDeliveryPage)
	if notFoundErr(err) {
		s.subscriberNotFound(w, r, p)
		return
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("delivery log: %w", err))
		return
	}
	sub, ok, err := s.findSubscription(r, p.Org, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.subscriberNotFound(w, r, p)
		return
	}
	v := templates.ConsoleSubscriber{
		Sub:      s.subscriptionRow(sub, p, s.namesOf(p.Org)),
		ListHref: consoleURL("/console/subscribers", p.Org),
	}
	if log.NextCursor != "" {
		v.OlderHref = consoleURL(subscriberPath(id), p.Org, "cursor", log.NextCursor)
	}
	if before > 0 {
		v.NewestHref = consoleURL(subscriberPath(id), p.Org)
	}
	for _, d := range log.Deliveries {
		a := templates.ConsoleDelivery{
			At:        consoleTime(d.At, consoleDateTime),
			Event:     d.Event,
			Attempt:   strconv.Itoa(d.Attempt),
			Outcome:   d.Outcome,
			Latency:   strconv.FormatInt(d.LatencyMS, 10) + " ms",
			Error:     cleanText(d.Error),
			MessageID: cmp.Or(d.WebhookID, d.MessageID),
		}
		switch {
		case d.SMTPReply != "":
			a.Reply = cleanText(d.SMTPReply)
		case d.StatusCode != 0:
			a.Reply = "HTTP " + strconv.Itoa(d.StatusCode)
		default:
			a.Reply = "no answer"
		}
		v.Deliveries = append(v.Deliveries, a)
	}
	c := s.consoleFrame(w, r, p, "subscribers", "Subscriber "+sub.ID)
	s.consoleHTML(w, r, http.StatusOK, templates.ConsoleSubscriberPage(c, v))
}

func (s *server) handleConsoleRemoveSubscriber(w http.ResponseWriter, r *http.Request, p Principal) {
	id := r.PathValue("id")
	sub, ok, err := s.findSubscription(r, p.Org, id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if !ok {
		s.subscriberNotFound(w, r, p)
		return
	}
	found, err := s.subscribers.Unsubscribe(r.Context(), p.Org, id)
	if err != nil {
		s.fail(w, r, fmt.Errorf("remove subscriber: %w", err))
		return
	}
	if !found { // removed meanwhile
		s.subscriberNotFound(w, r, p)
		return
	}
	kind := "webhook"
	if sub.Type == "email" {
		kind = "e-mail"
	}
	noteAudit(r, id, fmt.Sprintf("removed %s subscription to %s (was %s)", kind, subscriberDestination(sub), sub.Status))
	s.logger.InfoContext(r.Context(), "subscriber removed", "org", p.Org, "user", p.User, "subscriber", id, "type", sub.Type)
	setConsoleFlash(w, "Removed the "+kind+" subscription "+id+"; nothing more is sent to it.", false)
	back(w, r, "/console/subscribers", p)
}
