package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/store"
)

// tokenEnv names the environment variable holding the API token. It is
// never a flag: flags show in `ps` and in shell history.
const tokenEnv = "LOOKOUT_TOKEN"

// serverEnv, if set, is the default of --server.
const serverEnv = "LOOKOUT_SERVER"

// maxAPIResponse bounds what the CLI reads of an API answer.
const maxAPIResponse = 4 << 20

// apiTimeout bounds one API call from the CLI.
const apiTimeout = 30 * time.Second

const incidentUsage = `Usage:
  lookout incident ack ID      --server URL
  lookout incident resolve ID  --server URL [--body TEXT]
  lookout incident snooze ID   --server URL [--for 30m]
  lookout incident note ID     --server URL --body TEXT
  lookout incident list        --server URL [--status open|resolved|all]

The API token is read from the environment variable LOOKOUT_TOKEN (never a
flag); --server defaults to LOOKOUT_SERVER.
`

// incidentActions maps a CLI verb to the API's action path and verb.
var incidentActions = map[string]struct{ path, verb string }{
	"ack":     {"acknowledge", "acknowledge"},
	"resolve": {"resolve", "resolve"},
	"snooze":  {"snooze", "snooze"},
	"note":    {"notes", "add a note to"},
}

// cmdIncident runs `lookout incident VERB ...` against a Lookout server's
// incident actions API.
func cmdIncident(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, incidentUsage)
		return errUsage
	}
	verb, rest := args[0], args[1:]
	fs := newFlags("incident "+verb, stderr)
	server := fs.String("server", getenv(serverEnv), "Lookout's base URL, e.g. https://lookout.example.net (default $"+serverEnv+")")
	var (
		status  *string
		body    *string
		snoozed *time.Duration
	)
	switch verb {
	case "list":
		status = fs.String("status", "open", "which incidents: open, resolved or all")
	case "ack":
	case "resolve":
		body = fs.String("body", "", "resolution note (optional)")
	case "note":
		body = fs.String("body", "", "the note (required)")
	case "snooze":
		snoozed = fs.Duration("for", 30*time.Minute, "how long to silence paging, from 1m to 168h")
	default:
		fmt.Fprintf(stderr, "lookout incident: unknown action %q\n\n%s", verb, incidentUsage)
		return errUsage
	}
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	want := 1
	if verb == "list" {
		want = 0
	}
	if len(pos) != want {
		if want == 0 {
			fmt.Fprintf(stderr, "lookout incident list: unexpected argument %q\n", pos[0])
		} else {
			fmt.Fprintf(stderr, "lookout incident %s: want exactly one incident ID, got %d argument(s)\n", verb, len(pos))
		}
		return errUsage
	}
	c, err := newAPIClient(*server, getenv(tokenEnv))
	if err != nil {
		fmt.Fprintf(stderr, "lookout incident %s: %v\n", verb, err)
		return errUsage
	}
	if verb == "list" {
		return c.list(ctx, *status, stdout)
	}
	id := pos[0]
	req := map[string]string{}
	switch {
	case verb == "note" && strings.TrimSpace(*body) == "":
		fmt.Fprintln(stderr, "lookout incident note: --body is required")
		return errUsage
	case body != nil && *body != "":
		req["body"] = *body
	case snoozed != nil:
		req["for"] = snoozed.String()
	}
	a := incidentActions[verb]
	var resp struct {
		Incident apiIncidentView `json:"incident"`
		Changed  bool            `json:"changed"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/incidents/"+url.PathEscape(id)+"/"+a.path, id, req, &resp); err != nil {
		return fmt.Errorf("%s %s: %w", a.verb, id, err)
	}
	line := describeIncident(resp.Incident)
	if !resp.Changed {
		line += " (no change)"
	}
	fmt.Fprintln(stdout, line)
	return nil
}

// parseInterspersed parses flags that may come after positional
// arguments (`lookout incident ack acme-1 --server URL`) and returns the
// positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parseFlags(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// apiIncidentView is what the CLI reads of the API's incident.
type apiIncidentView struct {
	ID             string     `json:"id"`
	Title          string     `json:"title"`
	Status         string     `json:"status"`
	PublicStatus   string     `json:"public_status"`
	Impact         string     `json:"impact"`
	Components     []string   `json:"components"`
	StartedAt      time.Time  `json:"started_at"`
	AcknowledgedBy string     `json:"acknowledged_by"`
	SnoozedUntil   *time.Time `json:"snoozed_until"`
	ResolvedAt     *time.Time `json:"resolved_at"`
}

// describeIncident is one line saying where an incident stands, e.g.
// `acme-3 acknowledged by dana: API down (major)`.
func describeIncident(inc apiIncidentView) string {
	var b strings.Builder
	b.WriteString(inc.ID + " " + inc.Status)
	if inc.Status == "acknowledged" && inc.AcknowledgedBy != "" {
		b.WriteString(" by " + inc.AcknowledgedBy)
	}
	if inc.SnoozedUntil != nil {
		b.WriteString(", snoozed until " + inc.SnoozedUntil.UTC().Format("2006-01-02 15:04 UTC"))
	}
	if inc.Title != "" {
		b.WriteString(": " + inc.Title)
	}
	if inc.Impact != "" && inc.Impact != "none" {
		b.WriteString(" (" + inc.Impact + ")")
	}
	return b.String()
}

// apiClient calls a Lookout server's incident API with a bearer token.
type apiClient struct {
	base  string
	token string
	http  *http.Client
}

func newAPIClient(server, token string) (*apiClient, error) {
	if server == "" {
		return nil, fmt.Errorf("--server is required (or set %s)", serverEnv)
	}
	u, err := url.Parse(server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("--server %q: want an http or https URL such as https://lookout.example.net", server)
	}
	if token == "" {
		return nil, fmt.Errorf("no API token: set %s (tokens are never passed as flags)", tokenEnv)
	}
	return &apiClient{
		base:  strings.TrimRight(server, "/"),
		token: token,
		http:  &http.Client{Timeout: apiTimeout},
	}, nil
}

// do calls the API and decodes a 2xx answer into out. incident names the
// incident a 404 is about ("" for none).
func (c *apiClient) do(ctx context.Context, method, path, incident string, in, out any) error {
	var body io.Reader
	contentType := ""
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	status, raw, err := c.send(ctx, method, path, contentType, body)
	if err != nil {
		return err
	}
	if status/100 != 2 {
		return apiFailure(status, raw, c.base, incident)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("decode answer from %s: %w", c.base, err)
	}
	return nil
}

// send makes one authenticated request (body of contentType, none when
// nil) and returns the answer's status and body, read up to
// maxAPIResponse.
func (c *apiClient) send(ctx context.Context, method, path, contentType string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return 0, nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err // names the method and URL, never the token
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponse))
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, raw, nil
}

// errTokenRefused: the server did not accept LOOKOUT_TOKEN.
var errTokenRefused = errors.New("token refused")

// errNoIncident: the organization has no such incident.
var errNoIncident = errors.New("no incident")

// apiFailure turns an API refusal into an error a person can act on.
func apiFailure(status int, raw []byte, server, incident string) error {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	msg := ""
	if json.Unmarshal(raw, &e) == nil {
		msg = e.Error.Message
	}
	switch {
	case status == http.StatusUnauthorized:
		return fmt.Errorf("%w by %s: check %s (revoked, expired or mistyped?)", errTokenRefused, server, tokenEnv)
	case status == http.StatusForbidden:
		if msg == "" {
			msg = "forbidden"
		}
		return fmt.Errorf("not allowed: %s", msg)
	case status == http.StatusNotFound && incident != "":
		return fmt.Errorf("%w %s", errNoIncident, incident)
	case status == http.StatusNotFound:
		return fmt.Errorf("%s has no incident API (404): is --server a Lookout server?", server)
	case msg != "":
		return fmt.Errorf("server answered %d: %s", status, msg)
	}
	return fmt.Errorf("server answered %d", status)
}

// list prints the incidents with status ("open", "resolved", "all"), newest
// first, following the API's pages.
func (c *apiClient) list(ctx context.Context, status string, stdout io.Writer) error {
	switch status {
	case "open", "resolved", "all":
	default:
		return fmt.Errorf("--status %q: want open, resolved or all", status)
	}
	var all []apiIncidentView
	cursor := ""
	for {
		q := url.Values{"status": {status}, "limit": {"200"}}
		if cursor != "" {
			q.Set("before", cursor)
		}
		var page struct {
			Incidents  []apiIncidentView `json:"incidents"`
			NextCursor *string           `json:"next_cursor"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/v1/incidents?"+q.Encode(), "", nil, &page); err != nil {
			return fmt.Errorf("list incidents: %w", err)
		}
		all = append(all, page.Incidents...)
		if page.NextCursor == nil || *page.NextCursor == "" || *page.NextCursor == cursor {
			break
		}
		cursor = *page.NextCursor
	}
	if len(all) == 0 {
		fmt.Fprintf(stdout, "No %s incidents.\n", map[string]string{"open": "open", "resolved": "resolved", "all": ""}[status])
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tIMPACT\tSTARTED\tCOMPONENTS\tTITLE")
	for _, inc := range all {
		st := inc.Status
		if inc.Status == "acknowledged" && inc.AcknowledgedBy != "" {
			st += " by " + inc.AcknowledgedBy
		}
		if inc.SnoozedUntil != nil {
			st += ", snoozed"
		}
		comps := strings.Join(inc.Components, ",")
		if comps == "" {
			comps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", inc.ID, st, orDash(inc.Impact),
			inc.StartedAt.UTC().Format("2006-01-02 15:04 UTC"), comps, oneLine(inc.Title))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine keeps a server-supplied title from breaking the table or
// sending control sequences to the terminal.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// cmdOnCall prints who is on call in a team's schedules at a time, and
// who comes next, from the config file and, with --data, the overrides
// stored through the API and console.
func cmdOnCall(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("oncall", stderr)
	cfgPath := fs.String("config", "", "configuration file (YAML)")
	data := fs.String("data", "", "data directory of the server: also apply the on-call overrides stored through the API and console")
	team := fs.String("team", "", "team id (default: the organization's only team)")
	orgID := fs.String("org", "", "organization id (default: the only organization)")
	atFlag := fs.String("at", "", "when to ask about, RFC 3339 (default: now)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lookout oncall: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *cfgPath == "" {
		fmt.Fprintln(stderr, "lookout oncall: --config is required")
		return errUsage
	}
	at := time.Now()
	if *atFlag != "" {
		t, err := time.Parse(time.RFC3339, *atFlag)
		if err != nil {
			fmt.Fprintf(stderr, "lookout oncall: --at %q: want an RFC 3339 time such as 2026-03-01T09:00:00Z\n", *atFlag)
			return errUsage
		}
		at = t
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	org, err := pickOrg(cfg, *orgID)
	if err != nil {
		return err
	}
	var stored []store.OnCallOverride
	if *data != "" {
		if stored, err = storedOverrides(ctx, *data, org.ID, at); err != nil {
			return err
		}
	}
	return printOnCall(stdout, org, stored, *team, at)
}

// storedOverrides reads org's on-call overrides not over at at from the
// database of data dir (which must exist: an empty one made here would
// silently answer "none"). A running server may hold it: SQLite's WAL lets
// this read beside it.
func storedOverrides(ctx context.Context, data, org string, at time.Time) ([]store.OnCallOverride, error) {
	path := filepath.Join(data, "lookout.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--data %s: no database there (%w)", data, err)
	}
	db, err := store.Open(ctx, path, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return db.OnCallOverrides(ctx, org, at)
}

// printOnCall writes, for each schedule of the team, who is on call at at
// and who comes on next and when, in the schedule's time zone, with the
// stored overrides (the API's and console's) applied after the configured
// ones, as the engine applies them.
func printOnCall(w io.Writer, org *config.Organization, stored []store.OnCallOverride, teamID string, at time.Time) error {
	team, err := pickTeam(org, teamID)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, u := range org.Users {
		names[u.ID] = u.Name
	}
	who := func(id string) string {
		if n := names[id]; n != "" && n != id {
			return id + " (" + n + ")"
		}
		return id
	}
	schedules := store.WithOverrides(org.IncidentConfig().Schedules, stored)
	if len(team.Schedules) == 0 {
		fmt.Fprintf(w, "Team %s has no schedules.\n", team.ID)
		return nil
	}
	fmt.Fprintf(w, "Team %s (%s), at %s:\n", team.ID, org.ID, at.UTC().Format("2006-01-02 15:04 UTC"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SCHEDULE\tON CALL NOW\tNEXT\tFROM")
	applied := 0
	for _, ref := range team.Schedules {
		for _, o := range stored {
			if o.Schedule == ref.ID {
				applied++
			}
		}
		for _, s := range schedules {
			if s.ID != ref.ID {
				continue
			}
			now := "nobody"
			if users := s.OnCall(at); len(users) > 0 {
				ws := make([]string, len(users))
				for i, u := range users {
					ws[i] = who(u)
				}
				now = strings.Join(ws, ", ")
			}
			next, from := "-", "-"
			if u, t := s.Next(at); u != "" {
				loc := ref.Location
				if loc == nil {
					loc = time.UTC
				}
				next, from = who(u), t.In(loc).Format("Mon 2006-01-02 15:04 MST")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, now, next, from)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if applied > 0 {
		fmt.Fprintf(w, "With %d override(s) stored through the API or console.\n", applied)
	}
	return nil
}

func pickOrg(cfg *config.Config, id string) (*config.Organization, error) {
	if id == "" {
		if len(cfg.Organizations) == 1 {
			return &cfg.Organizations[0], nil
		}
		ids := make([]string, len(cfg.Organizations))
		for i, o := range cfg.Organizations {
			ids[i] = o.ID
		}
		return nil, fmt.Errorf("--org is required: the config has %d organizations (%s)", len(ids), strings.Join(ids, ", "))
	}
	for i := range cfg.Organizations {
		if cfg.Organizations[i].ID == id {
			return &cfg.Organizations[i], nil
		}
	}
	return nil, fmt.Errorf("no organization %q in %s", id, cfg.Path)
}

func pickTeam(org *config.Organization, id string) (*config.Team, error) {
	ids := make([]string, len(org.Teams))
	for i, t := range org.Teams {
		if t.ID == id || (id == "" && len(org.Teams) == 1) {
			return &org.Teams[i], nil
		}
		ids[i] = t.ID
	}
	switch {
	case len(ids) == 0:
		return nil, fmt.Errorf("organization %s has no teams", org.ID)
	case id == "":
		return nil, fmt.Errorf("--team is required: organization %s has teams %s", org.ID, strings.Join(ids, ", "))
	}
	return nil, fmt.Errorf("no team %q in organization %s (teams: %s)", id, org.ID, strings.Join(ids, ", "))
}
