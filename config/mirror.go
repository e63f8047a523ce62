package config

import (
	"net/url"
	"strings"
	"time"
)

// Mirror limits and defaults.
const (
	DefaultMirrorInterval = 30 * time.Second
	MinMirrorInterval     = time.Second
	MaxMirrorInterval     = time.Hour
)

// Mirror publishes a static copy of a page (a page's mirror: section), so
// that a bucket website or a CDN keeps serving the last true status while
// Lookout is down.
type Mirror struct {
	// To is a directory or s3://bucket/prefix.
	To string `yaml:"to"`
	// Endpoint, Region and the keys reach an S3-compatible store (s3://
	// only); Endpoint defaults to https://s3.amazonaws.com. The keys are
	// ${VARIABLE} references.
	Endpoint        string `yaml:"endpoint"`
	Region          string `yaml:"region"`
	AccessKeyID     Secret `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// Interval is the least time between two publishes (default 30s): a
	// burst of changes is published once, the newest state in the end.
	Interval time.Duration `yaml:"interval"`
	// BaseURL is where the copy is served; its feeds and API documents
	// then link into it. Empty: they link to the page's URL.
	BaseURL string `yaml:"base_url"`
}

// IsS3 reports whether the mirror publishes to a bucket.
func (m *Mirror) IsS3() bool { return strings.HasPrefix(m.To, "s3://") }

func (l *loader) mirror(pg *Page, path string) {
	m := pg.Mirror
	if m == nil {
		return
	}
	if m.Interval == 0 && !l.probs.has(path+".interval") {
		m.Interval = DefaultMirrorInterval
	}
	switch {
	case m.To == "":
		l.errf(path+".to", "required: a directory or s3://bucket/prefix")
	case strings.Contains(m.To, "://") && !m.IsS3():
		l.errf(path+".to", "want a directory or s3://bucket/prefix, got %q", m.To)
	case m.To == "s3://" || strings.HasPrefix(m.To, "s3:///"):
		l.errf(path+".to", "s3:// needs a bucket: s3://bucket/prefix")
	}
	if m.To != "" && !m.IsS3() {
		for _, f := range []struct {
			name string
			set  bool
		}{{"endpoint", m.Endpoint != ""}, {"region", m.Region != ""}, {"access_key_id", m.AccessKeyID != ""}, {"secret_access_key", m.SecretAccessKey != ""}} {
			if f.set {
				l.errf(path+"."+f.name, "only for an s3:// mirror")
			}
		}
	}
	if m.IsS3() {
		if m.Endpoint != "" {
			if u, err := url.Parse(m.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
				l.errf(path+".endpoint", "want http(s)://host[:port], got %q", m.Endpoint)
			}
		}
		l.secret(path+".access_key_id", m.AccessKeyID, false)
		l.secret(path+".secret_access_key", m.SecretAccessKey, false)
		if (m.AccessKeyID == "") != (m.SecretAccessKey == "") && !l.probs.has(path+".access_key_id") && !l.probs.has(path+".secret_access_key") {
			l.errf(path, "access_key_id and secret_access_key go together")
		}
	}
	if m.Interval < MinMirrorInterval || m.Interval > MaxMirrorInterval {
		l.errf(path+".interval", "must be between %s and %s, got %s", fmtDur(MinMirrorInterval), fmtDur(MaxMirrorInterval), fmtDur(m.Interval))
	}
	if m.BaseURL != "" {
		if msg := checkHTTPURL(m.BaseURL); msg != "" {
			l.errf(path+".base_url", "%s", msg)
		}
	}
	if pg.Private {
		l.errf(path, "a private page is never mirrored: its copy would be public")
	}
}
