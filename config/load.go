package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/lookout-status/lookout/probes"
)

// MaxFileSize caps a configuration file.
const MaxFileSize = 4 << 20

// Defaults and limits.
const (
	DefaultRawRetention    = 7 * 24 * time.Hour
	DefaultRollupRetention = 400 * 24 * time.Hour
	MinRollupRetention     = 90 * 24 * time.Hour
	DefaultFlushInterval   = time.Second
	DefaultFlushSize       = 500
	DefaultMaxConcurrency  = 256
	DefaultRegion          = "local"
	DefaultInterval        = 60 * time.Second
	MinInterval            = time.Second
	MaxDefaultTimeout      = 10 * time.Second
)

// Load reads and validates the file at path; getenv resolves ${VAR}
// references (nil: every variable is unset). On error it returns no Config
// and an error listing every problem, one per line, as FILE:LINE: PATH: MSG.
func Load(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", path, err)
	}
	return Parse(path, data, getenv)
}

// Parse is Load on bytes; name is the file name used in messages.
func Parse(name string, data []byte, getenv func(string) string) (*Config, error) {
	reg := probes.NewRegistry()
	return parse(name, data, getenv, reg.Lookup, reg.Names())
}

// parse is Parse with the probe kinds given (tests supply their own).
func parse(name string, data []byte, getenv func(string) string, lookup func(string) (probes.Kind, bool), kinds []string) (*Config, error) {
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	l := &loader{
		probs:  &problems{file: name, redact: map[string]string{}},
		getenv: getenv,
		lookup: lookup,
		kinds:  kinds,
		tokens: map[string]string{},
	}
	cfg := l.load(data)
	if err := l.probs.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// The file's shape where it differs from Config. Pointers tell a value
// written as zero from one left out, for defaults.

type fileConfig struct {
	Storage       fileStorage   `yaml:"storage"`
	Scheduler     fileScheduler `yaml:"scheduler"`
	Organizations []fileOrg     `yaml:"organizations"`
	Backup        *fileBackup   `yaml:"backup"`
	SMTP          *fileSMTP     `yaml:"smtp"`
	Server        fileServer    `yaml:"server"`
}

type fileServer struct {
	URL string `yaml:"url"`
}

type fileStorage struct {
	RawRetention    *time.Duration `yaml:"raw_retention"`
	RollupRetention *time.Duration `yaml:"rollup_retention"`
	FlushInterval   *time.Duration `yaml:"flush_interval"`
	FlushSize       *int           `yaml:"flush_size"`
}

type fileScheduler struct {
	MaxConcurrency *int   `yaml:"max_concurrency"`
	Region         string `yaml:"region"`
}

type fileOrg struct {
	ID     string `yaml:"id"`
	Name   string `yaml:"name"`
	Egress struct {
		Allow []netip.Prefix `yaml:"allow"`
	} `yaml:"egress"`
	Pages      []Page      `yaml:"pages"`
	Components []Component `yaml:"components"`
	// Probes are decoded on their own: their kind key is open-ended.
	Probes       []yaml.Node       `yaml:"probes"`
	Incidents    fileIncidents     `yaml:"incidents"`
	Users        []User            `yaml:"users"`
	Teams        []fileTeam        `yaml:"teams"`
	Notifiers    []Notifier        `yaml:"notifiers"`
	Integrations Integrations      `yaml:"integrations"`
	Tokens       []Token           `yaml:"tokens"`
	Maintenances []fileMaintenance `yaml:"maintenances"`
	Require2FA   bool              `yaml:"require_2fa"`
}

type fileProbe struct {
	ID               string         `yaml:"id"`
	Name             string         `yaml:"name"`
	Component        string         `yaml:"component"`
	Interval         *time.Duration `yaml:"interval"`
	Timeout          *time.Duration `yaml:"timeout"`
	FailureThreshold *int           `yaml:"failure_threshold"`
	SuccessThreshold *int           `yaml:"success_threshold"`
	Quorum           *int           `yaml:"quorum"`
	Regions          []string       `yaml:"regions"`
	DegradedPages    bool           `yaml:"degraded_pages"`
	Flapping         fileFlapping   `yaml:"flapping"`
}

type loader struct {
	probs  *problems
	getenv func(string) string
	lookup func(string) (probes.Kind, bool)
	kinds  []string // kind names in registry order, for messages
	// raw is the tree as written (before ${VAR} expansion): lines for
	// messages and probe definitions come from it.
	raw *yaml.Node
	dec *decoder
	// tokens maps every API and ingest token seen so far to the path that
	// set it: a token must name one organization and one user.
	tokens map[string]string
}

func (l *loader) load(data []byte) *Config {
	p := l.probs
	if len(data) > MaxFileSize {
		p.add(1, "", "file is larger than %d MiB", MaxFileSize>>20)
		return nil
	}
	root := l.parseYAML(data)
	if root == nil {
		return nil
	}
	l.raw = root
	if root.Kind != yaml.MappingNode {
		p.at(root, "", "expected a mapping with storage, scheduler and organizations at the top level, got %s", kindName(root))
		return nil
	}

	tree := copyNode(root)
	x := &expander{probs: p, getenv: l.getenv, orig: map[*yaml.Node]string{}}
	x.expandTree(tree, "")
	l.dec = &decoder{probs: p, orig: x.orig}

	var fc fileConfig
	l.dec.structFields(tree, reflect.ValueOf(&fc).Elem(), "", nil)

	cfg := &Config{
		Path:      p.file,
		Storage:   l.storage(fc.Storage),
		Scheduler: l.scheduler(fc.Scheduler),
		Backup:    l.backup(fc.Backup),
		SMTP:      l.smtp(fc.SMTP),
		Server:    l.server(fc.Server),
	}
	if len(fc.Organizations) == 0 {
		l.errf("organizations", "at least one organization is required")
	}
	orgIDs := map[string]string{} // id -> path of its first use
	hosts := map[string]string{}
	for i, fo := range fc.Organizations {
		path := joinIndex("organizations", i)
		cfg.Organizations = append(cfg.Organizations, l.org(fo, path, orgIDs, hosts))
	}
	return cfg
}

// parseYAML parses exactly one YAML document; nil after reporting a problem.
func (l *loader) parseYAML(data []byte) *yaml.Node {
	p := l.probs
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			p.add(1, "", "file is empty: it needs at least one organization")
		} else {
			l.yamlErr(err)
		}
		return nil
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		p.at(&next, "", "the file holds more than one YAML document (---); use one")
		return nil
	} else if !errors.Is(err, io.EOF) {
		l.yamlErr(err)
		return nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || isNull(doc.Content[0]) {
		p.add(1, "", "file is empty: it needs at least one organization")
		return nil
	}
	return doc.Content[0]
}

// parserProblem tells libyaml's parser errors from its scanner errors.
func parserProblem(msg string) bool {
	for _, p := range []string{"did not find expected", "found duplicate %", "found incompatible YAML document", "found undefined tag handle"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (l *loader) yamlErr(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		// yaml.v3 reports parser (not scanner) errors with 0-based lines.
		if parserProblem(m[2]) {
			line++
		}
		l.probs.add(line, "", "invalid YAML: %s", m[2])
		return
	}
	l.probs.add(1, "", "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// line returns the line for a problem at path.
func (l *loader) line(path string) int {
	_, line := locate(l.raw, path)
	return line
}

// errf records a problem at path, unless path already has one (a value
// that did not decode is not also "too small").
func (l *loader) errf(path, format string, args ...any) {
	if l.probs.has(path) {
		return
	}
	l.probs.add(l.line(path), path, format, args...)
}

func (l *loader) storage(fs fileStorage) Storage {
	s := Storage{
		RawRetention:    orDefault(fs.RawRetention, DefaultRawRetention),
		RollupRetention: orDefault(fs.RollupRetention, DefaultRollupRetention),
		FlushInterval:   orDefault(fs.FlushInterval, DefaultFlushInterval),
		FlushSize:       orDefault(fs.FlushSize, DefaultFlushSize),
	}
	if s.RawRetention <= 0 {
		l.errf("storage.raw_retention", "must be positive")
	}
	if s.RollupRetention < MinRollupRetention {
		l.errf("storage.rollup_retention", "must be at least 90 days (2160h), got %s", fmtDur(s.RollupRetention))
	}
	if s.FlushInterval <= 0 {
		l.errf("storage.flush_interval", "must be positive")
	}
	if s.FlushSize < 1 {
		l.errf("storage.flush_size", "must be at least 1, got %d", s.FlushSize)
	}
	return s
}

func (l *loader) scheduler(fs fileScheduler) Scheduler {
	s := Scheduler{
		MaxConcurrency: orDefault(fs.MaxConcurrency, DefaultMaxConcurrency),
		Region:         fs.Region,
	}
	if s.Region == "" {
		s.Region = DefaultRegion
	} else if !idRE.MatchString(s.Region) {
		l.errf("scheduler.region", "invalid region %s (%s)", strconv.Quote(s.Region), idRule)
	}
	if s.MaxConcurrency < 1 {
		l.errf("scheduler.max_concurrency", "must be at least 1, got %d", s.MaxConcurrency)
	}
	return s
}

// server checks the deployment's public URL: an http(s) origin, since the
// console's routes are absolute (/console/…).
func (l *loader) server(fs fileServer) Server {
	s := Server{URL: strings.TrimSuffix(fs.URL, "/")}
	if fs.URL == "" {
		return s
	}
	if msg := checkHTTPURL(fs.URL); msg != "" {
		l.errf("server.url", "%s", msg)
		return s
	}
	u, _ := url.Parse(fs.URL)
	switch {
	case u.User != nil:
		l.errf("server.url", "no user or password in the URL: it is put in messages")
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		l.errf("server.url", "want the origin Lookout is served at, such as https://lookout.example.com, without path, query or fragment (the console is at /console), got %s", truncate(strconv.Quote(fs.URL)))
	}
	return s
}

func orDefault[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

var (
	idRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	accentRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)
	hostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$`)
)

const idRule = "use lowercase letters, digits and dashes, starting with a letter or digit, at most 63 characters"

// ValidID reports whether id is a well-formed id (organization, page,
// component, probe...): idRule. Such an id needs no escaping in a URL path.
func ValidID(id string) bool { return idRE.MatchString(id) }

// checkID reports a missing, malformed or repeated id; seen maps ids to the
// path that used them first.
func (l *loader) checkID(what, id, path string, seen map[string]string) bool {
	idPath := path + ".id"
	switch {
	case id == "":
		l.errf(path, "%s id is required", what)
	case !idRE.MatchString(id):
		l.errf(idPath, "invalid %s id %s (%s)", what, truncate(strconv.Quote(id)), idRule)
	default:
		if first, dup := seen[id]; dup {
			l.errf(idPath, "duplicate %s id %q (first at line %d)", what, id, l.line(first+".id"))
			return false
		}
		seen[id] = path
		return true
	}
	return false
}

// checkText refuses control characters in names shown to visitors.
func (l *loader) checkText(path, s string) {
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			l.errf(path, "must not contain control characters")
			return
		}
	}
}

func (l *loader) org(fo fileOrg, path string, orgIDs, hosts map[string]string) Organization {
	l.checkID("organization", fo.ID, path, orgIDs)
	o := Organization{
		ID:         fo.ID,
		Name:       fo.Name,
		Egress:     fo.Egress.Allow,
		Pages:      fo.Pages,
		Components: fo.Components,
		Require2FA: fo.Require2FA,
	}
	if o.Name == "" {
		o.Name = o.ID
	}
	l.checkText(path+".name", o.Name)

	compIDs := map[string]string{}
	var compList []string
	// References to components are checked only if the components decoded
	// and checked cleanly: otherwise every reference would be "unknown".
	checkRefs := !l.probs.hasUnder(path + ".components")
	for i := range o.Components {
		c := &o.Components[i]
		cp := joinIndex(path+".components", i)
		if l.checkID("component", c.ID, cp, compIDs) {
			compList = append(compList, c.ID)
		}
		if c.Name == "" {
			c.Name = c.ID
		}
		l.checkText(cp+".name", c.Name)
		l.checkText(cp+".group", c.Group)
	}

	pageIDs := map[string]string{}
	for i := range o.Pages {
		pg := &o.Pages[i]
		pp := joinIndex(path+".pages", i)
		l.checkID("page", pg.ID, pp, pageIDs)
		l.checkText(pp+".name", pg.Name)
		if pg.Name == "" {
			pg.Name = o.Name
		}
		for j, cid := range pg.Components {
			if _, ok := compIDs[cid]; !ok && checkRefs {
				l.unknownComponent(joinIndex(pp+".components", j), cid, compList)
			}
		}
		if pg.Accent != "" && !accentRE.MatchString(pg.Accent) {
			l.errf(pp+".accent", "invalid accent %s (use #rrggbb)", truncate(strconv.Quote(pg.Accent)))
		}
		if pg.URL != "" {
			if msg := checkHTTPURL(pg.URL); msg != "" {
				l.errf(pp+".url", "%s", msg)
			}
		}
		if (pg.Logo != "" && !strings.HasPrefix(pg.Logo, "/")) || strings.HasPrefix(pg.Logo, "//") {
			if checkHTTPURL(pg.Logo) != "" {
				l.errf(pp+".logo", "invalid logo %s (use an absolute path such as /logo.svg, or an http or https URL)", truncate(strconv.Quote(pg.Logo)))
			}
		}
		l.mirror(pg, pp+".mirror")
		if pg.Host != "" {
			h := strings.ToLower(pg.Host)
			switch {
			case !hostRE.MatchString(h) || len(h) > 253:
				l.errf(pp+".host", "invalid host %s (use a host name such as status.example.com)", truncate(strconv.Quote(pg.Host)))
			case hosts[h] != "":
				l.errf(pp+".host", "host %q is already used by %s (line %d)", pg.Host, hosts[h], l.line(hosts[h]+".host"))
			default:
				hosts[h] = pp
			}
			pg.Host = h
		}
	}

	eg := probes.NewEgress(o.Egress)
	probeIDs := map[string]string{}
	for i := range fo.Probes {
		pp := joinIndex(path+".probes", i)
		if !checkRefs {
			compIDs = nil
		}
		if pr, ok := l.probe(&fo.Probes[i], pp, eg, probeIDs, compIDs, compList); ok {
			o.Probes = append(o.Probes, pr)
		}
	}
	l.oncall(&fo, path, &o, eg, checkRefs)
	o.Maintenances = l.maintenances(fo.Maintenances, path+".maintenances", compIDs, compList, checkRefs)
	return o
}

func (l *loader) unknownComponent(path, id string, known []string) {
	l.unknownRef(path, "component", id, known)
}

// checkHTTPURL returns a message if s is not an absolute http(s) URL.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("invalid URL %s (use an absolute http or https URL)", truncate(strconv.Quote(s)))
	}
	return ""
}

type kindKey struct {
	key  *yaml.Node
	val  *yaml.Node
	kind probes.Kind
}

// probe decodes and checks one probe; ok is false if it was not a mapping.
func (l *loader) probe(n *yaml.Node, path string, eg *probes.Egress, ids, comps map[string]string, compList []string) (Probe, bool) {
	d := l.dec
	if n.Kind != yaml.MappingNode {
		if n.Kind != yaml.AliasNode {
			d.mismatch(n, path, "a mapping")
		}
		return Probe{}, false
	}
	var fp fileProbe
	var kinds []kindKey
	extra := &extraKeys{
		names: l.kinds,
		what:  "field or probe kind",
		take: func(k, val *yaml.Node) bool {
			kind, ok := l.lookup(k.Value)
			if ok {
				kinds = append(kinds, kindKey{k, val, kind})
			}
			return ok
		},
	}
	d.structFields(n, reflect.ValueOf(&fp).Elem(), path, extra)

	pr := Probe{
		ID:               fp.ID,
		Name:             fp.Name,
		Component:        fp.Component,
		Interval:         orDefault(fp.Interval, DefaultInterval),
		FailureThreshold: orDefault(fp.FailureThreshold, 1),
		SuccessThreshold: orDefault(fp.SuccessThreshold, 1),
		Quorum:           orDefault(fp.Quorum, 1),
		Regions:          fp.Regions,
		DegradedPages:    fp.DegradedPages,
	}
	l.checkID("probe", fp.ID, path, ids)
	if pr.Name == "" {
		pr.Name = pr.ID
	}
	l.checkText(path+".name", pr.Name)
	switch {
	case pr.Component == "" && len(compList) == 0:
		l.errf(path, "component is required (and the organization has no components)")
	case pr.Component == "":
		l.errf(path, "component is required (one of %s)", strings.Join(compList, ", "))
	case comps == nil:
		// the components had problems: reported there
	case comps[pr.Component] == "":
		l.unknownComponent(path+".component", pr.Component, compList)
	}
	if pr.Interval < MinInterval {
		l.errf(path+".interval", "must be at least %s, got %s", fmtDur(MinInterval), fmtDur(pr.Interval))
	}
	if fp.Timeout != nil {
		pr.Timeout = *fp.Timeout
		switch {
		case pr.Timeout <= 0:
			l.errf(path+".timeout", "must be positive, got %s", fmtDur(pr.Timeout))
		case pr.Timeout >= pr.Interval:
			l.errf(path+".timeout", "must be less than the interval (%s), got %s", fmtDur(pr.Interval), fmtDur(pr.Timeout))
		}
	} else {
		pr.Timeout = min(MaxDefaultTimeout, pr.Interval/2)
	}
	if pr.FailureThreshold < 1 {
		l.errf(path+".failure_threshold", "must be at least 1, got %d", pr.FailureThreshold)
	}
	if pr.SuccessThreshold < 1 {
		l.errf(path+".success_threshold", "must be at least 1, got %d", pr.SuccessThreshold)
	}
	l.probeIncidents(&pr, fp, path)

	switch len(kinds) {
	case 0:
		if l.probs.has(path) {
			return pr, true // an unknown key: most likely a mistyped kind
		}
		l.errf(path, "exactly one probe kind is required (one of %s)", strings.Join(l.kinds, ", "))
		return pr, true
	case 1:
	default:
		var names []string
		for _, k := range kinds {
			names = append(names, k.key.Value)
		}
		l.probs.at(kinds[1].key, path, "exactly one probe kind is required, got %s", strings.Join(names, " and "))
		return pr, true
	}

	k := kinds[0]
	kpath := joinKey(path, k.key.Value)
	pr.Kind = k.kind.Name
	spec := k.kind.New()
	before := len(l.probs.list)
	if !isNull(k.val) {
		sv := reflect.ValueOf(spec)
		if sv.Kind() == reflect.Pointer && !sv.IsNil() {
			if u, ok := spec.(yaml.Unmarshaler); ok {
				if err := u.UnmarshalYAML(k.val); err != nil {
					l.probs.at(k.val, kpath, "%s", d.scrub(k.val, strings.TrimPrefix(err.Error(), "yaml: ")))
				}
			} else {
				d.decode(k.val, sv.Elem(), kpath)
			}
		} else {
			l.probs.at(k.key, kpath, "probe kind %s cannot be configured (its spec is not a pointer)", k.kind.Name)
		}
	}
	pr.Spec = spec

	if rawKind, _ := locate(l.raw, kpath); rawKind != nil {
		if isNull(rawKind) {
			rawKind = &yaml.Node{Kind: yaml.MappingNode} // "ping:" is "ping: {}"
		}
		def, err := canonicalJSON(rawKind)
		if err != nil {
			l.probs.at(k.val, kpath, "cannot encode the definition: %v", err)
		}
		pr.Definition = def
		pr.Secrets = refs(rawKind)
	}

	// Validate only what decoded cleanly: a half-decoded spec would only
	// add confusing follow-on messages.
	if len(l.probs.list) == before {
		for _, e := range probes.Flatten(spec.Validate(eg)) {
			field, msg := "", e.Error()
			var fe *probes.FieldError
			if errors.As(e, &fe) {
				field, msg = fe.Field, fe.Msg
			}
			fpath := kpath
			switch {
			case field == "":
			case strings.HasPrefix(field, "["):
				fpath += field
			default:
				fpath += "." + field
			}
			l.errf(fpath, "%s", msg)
		}
	}
	return pr, true
}

// canonicalJSON encodes a node as JSON with sorted keys and no HTML escaping.
func canonicalJSON(n *yaml.Node) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(toAny(n)); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func sortStrings(s []string) { slices.Sort(s) }

// fmtDur formats d as written in a config: "1000h", "1h30m", "500ms".
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
