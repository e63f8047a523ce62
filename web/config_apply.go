package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// POST /api/v1/config (admin): `lookout apply` sends an organization's
// configuration as YAML; the server validates it with the same strict
// loader as --config, answers the plan and, unless ?dry_run=true, keeps it
// and applies it live. See docs/configuration.md ("Applying through the
// API") for what the file may hold and how it composes with --config.

// configPath is where `lookout apply` posts.
const configPath = "/api/v1/config"

// maxConfigBody caps an applied configuration (one organization's).
const maxConfigBody = 1 << 20

// ConfigApplier validates and applies one organization's configuration.
type ConfigApplier interface {
	// ApplyConfig checks body as org's configuration and returns what
	// applying it changes; unless dryRun it then keeps it and applies it
	// live. A refused file is a *ConfigError.
	ApplyConfig(ctx context.Context, org string, body []byte, dryRun bool) (ConfigPlan, error)
}

// ConfigPlan is what applying a configuration changes.
type ConfigPlan struct {
	Changes []ConfigChange `json:"changes"`
	// Applied is true once the configuration is kept and running.
	Applied bool `json:"applied"`
}

// ConfigChange is one thing applying creates, updates or deletes.
type ConfigChange struct {
	Op     string   `json:"op"`   // "create", "update" or "delete"
	Kind   string   `json:"kind"` // "component", "probe", "notifier", ...
	ID     string   `json:"id"`   // "org/id"
	Fields []string `json:"fields,omitempty"`
}

// ConfigProblem is one problem of a refused configuration, at a line of
// the file sent.
type ConfigProblem struct {
	Line    int    `json:"line"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

// ConfigError refuses a configuration: Forbidden when it names another
// organization or sets what only the server's operator may (403),
// otherwise invalid (400).
type ConfigError struct {
	Forbidden bool
	Problems  []ConfigProblem
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.field() + ": " + p.Message)
	}
	return b.String()
}

// field names where a problem is: "line 12: organizations[0].probes[1].http.url".
func (p ConfigProblem) field() string {
	f := "line " + strconv.Itoa(p.Line)
	if p.Path != "" {
		f += ": " + p.Path
	}
	return f
}

// yamlTypes are the media types a configuration may be sent as. A form
// cannot be one, whatever the cross-origin check says.
var yamlTypes = map[string]bool{
	"application/yaml": true, "application/x-yaml": true, "text/yaml": true, "text/x-yaml": true,
}

func (s *server) handleApplyConfig(w http.ResponseWriter, r *http.Request, p Principal) {
	var dryRun bool
	switch v := r.URL.Query().Get("dry_run"); v {
	case "", "false":
	case "true":
		dryRun = true
	default:
		s.failAPI(w, r, badField("dry_run", "want true or false"))
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); !yamlTypes[ct] {
		s.failAPI(w, r, &apiError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
			message: "send the configuration as application/yaml"})
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.failAPI(w, r, fmt.Errorf("read body: %w", err))
		return
	}
	plan, err := s.config.ApplyConfig(r.Context(), p.Org, body, dryRun)
	var ce *ConfigError
	if errors.As(err, &ce) && len(ce.Problems) > 0 {
		noteAudit(r, p.Org, fmt.Sprintf("configuration refused (%d problems)", len(ce.Problems)))
		s.failConfig(w, ce)
		return
	}
	if err != nil {
		s.failAPI(w, r, err)
		return
	}
	if plan.Changes == nil {
		plan.Changes = []ConfigChange{}
	}
	verb := "planned"
	if plan.Applied {
		verb = "applied"
	}
	noteAudit(r, p.Org, fmt.Sprintf("configuration %s: %s", verb, summarizeChanges(plan.Changes)))
	s.logger.InfoContext(r.Context(), "configuration "+verb, "org", p.Org, "user", p.User, "changes", len(plan.Changes))
	respondJSON(w, http.StatusOK, struct {
		DryRun bool `json:"dry_run"`
		ConfigPlan
	}{dryRun, plan})
}

// failConfig answers a refused configuration: the API's error shape naming
// the first problem (field "line N: path"), and every problem.
func (s *server) failConfig(w http.ResponseWriter, ce *ConfigError) {
	status, code := http.StatusBadRequest, "invalid_config"
	if ce.Forbidden {
		status, code = http.StatusForbidden, "forbidden"
	}
	first := ce.Problems[0]
	msg := first.Message
	if n := len(ce.Problems); n > 1 {
		msg += fmt.Sprintf(" (and %d more problems)", n-1)
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	type problem struct {
		ConfigProblem
		Field string `json:"field"`
	}
	ps := make([]problem, len(ce.Problems))
	for i, p := range ce.Problems {
		ps[i] = problem{p, p.field()}
	}
	respondJSON(w, status, struct {
		Error    body      `json:"error"`
		Problems []problem `json:"problems"`
	}{body{code, msg, first.field()}, ps})
}

// summarizeChanges counts changes as the plan's last line does.
func summarizeChanges(cs []ConfigChange) string {
	n := map[string]int{}
	for _, c := range cs {
		n[c.Op]++
	}
	return fmt.Sprintf("%d to create, %d to update, %d to delete", n["create"], n["update"], n["delete"])
}
