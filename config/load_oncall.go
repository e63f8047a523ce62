package config

import (
	"encoding/base64"
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/probes"
)

// Loading the incident policy, users, teams (schedules, escalation
// policies), notifiers, integrations and tokens of one organization, and the
// incident fields of components and probes.

type fileIncidents struct {
	GroupingWindow *time.Duration `yaml:"grouping_window"`
	AutoResolve    *bool          `yaml:"auto_resolve"`
	QuietPeriod    *time.Duration `yaml:"quiet_period"`
	Publish        string         `yaml:"publish"`
	AckTimeout     *time.Duration `yaml:"ack_timeout"`
	Flapping       fileFlapping   `yaml:"flapping"`
	Escalation     string         `yaml:"escalation"`
}

type fileFlapping struct {
	Changes *int           `yaml:"changes"`
	Window  *time.Duration `yaml:"window"`
}

type fileTeam struct {
	ID                 string             `yaml:"id"`
	Name               string             `yaml:"name"`
	Members            []string           `yaml:"members"`
	Schedules          []fileSchedule     `yaml:"schedules"`
	EscalationPolicies []EscalationPolicy `yaml:"escalation_policies"`
}

type fileSchedule struct {
	ID        string         `yaml:"id"`
	TimeZone  string         `yaml:"time_zone"`
	Layers    []fileLayer    `yaml:"layers"`
	Overrides []fileOverride `yaml:"overrides"`
}

type fileLayer struct {
	Name         string            `yaml:"name"`
	Members      []string          `yaml:"members"`
	Start        string            `yaml:"start"`
	End          string            `yaml:"end"`
	Rotation     time.Duration     `yaml:"rotation"`
	Restrictions []fileRestriction `yaml:"restrictions"`
}

type fileRestriction struct {
	Kind   string        `yaml:"kind"`
	Start  string        `yaml:"start"`
	Length time.Duration `yaml:"length"`
}

type fileOverride struct {
	User  string `yaml:"user"`
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// known is the set of ids of one kind in an organization, for references.
type known struct {
	what string
	ids  map[string]string // id -> path of the item that defines it
	list []string          // in file order, for suggestions
	// check is false when the list had decoding problems: references to it
	// are not checked then, or every one would be "unknown".
	check bool
}

func newKnown(what string, check bool) *known {
	return &known{what: what, ids: map[string]string{}, check: check}
}

// define checks item's id (see checkID) and records it.
func (l *loader) define(k *known, id, path string) {
	if l.checkID(k.what, id, path, k.ids) {
		k.list = append(k.list, id)
	}
}

// ref reports id at path unless k defines it.
func (l *loader) ref(k *known, path, id string) {
	if !k.check || k.ids[id] != "" {
		return
	}
	l.unknownRef(path, k.what, id, k.list)
}

func (l *loader) unknownRef(path, what, id string, list []string) {
	msg := fmt.Sprintf("unknown %s %s", what, truncate(strconv.Quote(id)))
	if s := suggest(id, list); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	l.errf(path, "%s", msg)
}

// oncall loads what an organization configures for incidents; compsOK says
// the components decoded cleanly.
func (l *loader) oncall(fo *fileOrg, path string, o *Organization, eg *probes.Egress, compsOK bool) {
	users := newKnown("user", !l.probs.hasUnder(path+".users"))
	teamsOK := !l.probs.hasUnder(path + ".teams")
	schedules := newKnown("schedule", teamsOK)
	policies := newKnown("escalation policy", teamsOK)
	notifiers := newKnown("notifier", !l.probs.hasUnder(path+".notifiers"))

	o.Users = fo.Users
	for i := range o.Users {
		l.user(&o.Users[i], joinIndex(path+".users", i), users)
	}

	teamIDs := map[string]string{}
	for i, ft := range fo.Teams {
		tp := joinIndex(path+".teams", i)
		l.checkID("team", ft.ID, tp, teamIDs)
		t := Team{ID: ft.ID, Name: ft.Name, Members: ft.Members}
		if t.Name == "" {
			t.Name = t.ID
		}
		l.checkText(tp+".name", t.Name)
		for j, m := range t.Members {
			l.ref(users, joinIndex(tp+".members", j), m)
		}
		for j, fs := range ft.Schedules {
			sp := joinIndex(tp+".schedules", j)
			l.define(schedules, fs.ID, sp)
			t.Schedules = append(t.Schedules, l.schedule(fs, sp, users))
		}
		o.Teams = append(o.Teams, t)
	}

	o.Notifiers = fo.Notifiers
	for i := range o.Notifiers {
		np := joinIndex(path+".notifiers", i)
		l.define(notifiers, o.Notifiers[i].ID, np)
		l.notifier(&o.Notifiers[i], np, eg)
	}

	// Policies last: their targets name users, schedules and notifiers.
	nPolicies := 0
	for i, ft := range fo.Teams {
		for j, ep := range ft.EscalationPolicies {
			pp := joinIndex(joinIndex(path+".teams", i)+".escalation_policies", j)
			l.define(policies, ep.ID, pp)
			l.escalationPolicy(ep, pp, users, schedules, notifiers)
			o.Teams[i].EscalationPolicies = append(o.Teams[i].EscalationPolicies, ep)
			nPolicies++
		}
	}

	o.Policy = l.incidentPolicy(fo.Incidents, path+".incidents", policies, nPolicies)

	comps := newKnown("component", compsOK)
	for _, c := range o.Components {
		if idRE.MatchString(c.ID) && comps.ids[c.ID] == "" {
			comps.ids[c.ID] = c.ID
			comps.list = append(comps.list, c.ID)
		}
	}
	for i := range o.Components {
		c := &o.Components[i]
		cp := joinIndex(path+".components", i)
		for j, d := range c.DependsOn {
			dp := joinIndex(cp+".depends_on", j)
			if d == c.ID {
				l.errf(dp, "a component cannot depend on itself")
				continue
			}
			l.ref(comps, dp, d)
		}
		if c.Escalation != "" {
			l.ref(policies, cp+".escalation", c.Escalation)
		}
	}

	o.Integrations = fo.Integrations
	if am := o.Integrations.Alertmanager; am != nil {
		ip := path + ".integrations.alertmanager"
		l.token(ip+".token", am.Token)
		if am.ComponentLabel == "" {
			am.ComponentLabel = DefaultComponentLabel
		} else if !labelRE.MatchString(am.ComponentLabel) {
			l.errf(ip+".component_label", "invalid label name %s (%s)", truncate(strconv.Quote(am.ComponentLabel)), labelRule)
		}
	}

	o.Tokens = fo.Tokens
	tokenIDs := map[string]string{}
	for i := range o.Tokens {
		t := &o.Tokens[i]
		tp := joinIndex(path+".tokens", i)
		l.checkID("token", t.ID, tp, tokenIDs)
		if t.User == "" {
			l.errf(tp+".user", "is required (the user the token acts as)")
		} else {
			l.ref(users, tp+".user", t.User)
		}
		l.token(tp+".token", t.Token)
		switch {
		case t.Role == "":
			l.errf(tp+".role", "is required (owner, admin, responder or viewer)")
		case !t.Role.Valid():
			l.errf(tp+".role", "invalid role %s (use owner, admin, responder or viewer)", truncate(strconv.Quote(string(t.Role))))
		}
	}
}

var slackUserRE = regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`)

func (l *loader) user(u *User, path string, users *known) {
	l.define(users, u.ID, path)
	if u.Name == "" {
		u.Name = u.ID
	}
	l.checkText(path+".name", u.Name)
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email {
			l.errf(path+".email", "invalid email %s (use a bare address such as dana@example.net)", truncate(strconv.Quote(u.Email)))
		}
	}
	if u.SlackID != "" && !slackUserRE.MatchString(u.SlackID) {
		l.errf(path+".slack_id", "invalid Slack member id %s (use the id from the member's profile, such as U0123ABCD)", truncate(strconv.Quote(u.SlackID)))
	}
}

func (l *loader) incidentPolicy(fi fileIncidents, path string, policies *known, nPolicies int) IncidentPolicy {
	p := IncidentPolicy{
		GroupingWindow: orDefault(fi.GroupingWindow, DefaultGroupingWindow),
		AutoResolve:    orDefault(fi.AutoResolve, true),
		QuietPeriod:    orDefault(fi.QuietPeriod, DefaultQuietPeriod),
		Publish:        fi.Publish,
		AckTimeout:     orDefault(fi.AckTimeout, DefaultAckTimeout),
		Flapping: Flapping{
			Changes: orDefault(fi.Flapping.Changes, DefaultFlapChanges),
			Window:  orDefault(fi.Flapping.Window, DefaultFlapWindow),
		},
		Escalation: fi.Escalation,
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"grouping_window", p.GroupingWindow}, {"quiet_period", p.QuietPeriod}, {"ack_timeout", p.AckTimeout}} {
		if d.v < 0 {
			l.errf(path+"."+d.key, "must not be negative, got %s", fmtDur(d.v))
		}
	}
	switch p.Publish {
	case "":
		p.Publish = PublishImmediately
	case PublishImmediately, PublishDraft:
	default:
		l.errf(path+".publish", "invalid publish %s (use immediately or draft)", truncate(strconv.Quote(p.Publish)))
	}
	if p.Flapping.Changes < 0 {
		l.errf(path+".flapping.changes", "must not be negative, got %d", p.Flapping.Changes)
	} else if p.Flapping.Changes > 0 && p.Flapping.Window <= 0 {
		l.errf(path+".flapping.window", "must be positive when changes is set, got %s", fmtDur(p.Flapping.Window))
	}
	switch {
	case p.Escalation != "":
		l.ref(policies, path+".escalation", p.Escalation)
	case nPolicies == 1 && len(policies.list) == 1:
		p.Escalation = policies.list[0]
	}
	return p
}

func (l *loader) probeIncidents(pr *Probe, fp fileProbe, path string) {
	if pr.Quorum < 1 {
		l.errf(path+".quorum", "must be at least 1, got %d", pr.Quorum)
	}
	seen := map[string]bool{}
	for i, r := range pr.Regions {
		rp := joinIndex(path+".regions", i)
		switch {
		case !idRE.MatchString(r):
			l.errf(rp, "invalid region %s (%s)", truncate(strconv.Quote(r)), idRule)
		case seen[r]:
			l.errf(rp, "region %q is listed twice", r)
		}
		seen[r] = true
	}
	if len(pr.Regions) > 0 && pr.Quorum > len(pr.Regions) {
		l.errf(path+".quorum", "must be at most the number of regions (%d), got %d", len(pr.Regions), pr.Quorum)
	}
	if c := fp.Flapping.Changes; c != nil {
		if *c < 1 {
			l.errf(path+".flapping.changes", "must be at least 1, got %d (leave it out to use the organization's incidents.flapping)", *c)
		}
		pr.Flapping.Changes = *c
	}
	if w := fp.Flapping.Window; w != nil {
		if *w <= 0 {
			l.errf(path+".flapping.window", "must be positive, got %s", fmtDur(*w))
		}
		pr.Flapping.Window = *w
	}
}

// Schedules.

func (l *loader) schedule(fs fileSchedule, path string, users *known) Schedule {
	s := Schedule{ID: fs.ID, TimeZone: fs.TimeZone, Location: time.UTC}
	switch {
	case fs.TimeZone == "":
	case strings.EqualFold(fs.TimeZone, "local"):
		l.errf(path+".time_zone", `"Local" is the host's zone and may change with it; name the zone, such as Europe/Berlin or UTC`)
	default:
		loc, err := time.LoadLocation(fs.TimeZone)
		if err != nil {
			l.errf(path+".time_zone", "unknown time zone %s (use an IANA name such as Europe/Berlin, or UTC)", truncate(strconv.Quote(fs.TimeZone)))
		} else {
			s.Location = loc
		}
	}
	if len(fs.Layers) == 0 {
		l.errf(path+".layers", "at least one layer is required")
	}
	for i, fl := range fs.Layers {
		lp := joinIndex(path+".layers", i)
		ly := incidents.Layer{Name: fl.Name, Members: fl.Members, Length: fl.Rotation}
		l.checkText(lp+".name", fl.Name)
		if len(fl.Members) == 0 {
			l.errf(lp+".members", "at least one member is required")
		}
		for j, m := range fl.Members {
			l.ref(users, joinIndex(lp+".members", j), m)
		}
		var okStart, okEnd bool
		if fl.Start == "" {
			l.errf(lp+".start", "is required (the first handoff, such as 2026-01-05T09:00)")
		} else {
			ly.Start, okStart = l.wallTime(lp+".start", fl.Start, s.Location)
		}
		if fl.End != "" {
			ly.End, okEnd = l.wallTime(lp+".end", fl.End, s.Location)
			if okStart && okEnd && !ly.End.After(ly.Start) {
				l.errf(lp+".end", "must be after start (%s)", fl.Start)
			}
		}
		if fl.Rotation <= 0 {
			l.errf(lp+".rotation", "must be positive (the shift length, such as 24h or 168h), got %s", fmtDur(fl.Rotation))
		}
		for j, fr := range fl.Restrictions {
			if r, ok := l.restriction(fr, joinIndex(lp+".restrictions", j)); ok {
				ly.Restrictions = append(ly.Restrictions, r)
			}
		}
		s.Layers = append(s.Layers, ly)
	}
	for i, fov := range fs.Overrides {
		op := joinIndex(path+".overrides", i)
		ov := incidents.Override{User: fov.User}
		if fov.User == "" {
			l.errf(op+".user", "is required")
		} else {
			l.ref(users, op+".user", fov.User)
		}
		var okStart, okEnd bool
		if fov.Start == "" {
			l.errf(op+".start", "is required")
		} else {
			ov.Start, okStart = l.wallTime(op+".start", fov.Start, s.Location)
		}
		if fov.End == "" {
			l.errf(op+".end", "is required")
		} else {
			ov.End, okEnd = l.wallTime(op+".end", fov.End, s.Location)
		}
		if okStart && okEnd && !ov.End.After(ov.Start) {
			l.errf(op+".end", "must be after start (%s)", fov.Start)
		}
		s.Overrides = append(s.Overrides, ov)
	}
	return s
}

// wallLayouts are the local forms a schedule time may take, read as wall
// time in the schedule's zone.
var wallLayouts = []string{"2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05", "2006-01-02"}

// wallTime parses a schedule time: RFC 3339 (an instant), or a local wall
// time in loc. A wall time the clocks skip (spring forward) is refused; one
// they repeat (fall back) is its first occurrence.
func (l *loader) wallTime(path, s string, loc *time.Location) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	for _, layout := range wallLayouts {
		c, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		t, ok := fromWall(c, loc)
		if !ok {
			l.errf(path, "%s does not exist in %s (the clocks skip it)", truncate(strconv.Quote(s)), loc)
		}
		return t, ok
	}
	l.errf(path, "invalid time %s (use 2026-01-05T09:00 in the schedule's time zone, or RFC 3339)", truncate(strconv.Quote(s)))
	return time.Time{}, false
}

// fromWall returns the first instant whose wall clock in loc is c (a civil
// time in UTC); false if the clocks skip c. time.Date does not say which
// of two instants it picks for a repeated wall time; this does.
func fromWall(c time.Time, loc *time.Location) (time.Time, bool) {
	var best time.Time
	found := false
	for _, probe := range []time.Time{c.Add(-48 * time.Hour), c, c.Add(48 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		t := c.Add(-time.Duration(off) * time.Second)
		if !sameWall(t.In(loc), c) {
			continue
		}
		if !found || t.Before(best) {
			best, found = t.In(loc), true
		}
	}
	return best, found
}

func sameWall(t, c time.Time) bool {
	y, mo, d := t.Date()
	h, mi, sec := t.Clock()
	return y == c.Year() && mo == c.Month() && d == c.Day() && h == c.Hour() && mi == c.Minute() && sec == c.Second()
}

var (
	clockRE = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)
	weekday = map[string]int{
		"mon": 0, "monday": 0, "tue": 1, "tuesday": 1, "wed": 2, "wednesday": 2, "thu": 3, "thursday": 3,
		"fri": 4, "friday": 4, "sat": 5, "saturday": 5, "sun": 6, "sunday": 6,
	}
)

// restriction parses a daily ("09:00") or weekly ("fri 18:00") window.
func (l *loader) restriction(fr fileRestriction, path string) (incidents.Restriction, bool) {
	r := incidents.Restriction{Kind: incidents.RestrictionKind(fr.Kind), Length: fr.Length}
	period, example := 24*time.Hour, "09:00"
	switch r.Kind {
	case "":
		r.Kind = incidents.Daily
	case incidents.Daily:
	case incidents.Weekly:
		period, example = 7*24*time.Hour, "fri 18:00"
	default:
		l.errf(path+".kind", "invalid kind %s (use daily or weekly)", truncate(strconv.Quote(fr.Kind)))
		return r, false
	}
	ok := true
	start, days := fr.Start, 0
	if r.Kind == incidents.Weekly {
		day, rest, _ := strings.Cut(strings.TrimSpace(start), " ")
		d, found := weekday[strings.ToLower(day)]
		if !found {
			start = "" // reported below
		} else {
			start, days = strings.TrimSpace(rest), d
		}
	}
	if m := clockRE.FindStringSubmatch(start); m == nil {
		l.errf(path+".start", "invalid start %s (use %s)", truncate(strconv.Quote(fr.Start)), example)
		ok = false
	} else {
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		r.Start = time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute
	}
	switch {
	case r.Length <= 0:
		l.errf(path+".length", "must be positive, got %s", fmtDur(r.Length))
		ok = false
	case r.Length > period:
		l.errf(path+".length", "must be at most %s for a %s restriction, got %s", fmtDur(period), r.Kind, fmtDur(r.Length))
		ok = false
	}
	return r, ok
}

// Escalation policies.

func (l *loader) escalationPolicy(ep EscalationPolicy, path string, users, schedules, notifiers *known) {
	if ep.Repeats < 0 {
		l.errf(path+".repeats", "must not be negative, got %d", ep.Repeats)
	}
	if len(ep.Levels) == 0 {
		l.errf(path+".levels", "at least one level is required")
	}
	for i, lv := range ep.Levels {
		lp := joinIndex(path+".levels", i)
		switch {
		case lv.Wait < 0:
			l.errf(lp+".wait", "must not be negative, got %s", fmtDur(lv.Wait))
		case lv.Wait == 0 && (i < len(ep.Levels)-1 || ep.Repeats > 0):
			l.errf(lp+".wait", "must be positive when another level follows or the policy repeats")
		}
		if len(lv.Targets) == 0 {
			l.errf(lp+".targets", "at least one target is required")
		}
		for j, t := range lv.Targets {
			tp := joinIndex(lp+".targets", j)
			type field struct {
				key, id string
				k       *known
			}
			var set []field
			for _, f := range []field{{"schedule", t.Schedule, schedules}, {"user", t.User, users}, {"notifier", t.Notifier, notifiers}} {
				if f.id != "" {
					set = append(set, f)
				}
			}
			switch len(set) {
			case 0:
				l.errf(tp, "exactly one of schedule, user or notifier is required")
			case 1:
				l.ref(set[0].k, tp+"."+set[0].key, set[0].id)
			default:
				var keys []string
				for _, f := range set {
					keys = append(keys, f.key)
				}
				l.errf(tp, "exactly one of schedule, user or notifier is allowed, got %s", strings.Join(keys, " and "))
			}
		}
	}
}

// Notifiers.

var (
	labelRE      = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	// reservedLabels are set on every alert by notify/alertmanager.
	reservedLabels = []string{"alertname", "incident_id", "organization", "component", "severity"}
	// reservedHeaders are set by notify/webhook (with webhook-*).
	reservedHeaders = []string{"content-type", "content-length", "content-encoding", "host", "transfer-encoding",
		"connection", "keep-alive", "te", "trailer", "upgrade", "proxy-authorization", "proxy-connection"}
)

const labelRule = "use letters, digits and _, not starting with a digit"

func (l *loader) notifier(n *Notifier, path string, eg *probes.Egress) {
	var kinds []*yaml.Node
	if raw, _ := locate(l.raw, path); raw != nil && raw.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(raw.Content); i += 2 {
			k := raw.Content[i]
			if slices.Contains(notifierKinds, k.Value) && !slices.ContainsFunc(kinds, func(o *yaml.Node) bool { return o.Value == k.Value }) {
				kinds = append(kinds, k)
			}
		}
	}
	switch len(kinds) {
	case 0:
		l.errf(path, "exactly one notifier kind is required (one of %s)", strings.Join(notifierKinds, ", "))
		return
	case 1:
	default:
		var names []string
		for _, k := range kinds {
			names = append(names, k.Value)
		}
		l.probs.at(kinds[1], path, "exactly one notifier kind is required, got %s", strings.Join(names, " and "))
		return
	}
	kp := path + "." + kinds[0].Value
	switch kinds[0].Value {
	case "slack":
		if n.Slack == nil { // "slack:" with nothing after it
			n.Slack = &SlackNotifier{}
		}
		l.slack(n.Slack, kp)
	case "alertmanager":
		if n.Alertmanager == nil {
			n.Alertmanager = &AlertmanagerNotifier{}
		}
		l.alertmanager(n.Alertmanager, kp)
	case "webhook":
		if n.Webhook == nil {
			n.Webhook = &WebhookNotifier{}
		}
		l.webhook(n.Webhook, kp, eg)
	}
}

func (l *loader) slack(s *SlackNotifier, path string) {
	l.secret(path+".token", s.Token, true)
	if s.Channel == "" {
		l.errf(path+".channel", "is required (a channel id such as C0123ABCD, or a name such as #ops)")
	} else {
		l.checkText(path+".channel", s.Channel)
	}
	l.secret(path+".signing_secret", s.SigningSecret, false)
	if s.APIURL != "" {
		if msg := checkHTTPURL(s.APIURL); msg != "" {
			l.errf(path+".api_url", "%s", msg)
		}
	}
}

// alertmanager checks an Alertmanager notifier. Its URL is deliberately not
// checked against the egress policy: see AlertmanagerNotifier.
func (l *loader) alertmanager(a *AlertmanagerNotifier, path string) {
	switch {
	case a.URL == "":
		l.errf(path+".url", "is required (such as http://alertmanager:9093)")
	case checkHTTPURL(a.URL) != "":
		l.errf(path+".url", "%s", checkHTTPURL(a.URL))
	default:
		u, _ := url.Parse(a.URL)
		if _, hasPassword := u.User.Password(); hasPassword {
			if raw, _ := locate(l.raw, path+".url"); raw == nil || len(refs(raw)) == 0 {
				l.errf(path+".url", "write the password as a ${VARIABLE} reference, not in the file")
			}
		}
	}
	for _, d := range []struct {
		key string
		v   *time.Duration
		def time.Duration
	}{{"timeout", &a.Timeout, DefaultNotifierTimeout}, {"resend_every", &a.ResendEvery, DefaultResendEvery}, {"alert_ttl", &a.AlertTTL, DefaultAlertTTL}} {
		switch {
		case *d.v < 0:
			l.errf(path+"."+d.key, "must not be negative, got %s", fmtDur(*d.v))
		case *d.v == 0:
			*d.v = d.def
		}
	}
	if a.ResendEvery > 0 && a.ResendEvery >= a.AlertTTL {
		l.errf(path+".resend_every", "must be shorter than alert_ttl (%s), got %s", fmtDur(a.AlertTTL), fmtDur(a.ResendEvery))
	}
	for _, name := range sortedKeys(a.Labels) {
		lp := joinKey(path+".labels", name)
		switch {
		case !labelRE.MatchString(name):
			l.errf(lp, "invalid label name %s (%s)", truncate(strconv.Quote(name)), labelRule)
		case slices.Contains(reservedLabels, name):
			l.errf(lp, "label %q is set by Lookout and cannot be configured", name)
		default:
			l.checkText(lp, a.Labels[name])
		}
	}
}

func (l *loader) webhook(w *WebhookNotifier, path string, eg *probes.Egress) {
	if w.URL == "" {
		l.errf(path+".url", "is required")
	} else if err := eg.CheckURL(w.URL); err != nil {
		l.errf(path+".url", "%v", err)
	}
	if l.secret(path+".secret", w.Secret, true) && !validWebhookSecret(w.Secret.Reveal()) {
		l.errf(path+".secret", `must be "whsec_" followed by at least 24 random bytes in standard base64`)
	}
	for _, name := range sortedKeys(w.Headers) {
		hp := joinKey(path+".headers", name)
		lower := strings.ToLower(name)
		switch {
		case !headerNameRE.MatchString(name):
			l.errf(hp, "invalid header name %s", truncate(strconv.Quote(name)))
		case slices.Contains(reservedHeaders, lower) || strings.HasPrefix(lower, "webhook-"):
			l.errf(hp, "header %s is set by Lookout and cannot be configured", name)
		case strings.ContainsFunc(w.Headers[name].Reveal(), func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }):
			l.errf(hp, "must not contain control characters")
		}
	}
	switch {
	case w.Timeout < 0:
		l.errf(path+".timeout", "must not be negative, got %s", fmtDur(w.Timeout))
	case w.Timeout == 0:
		w.Timeout = DefaultNotifierTimeout
	}
}

// validWebhookSecret reports whether s is a Standard Webhooks secret:
// "whsec_" and at least 24 bytes in standard base64 (as notify/webhook
// requires; the prefix is mandatory here).
func validWebhookSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return false
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	return err == nil && len(key) >= 24
}

// Secrets and tokens.

// secret checks a secret field: present if required, and written as a
// ${VARIABLE} reference, since secrets are referenced, never stored in the
// file. It reports whether the value is there to check further. Messages
// never quote the value.
func (l *loader) secret(path string, s Secret, required bool) bool {
	if l.probs.has(path) {
		return false // the reference did not expand, or the value did not decode
	}
	if s == "" {
		if required {
			l.errf(path, "is required (a ${VARIABLE} reference)")
		}
		return false
	}
	if raw, _ := locate(l.raw, path); raw == nil || len(refs(raw)) == 0 {
		l.errf(path, "write the secret as a ${VARIABLE} reference, not in the file")
		return false
	}
	return true
}

// token checks an API or ingest token: a secret of MinTokenLength printable
// ASCII characters or more, used once in the whole file (a token must name
// one organization and one user).
func (l *loader) token(path string, s Secret) {
	if !l.secret(path, s, true) {
		return
	}
	v := s.Reveal()
	switch {
	case len(v) < MinTokenLength:
		l.errf(path, "must be at least %d characters", MinTokenLength)
	case strings.ContainsFunc(v, func(r rune) bool { return r <= ' ' || r >= 0x7f }):
		l.errf(path, "must be printable ASCII without spaces")
	case l.tokens[v] != "":
		first := l.tokens[v]
		l.errf(path, "the same token is already used by %s (line %d); every token must be unique", first, l.line(first))
	default:
		l.tokens[v] = path
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
