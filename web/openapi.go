package web

import (
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The OpenAPI 3 document of /api/v1, served at GET /api/v1/openapi.json,
// built from apiOperations: one entry per route. TestOpenAPICoversRoutes
// fails when a /api/v1 route has no entry or an entry no route; adding a
// route means adding a few lines here.

const openAPIPath = "/api/v1/openapi.json"

// apiOp describes one operation. Path parameters are read from the path.
type apiOp struct {
	Method, Path string
	Summary      string
	// Role is the least role admitted; "" for a public operation and
	// ingest for the Alertmanager endpoint (its own token).
	Role  string
	Query []apiParam
	// Body is the request body's schema; BodyType its media type
	// (default application/json).
	Body     schema
	BodyType string
	// OK is the success status (default 200); Response its body's schema
	// (nil: no body).
	OK       int
	Response schema
	// Errors lists the error statuses besides those every operation of
	// its kind may answer (401, 403 for members; 400 with a body or query).
	Errors []int
}

type apiParam struct {
	Name, Description string
	Schema            schema
}

type schema = map[string]any

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }
func str(desc string) schema {
	s := schema{"type": "string"}
	if desc != "" {
		s["description"] = desc
	}
	return s
}
func enum(values ...string) schema { return schema{"type": "string", "enum": values} }
func dateTime() schema             { return schema{"type": "string", "format": "date-time"} }
func integer() schema              { return schema{"type": "integer"} }
func number() schema               { return schema{"type": "number"} }
func boolean() schema              { return schema{"type": "boolean"} }
func array(items schema) schema    { return schema{"type": "array", "items": items} }
func nullable(s schema) schema {
	out := schema{"nullable": true}
	for k, v := range s {
		out[k] = v
	}
	if _, isRef := s["$ref"]; isRef { // 3.0: a $ref takes no siblings
		return schema{"nullable": true, "allOf": []any{s}}
	}
	return out
}

// object is a closed object schema; every property is required unless its
// name ends in "?".
func object(props map[string]schema) schema {
	ps := schema{}
	var req []string
	for k, v := range props {
		name, optional := strings.CutSuffix(k, "?")
		ps[name] = v
		if !optional {
			req = append(req, name)
		}
	}
	sort.Strings(req)
	s := schema{"type": "object", "properties": ps, "additionalProperties": false}
	if len(req) > 0 {
		s["required"] = req
	}
	return s
}

var (
	cursorParam = apiParam{"cursor", "the next_cursor of the previous page", str("")}
	limitParam  = apiParam{"limit", "page size", schema{"type": "integer", "minimum": 1, "maximum": maxListLimit, "default": defaultListLimit}}
	textBody    = func(required bool) schema {
		if required {
			return object(map[string]schema{"body": str("Markdown-free text")})
		}
		return object(map[string]schema{"body?": str("")})
	}
	incidentActionResult = object(map[string]schema{"incident": ref("IncidentDetail"), "changed": boolean()})
)

// apiOperations is every /api/v1 operation.
var apiOperations = []apiOp{
	// Incidents (api.go).
	{Method: "GET", Path: "/api/v1/incidents", Summary: "List incidents, newest first", Role: roleViewer,
		Query: []apiParam{
			{"status", "which incidents", schema{"type": "string", "enum": []string{"open", "resolved", "all"}, "default": "all"}},
			limitParam,
			{"before", "the next_cursor of the previous page (an incident number)", str("")},
		},
		Response: object(map[string]schema{"incidents": array(ref("Incident")), "next_cursor": nullable(str(""))})},
	{Method: "GET", Path: "/api/v1/incidents/{id}", Summary: "An incident with its timeline", Role: roleViewer,
		Response: object(map[string]schema{"incident": ref("IncidentDetail")}), Errors: []int{404}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/acknowledge", Summary: "Acknowledge an incident", Role: roleResponder,
		Body: object(map[string]schema{}), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/resolve", Summary: "Resolve an incident", Role: roleResponder,
		Body: textBody(false), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/snooze", Summary: "Silence an incident's notifications for a while", Role: roleResponder,
		Body: object(map[string]schema{"for": str(`a duration from 1m to 168h, such as "30m"`)}), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/notes", Summary: "Add a private note to the timeline", Role: roleResponder,
		Body: textBody(true), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/updates", Summary: "Post a public update", Role: roleResponder,
		Body: object(map[string]schema{
			"status?":     enum("investigating", "identified", "monitoring", "resolved"),
			"body":        str(""),
			"components?": schema{"type": "object", "additionalProperties": enum("operational", "degraded_performance", "partial_outage", "major_outage")},
		}), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/impact", Summary: "Set an incident's impact", Role: roleResponder,
		Body: object(map[string]schema{"impact": enum("none", "minor", "major", "critical")}), Response: incidentActionResult, Errors: []int{404, 409}},
	{Method: "POST", Path: alertmanagerPath, Summary: "Alertmanager webhook receiver (bearer: the organization's ingest token)", Role: "ingest",
		Body:     schema{"type": "object", "description": "Alertmanager's webhook payload (version 4)"},
		Response: object(map[string]schema{"alerts": integer()}), Errors: []int{413}},

	// Subscribers (subscribe.go).
	{Method: "POST", Path: "/api/v1/subscribers", Summary: "Subscribe a webhook or an e-mail address to the organization's updates", Role: roleAdmin,
		Body: object(map[string]schema{"type?": enum("webhook", "email"), "url?": str("https URL (webhook)"), "email?": str("address (email)"),
			"components?": array(str("component id"))}),
		OK: 201, Response: ref("Subscription")},
	{Method: "GET", Path: "/api/v1/subscribers", Summary: "The organization's subscriptions (never their secrets)", Role: roleAdmin,
		Response: object(map[string]schema{"subscribers": array(ref("Subscription"))})},
	{Method: "GET", Path: "/api/v1/subscribers/{id}/deliveries", Summary: "A subscription's delivery log, newest first", Role: roleAdmin,
		Query:    []apiParam{cursorParam, limitParam},
		Response: object(map[string]schema{"deliveries": array(ref("DeliveryAttempt")), "next_cursor?": str("")}), Errors: []int{404}},
	{Method: "DELETE", Path: "/api/v1/subscribers/{id}", Summary: "Remove a subscription", Role: roleAdmin, OK: 204, Errors: []int{404}},

	// Components and probes (api_probes.go).
	{Method: "GET", Path: "/api/v1/components", Summary: "The organization's components, in display order", Role: roleViewer,
		Response: object(map[string]schema{"components": array(ref("Component"))})},
	{Method: "GET", Path: "/api/v1/components/{id}", Summary: "A component and its probes", Role: roleViewer,
		Response: object(map[string]schema{"component": ref("Component"), "probes": array(ref("Probe"))}), Errors: []int{404}},
	{Method: "GET", Path: "/api/v1/probes", Summary: "The organization's probes with their last results", Role: roleViewer,
		Response: object(map[string]schema{"probes": array(ref("Probe"))})},
	{Method: "GET", Path: "/api/v1/probes/{id}", Summary: "A probe with its last result", Role: roleViewer,
		Response: object(map[string]schema{"probe": ref("Probe")}), Errors: []int{404}},
	{Method: "GET", Path: "/api/v1/probes/{id}/results", Summary: "A probe's raw results, newest first", Role: roleViewer,
		Query:    []apiParam{cursorParam, limitParam},
		Response: object(map[string]schema{"results": array(ref("Result")), "next_cursor": nullable(str(""))}), Errors: []int{404}},
	{Method: "POST", Path: "/api/v1/probes/{id}/run", Summary: "Run a probe now (at most once per 10 s per probe)", Role: roleResponder,
		Response: object(map[string]schema{"probe": str("probe id"), "result": ref("Result")}),
		Errors:   []int{404, 409, 429, 503, 504}},

	// Postmortems (console_postmortem.go).
	{Method: "GET", Path: "/api/v1/incidents/{id}/postmortem", Summary: "An incident's postmortem: draft and published text", Role: roleViewer,
		Response: object(map[string]schema{"postmortem": ref("Postmortem")}), Errors: []int{404}},
	{Method: "PUT", Path: "/api/v1/incidents/{id}/postmortem", Summary: "Save the postmortem draft (Markdown)", Role: roleResponder,
		Body: schema{"type": "string", "description": "Markdown, at most 256 KiB"}, BodyType: "text/markdown",
		Response: object(map[string]schema{"postmortem": ref("Postmortem")}), Errors: []int{404, 413, 415}},
	{Method: "POST", Path: "/api/v1/incidents/{id}/postmortem/publish", Summary: "Publish the draft on the status page and notify subscribers", Role: roleResponder,
		Response: object(map[string]schema{"postmortem": ref("Postmortem"), "notified_subscribers": integer()}), Errors: []int{404, 409}},

	// Maintenance windows (api_maint.go).
	{Method: "GET", Path: "/api/v1/maintenances", Summary: "Maintenance windows, stored and configured", Role: roleViewer,
		Query:    []apiParam{{"when", "which windows", schema{"type": "string", "enum": []string{"upcoming", "active", "past", "all"}, "default": "all"}}, limitParam, cursorParam},
		Response: object(map[string]schema{"maintenances": array(ref("Maintenance")), "next_cursor": nullable(str(""))})},
	{Method: "POST", Path: "/api/v1/maintenances", Summary: "Schedule a maintenance window", Role: roleResponder,
		Body: object(map[string]schema{"title": str(""), "components": array(str("component id")), "starts_at": dateTime(), "ends_at": dateTime(), "message?": str("")}),
		OK:   201, Response: object(map[string]schema{"maintenance": ref("Maintenance")})},
	{Method: "GET", Path: "/api/v1/maintenances/{id}", Summary: "A maintenance window with its update log", Role: roleViewer,
		Response: object(map[string]schema{"maintenance": ref("Maintenance")}), Errors: []int{404}},
	{Method: "PATCH", Path: "/api/v1/maintenances/{id}", Summary: "Change a stored window (a running one keeps its start)", Role: roleResponder,
		Body:     object(map[string]schema{"title?": str(""), "components?": array(str("")), "starts_at?": dateTime(), "ends_at?": dateTime(), "message?": str("")}),
		Response: object(map[string]schema{"maintenance": ref("Maintenance")}), Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/maintenances/{id}/updates", Summary: "Post an update to a window", Role: roleResponder,
		Body:     object(map[string]schema{"body": str(""), "status?": enum("scheduled", "in_progress", "verifying", "completed")}),
		Response: object(map[string]schema{"maintenance": ref("Maintenance")}), Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/maintenances/{id}/cancel", Summary: "Cancel a window", Role: roleResponder,
		Body: object(map[string]schema{"body?": str("")}), Response: object(map[string]schema{"maintenance": ref("Maintenance")}), Errors: []int{404, 409}},
	{Method: "POST", Path: "/api/v1/maintenances/{id}/complete", Summary: "Complete a running window early", Role: roleResponder,
		Body: object(map[string]schema{"body?": str("")}), Response: object(map[string]schema{"maintenance": ref("Maintenance")}), Errors: []int{404, 409}},

	// On call (api_oncall.go).
	{Method: "GET", Path: "/api/v1/oncall", Summary: "Who is on call now and next, per team and schedule", Role: roleViewer,
		Query:    []apiParam{{"team", "one team's id", str("")}, {"at", "the time to look at (RFC 3339; default now)", dateTime()}},
		Response: schema{"type": "object", "description": "{at, teams:[{id,name,members,schedules:[{id,time_zone,now,next,shifts,overrides}]}], users:{id:name}}"}},
	{Method: "POST", Path: "/api/v1/oncall/overrides", Summary: "Put someone on call for a span (an override)", Role: roleResponder,
		Body: object(map[string]schema{"schedule": str(""), "user": str(""), "starts_at": dateTime(), "ends_at": dateTime()}),
		OK:   201, Response: object(map[string]schema{"override": ref("Override")})},
	{Method: "DELETE", Path: "/api/v1/oncall/overrides/{id}", Summary: "Remove a stored override", Role: roleResponder,
		Response: object(map[string]schema{"override": ref("Override")}), Errors: []int{404, 409}},

	// Teams (teams.go).
	{Method: "GET", Path: "/api/v1/teams", Summary: "The organization's teams, their members and who is on call in each schedule now", Role: roleViewer,
		Response: schema{"type": "object", "description": "{teams:[{id,name,members:[{id,name,email?}],schedules:[{id,on_call:[user id]}]}], next_cursor:null}"}},

	// Configuration (config_apply.go).
	{Method: "POST", Path: configPath, Summary: "Plan or apply the organization's configuration (lookout apply)", Role: roleAdmin,
		Query:    []apiParam{{"dry_run", "only plan", schema{"type": "boolean", "default": false}}},
		Body:     schema{"type": "string", "description": "the organization's configuration file (YAML), exactly one organization: the token's"},
		BodyType: "application/yaml",
		Response: ref("ConfigPlan"), Errors: []int{413, 415}},
}

// apiSchemas are the shared schemas.
func apiSchemas() schema {
	result := object(map[string]schema{
		"checked_at": dateTime(), "region": str(""), "outcome": enum("up", "degraded", "down"),
		"latency_ms": number(), "error?": str("why the run was not up; never holds secrets"),
		"phases": array(object(map[string]schema{"name": str(""), "latency_ms": number()})),
	})
	incident := map[string]schema{
		"id": str(""), "number": integer(), "title": str(""),
		"status":           enum("triggered", "acknowledged", "resolved"),
		"public_status":    enum("investigating", "identified", "monitoring", "resolved"),
		"published":        boolean(),
		"impact":           enum("none", "minor", "major", "critical"),
		"components":       array(str("")),
		"alerts":           array(str("")),
		"flapping":         boolean(),
		"started_at":       dateTime(),
		"acknowledged_at":  nullable(dateTime()),
		"acknowledged_by?": str(""),
		"snoozed_until":    nullable(dateTime()),
		"resolved_at":      nullable(dateTime()),
		"updated_at":       dateTime(),
	}
	detail := map[string]schema{"timeline": array(object(map[string]schema{
		"seq": integer(), "at": dateTime(), "actor": str(""), "kind": str(""),
		"from?": str(""), "to?": str(""), "body?": str(""),
	}))}
	for k, v := range incident {
		detail[k] = v
	}
	return schema{
		"Error": object(map[string]schema{"error": object(map[string]schema{
			"code": str("machine-readable: not_found, invalid_field, rate_limited, ..."), "message": str("for people"),
			"field?": str("the field at fault; for a configuration, \"line N: path\""),
		}), "problems?": array(ref("ConfigProblem"))}),
		"Incident":       object(incident),
		"IncidentDetail": object(detail),
		"Subscription": object(map[string]schema{
			"id": str(""), "type": enum("webhook", "email"), "url?": str(""), "email?": str(""), "components": array(str("")), "status": str(""),
			"secret?": str("the signing secret, shown once"), "created_at": dateTime(), "expires_at?": dateTime(),
			"confirmed_at?": dateTime(), "disabled_at?": dateTime(), "disabled_reason?": str(""),
		}),
		"DeliveryAttempt": object(map[string]schema{
			"at": dateTime(), "event": str(""), "webhook_id?": str(""), "message_id?": str(""), "attempt": integer(),
			"outcome": enum("delivered", "failed", "gave_up"), "status_code?": integer(), "smtp_reply?": str(""),
			"latency_ms": integer(), "error?": str(""),
		}),
		"Component": object(map[string]schema{
			"id": str(""), "name": str(""), "description": str(""), "group": str(""), "private": boolean(),
			"status": enum("operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"),
			"probes": array(str("probe id")), "updated_at": dateTime(),
		}),
		"Probe": object(map[string]schema{
			"id": str(""), "name": str(""), "component": str(""), "kind": str("http, tcp, dns, tls, steps, s3, heartbeat"),
			"target": str("what the probe checks, without secrets"), "interval_ms": integer(), "timeout_ms": integer(),
			"failure_threshold": integer(), "success_threshold": integer(), "last_result": nullable(ref("Result")),
			"updated_at": dateTime(),
		}),
		"Result": result,
		"Postmortem": schema{"type": "object", "description": "{incident, status: new|draft|published, body, published_body, published_at, unpublished_changes, updated_at, updated_by, publishable, blocked}",
			"properties": schema{"incident": str(""), "status": enum("new", "draft", "published"), "body": str("Markdown")}},
		"Maintenance": schema{"type": "object", "description": "id, title, status, components, starts_at, ends_at, source (api|config), read_only, created_by, created_at, updated_at, ended_at; a single window also has updates[{seq, at, actor, status, body, change}]",
			"properties": schema{"id": str(""), "title": str(""), "status": str(""), "components": array(str("")), "starts_at": dateTime(), "ends_at": dateTime(), "source": enum("api", "config")}},
		"Override": schema{"type": "object",
			"properties": schema{"id": str(""), "schedule": str(""), "user": str(""), "starts_at": dateTime(), "ends_at": dateTime(), "source": enum("api", "config")}},
		"ConfigProblem": object(map[string]schema{
			"line": integer(), "path?": str("field path from the top of the file"), "message": str(""), "field": str("line N: path"),
		}),
		"ConfigPlan": object(map[string]schema{
			"dry_run": boolean(), "applied": boolean(),
			"changes": array(object(map[string]schema{
				"op": enum("create", "update", "delete"), "kind": str("component, probe, page, notifier, team, ..."),
				"id": str("org/id"), "fields?": array(str("")),
			})),
		}),
	}
}

var statusText = map[int]string{
	400: "invalid request", 401: "no valid credentials", 403: "role too low, or the file names another organization",
	404: "not found (or another organization's)", 409: "conflict", 413: "body too large", 415: "unsupported media type",
	429: "rate limited (see Retry-After)", 503: "unavailable", 504: "timed out",
}

// openAPIDocument builds the document from apiOperations.
func openAPIDocument() schema {
	paths := schema{}
	for _, op := range apiOperations {
		item, _ := paths[op.Path].(schema)
		if item == nil {
			item = schema{}
			paths[op.Path] = item
		}
		item[strings.ToLower(op.Method)] = op.document()
	}
	return schema{
		"openapi": "3.0.3",
		"info": schema{
			"title":       "Lookout API",
			"version":     "1",
			"description": "The incident, component and probe API. Authenticate with a bearer token (Authorization: Bearer lko_...) or the console's session cookie. Errors are {\"error\":{\"code\",\"message\",\"field\"}}; lists page with ?cursor= (or ?before=) and ?limit=, answering next_cursor (null on the last page).",
		},
		"servers": []any{schema{"url": "/"}},
		"paths":   paths,
		"components": schema{
			"schemas": apiSchemas(),
			"securitySchemes": schema{
				"bearer":  schema{"type": "http", "scheme": "bearer", "description": "an API token"},
				"session": schema{"type": "apiKey", "in": "cookie", "name": SessionCookie, "description": "a console session (writes must be same-origin)"},
				"ingest":  schema{"type": "http", "scheme": "bearer", "description": "the organization's Alertmanager ingest token"},
			},
		},
	}
}

func (op apiOp) document() schema {
	d := schema{"summary": op.Summary, "operationId": operationID(op.Method, op.Path)}
	switch op.Role {
	case "":
		d["security"] = []any{}
	case "ingest":
		d["security"] = []any{schema{"ingest": []any{}}}
	default:
		d["security"] = []any{schema{"bearer": []any{}}, schema{"session": []any{}}}
		d["description"] = "Role: " + op.Role + " or above."
		d["x-min-role"] = op.Role
	}
	var params []any
	for _, seg := range strings.Split(op.Path, "/") {
		if name, ok := strings.CutPrefix(seg, "{"); ok {
			params = append(params, schema{"name": strings.TrimSuffix(name, "}"), "in": "path", "required": true, "schema": str("")})
		}
	}
	for _, q := range op.Query {
		params = append(params, schema{"name": q.Name, "in": "query", "description": q.Description, "schema": q.Schema})
	}
	if params != nil {
		d["parameters"] = params
	}
	if op.Body != nil {
		bt := op.BodyType
		if bt == "" {
			bt = "application/json"
		}
		d["requestBody"] = schema{"required": bt != "application/json", "content": schema{bt: schema{"schema": op.Body}}}
	}
	ok := op.OK
	if ok == 0 {
		ok = http.StatusOK
	}
	okResp := schema{"description": http.StatusText(ok)}
	if op.Response != nil {
		okResp["content"] = schema{"application/json": schema{"schema": op.Response}}
	}
	responses := schema{strconv.Itoa(ok): okResp}
	errs := append([]int(nil), op.Errors...)
	if op.Role != "" {
		errs = append(errs, 401)
		if op.Role != "ingest" {
			errs = append(errs, 403)
		}
	}
	if op.Body != nil || op.Query != nil {
		errs = append(errs, 400)
	}
	for _, code := range errs {
		responses[strconv.Itoa(code)] = schema{"description": statusText[code],
			"content": schema{"application/json": schema{"schema": ref("Error")}}}
	}
	d["responses"] = responses
	return d
}

// operationID is e.g. "post_incidents_id_acknowledge".
func operationID(method, path string) string {
	p := strings.TrimPrefix(path, "/api/v1/")
	p = strings.NewReplacer("/", "_", "{", "", "}", "", ".", "_").Replace(p)
	return strings.ToLower(method) + "_" + p
}

var openAPIJSON = sync.OnceValues(func() ([]byte, error) { return json.MarshalIndent(openAPIDocument(), "", "  ") })

func (s *server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	b, err := openAPIJSON()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(b)
}
