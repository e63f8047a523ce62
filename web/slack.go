package web

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/notify/slack"
	"github.com/lookout-status/lookout/store"
)

// SlackDeps configures the Slack app's request URLs (Interactivity and
// Slash Commands). Without a SigningSecret they are not routed.
type SlackDeps struct {
	SigningSecret string
	Directory     SlackDirectory
	// HTTPClient posts button replies to the response_url Slack sends
	// (nil: notify/slack's default).
	HTTPClient *http.Client
}

// SlackDirectory maps a Slack user to the Lookout users it is linked to
// (configured users' slack_id): at most one per organization, in
// configuration order. One Slack workspace serves the deployment and one
// person may belong to several organizations, so a Slack user is resolved
// within the organization of what they act on, never "the first match".
type SlackDirectory interface {
	SlackUsers(ctx context.Context, teamID, slackUserID string) []Principal
}

// OnCall says who is on call for an organization's team at a time. An
// unknown team yields an error matching fs.ErrNotExist (errors.Is); team ""
// asks for the organization's default.
type OnCall interface {
	OnCall(ctx context.Context, org, team string, at time.Time) ([]string, error)
}

// slackHandler is notify/slack's verified handler, wired to the incidents.
func (s *server) slackHandler() http.Handler {
	return slack.NewHandler(slack.HandlerConfig{
		SigningSecret: s.slack.SigningSecret,
		Clock:         s.clock,
		Actions:       s.slackAction,
		Commands:      s.slackCommand,
		Logger:        s.logger,
		HTTPClient:    s.slack.HTTPClient,
	})
}

// slackLinks returns the Lookout users a Slack user is linked to, one per
// organization.
func (s *server) slackLinks(ctx context.Context, teamID, userID string) []Principal {
	if s.slack.Directory == nil {
		return nil
	}
	var out []Principal
	for _, p := range s.slack.Directory.SlackUsers(ctx, teamID, userID) {
		if p.Org != "" && p.User != "" {
			p.Via = "slack"
			out = append(out, p)
		}
	}
	return out
}

// slackPrincipalFor maps a Slack user acting on an incident to the user
// they are in the incident's organization (its id names it). When they are
// not linked there, reply says so; linked nowhere, err is
// slack.ErrUnknownUser.
func (s *server) slackPrincipalFor(ctx context.Context, teamID, userID, incident string) (Principal, string, error) {
	links := s.slackLinks(ctx, teamID, userID)
	if len(links) == 0 {
		return Principal{}, "", slack.ErrUnknownUser
	}
	org, ok := incidents.IncidentOrg(incident)
	if !ok {
		return Principal{}, fmt.Sprintf("No incident %s.", slackEscape(incident)), nil
	}
	for _, p := range links {
		if p.Org == org {
			return p, "", nil
		}
	}
	return Principal{}, fmt.Sprintf("Your Slack account is not linked to a Lookout user of %s.", slackEscape(org)), nil
}

// slackEventID names a Slack button press or command for the incident
// timeline: who, from which workspace, what, when Lookout received it.
// (slack.Action carries no trigger_id or action_ts.) The slack handler
// drops replays of the same callback before they get here, and
// acknowledging or resolving is idempotent in the engine for any that slip
// through (another replica, a restart), so a per-receipt id is enough; the
// kind keeps an acknowledgement and a resolution in the same millisecond
// apart.
func slackEventID(teamID, userID, kind string, at time.Time) string {
	return "slack:" + teamID + ":" + userID + ":" + kind + ":" + strconv.FormatInt(at.UnixMilli(), 10)
}

func (s *server) slackAction(ctx context.Context, a slack.Action) (string, error) {
	p, reply, err := s.slackPrincipalFor(ctx, a.TeamID, a.SlackUserID, a.IncidentID)
	if err != nil || reply != "" {
		return reply, err
	}
	return s.slackApply(ctx, p, a.Kind, a.IncidentID, slackEventID(a.TeamID, a.SlackUserID, a.Kind, a.At))
}

func (s *server) slackCommand(ctx context.Context, c slack.Command) (string, error) {
	switch c.Name {
	case "ack", "resolve":
		kind := map[string]string{"ack": slack.KindAcknowledge, "resolve": slack.KindResolve}[c.Name]
		p, reply, err := s.slackPrincipalFor(ctx, c.TeamID, c.SlackUserID, c.Args[0])
		if err != nil || reply != "" {
			return reply, err
		}
		return s.slackApply(ctx, p, kind, c.Args[0], slackEventID(c.TeamID, c.SlackUserID, kind, c.At))
	case "oncall":
		return s.slackOnCall(ctx, c)
	}
	return "Unknown command; try `help`.", nil
}

// slackApply acknowledges or resolves an incident for p and says what
// happened, in mrkdwn for p alone.
func (s *server) slackApply(ctx context.Context, p Principal, kind, id, eventID string) (string, error) {
	if s.actions == nil || s.incidentStore == nil {
		return "Lookout cannot act on incidents from Slack here.", nil
	}
	verb := map[string]string{slack.KindAcknowledge: "acknowledge", slack.KindResolve: "resolve"}[kind]
	if verb == "" {
		return "", fmt.Errorf("unknown slack action %q", kind)
	}
	if !p.may(roleResponder) {
		s.logger.WarnContext(ctx, "slack action refused: role too low",
			"org", p.Org, "user", p.User, "role", p.Role, "action", verb, "incident", id)
		return fmt.Sprintf("Your Lookout role (%s) may not %s incidents.", slackEscape(quoteRole(p.Role)), verb), nil
	}
	if _, err := s.incidentStore.Incident(ctx, p.Org, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Sprintf("No incident %s.", slackEscape(id)), nil
		}
		return "", fmt.Errorf("read incident: %w", err)
	}
	var ev incidents.Event = incidents.Acknowledge{ID: eventID, Incident: id, Actor: p.User}
	if kind == slack.KindResolve {
		ev = incidents.Resolve{ID: eventID, Incident: id, Actor: p.User}
	}
	effs, err := s.actions.Do(ctx, p.Org, ev)
	if err != nil {
		return "", fmt.Errorf("%s incident: %w", verb, err)
	}
	changed := applied(effs, id, eventID)
	s.logger.InfoContext(ctx, "incident action", "org", p.Org, "user", p.User, "action", verb,
		"incident", id, "changed", changed, "via", "slack")
	if changed {
		done := map[string]string{slack.KindAcknowledge: "Acknowledged", slack.KindResolve: "Resolved"}[kind]
		return fmt.Sprintf("%s by %s (%s).", done, slackEscape(p.User), slackEscape(id)), nil
	}
	rec, err := s.incidentStore.Incident(ctx, p.Org, id)
	if err != nil {
		return "", fmt.Errorf("read incident: %w", err)
	}
	switch rec.Lifecycle {
	case incidents.Resolved:
		return fmt.Sprintf("%s is already resolved.", slackEscape(id)), nil
	case incidents.Acknowledged:
		if kind == slack.KindAcknowledge {
			return fmt.Sprintf("%s was already acknowledged by %s.", slackEscape(id), slackEscape(rec.AckedBy)), nil
		}
	}
	return fmt.Sprintf("Nothing changed: %s is %s.", slackEscape(id), rec.Lifecycle), nil
}

// slackOnCall answers `/lookout oncall [ORGANIZATION] [TEAM]`: a member
// linked in one organization may leave it out; one linked in several must
// name it.
func (s *server) slackOnCall(ctx context.Context, c slack.Command) (string, error) {
	links := s.slackLinks(ctx, c.TeamID, c.SlackUserID)
	if len(links) == 0 {
		return "", slack.ErrUnknownUser
	}
	if s.oncall == nil {
		return "On-call schedules are not available here.", nil
	}
	args := c.Args
	p := links[0]
	named := false
	// With one link, "oncall acme" may still name a team acme; "oncall
	// acme ops" names both.
	if len(args) > 0 && (len(links) > 1 || len(args) > 1) {
		for _, l := range links {
			if l.Org == args[0] {
				p, named, args = l, true, args[1:]
				break
			}
		}
	}
	if len(links) > 1 && !named {
		orgs := make([]string, len(links))
		for i, l := range links {
			orgs[i] = slackEscape(l.Org)
		}
		return fmt.Sprintf("You are linked to Lookout users in several organizations (%s): say which, as in `/lookout oncall ORGANIZATION [TEAM]`.",
			strings.Join(orgs, ", ")), nil
	}
	team := ""
	if len(args) > 0 {
		team = args[0]
	}
	users, err := s.oncall.OnCall(ctx, p.Org, team, c.At)
	if errors.Is(err, fs.ErrNotExist) {
		if team == "" {
			return fmt.Sprintf("No on-call schedule in %s.", slackEscape(p.Org)), nil
		}
		return fmt.Sprintf("No on-call schedule %s.", slackEscape(team)), nil
	}
	if err != nil {
		return "", fmt.Errorf("on call for %q: %w", team, err)
	}
	who := "now"
	if team != "" {
		who = "for " + slackEscape(team) + " now"
	}
	if len(users) == 0 {
		return "Nobody is on call " + who + ".", nil
	}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = slackEscape(u)
	}
	return "On call " + who + ": " + strings.Join(names, ", "), nil
}

// slackEscape escapes text for mrkdwn: &, < and > are control characters
// (a stray <!channel> or <https://…|…> would otherwise be interpreted).
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
