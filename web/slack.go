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

// SlackDirectory maps a Slack user of a workspace to the Lookout user it is
// linked to (a configured user's slack_id); ok is false for anyone else.
type SlackDirectory interface {
	SlackUser(teamID, slackUserID string) (Principal, bool)
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

// slackPrincipal maps a Slack user to a Lookout user, or slack.ErrUnknownUser.
func (s *server) slackPrincipal(teamID, userID string) (Principal, error) {
	if s.slack.Directory != nil {
		if p, ok := s.slack.Directory.SlackUser(teamID, userID); ok && p.Org != "" && p.User != "" {
			return p, nil
		}
	}
	return Principal{}, slack.ErrUnknownUser
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
	p, err := s.slackPrincipal(a.TeamID, a.SlackUserID)
	if err != nil {
		return "", err
	}
	return s.slackApply(ctx, p, a.Kind, a.IncidentID, slackEventID(a.TeamID, a.SlackUserID, a.Kind, a.At))
}

func (s *server) slackCommand(ctx context.Context, c slack.Command) (string, error) {
	p, err := s.slackPrincipal(c.TeamID, c.SlackUserID)
	if err != nil {
		return "", err
	}
	switch c.Name {
	case "ack":
		return s.slackApply(ctx, p, slack.KindAcknowledge, c.Args[0], slackEventID(c.TeamID, c.SlackUserID, slack.KindAcknowledge, c.At))
	case "resolve":
		return s.slackApply(ctx, p, slack.KindResolve, c.Args[0], slackEventID(c.TeamID, c.SlackUserID, slack.KindResolve, c.At))
	case "oncall":
		return s.slackOnCall(ctx, p, c)
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
	changed := touches(effs, id)
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

func (s *server) slackOnCall(ctx context.Context, p Principal, c slack.Command) (string, error) {
	if s.oncall == nil {
		return "On-call schedules are not available here.", nil
	}
	team := ""
	if len(c.Args) > 0 {
		team = c.Args[0]
	}
	users, err := s.oncall.OnCall(ctx, p.Org, team, c.At)
	if errors.Is(err, fs.ErrNotExist) {
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
