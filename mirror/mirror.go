// Package mirror publishes static copies of status pages to a directory or
// an S3-compatible bucket, so that a bucket website or a CDN keeps serving
// the last true status while Lookout itself is down.
//
// A publish writes the files that changed since the last one (assets
// first, then subpages, feeds and API documents, the index and summary.json
// last, so a visitor never follows a link to a file not written yet), then
// removes the files the copy no longer has, then its manifest. Publishes of
// one page are debounced: at most one per interval, and the latest state
// is always published in the end. A failure is logged, counted and retried
// with backoff; it never blocks the page.
package mirror

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/lookout-status/lookout/clock"
)

// File is one file of a static copy.
type File struct {
	// Path is slash-separated, relative to the copy's root.
	Path         string
	ContentType  string
	CacheControl string
	Body         []byte
}

// Snapshot is a page's state at one version. Files renders its copy; it
// is called only when that version is published.
type Snapshot struct {
	Version string
	Files   func(ctx context.Context) ([]File, error)
}

// Source returns the current snapshot of a page.
type Source func(ctx context.Context, page string) (Snapshot, error)

// Mirror publishes one page to one target.
type Mirror struct {
	// Page names the page to the Source (and in logs and metrics).
	Page     string
	Target   Target
	Interval time.Duration
}

// DefaultInterval is the least time between two publishes of a page.
const DefaultInterval = 30 * time.Second

// maxBackoff caps the wait before retrying a failed publish.
const maxBackoff = 5 * time.Minute

// ManifestPath is the file listing what the copy holds: the files a later
// publish may skip (unchanged) or must remove (gone from the copy). Only
// files it lists are ever removed.
const ManifestPath = ".lookout-mirror.json"

// putConcurrency bounds the uploads in flight for one publish.
const putConcurrency = 4

// Options configure a Publisher.
type Options struct {
	Source  Source
	Clock   clock.Clock
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Publisher keeps every configured page's copy current. Run owns its one
// goroutine and every mirror's state; Set and Notify may be called from
// anywhere.
type Publisher struct {
	o    Options
	wake chan struct{}

	mu   sync.Mutex
	want []Mirror // set by Set, applied by the publishing goroutine
	set  bool

	mirrors []*state // owned by the publishing goroutine

	lastSuccess *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	written     *prometheus.CounterVec

	// published, when set, is called after every attempt (tests wait on it).
	published func(page, version string, err error)
}

// state is one mirror and what is known of its target.
type state struct {
	Mirror
	key       string
	version   string    // published version ("" none yet)
	last      time.Time // last attempt
	due       time.Time // a failed publish is retried from then
	fails     int       // failures in a row
	manifest  map[string]string
	loaded    bool // manifest read from the target
	targetStr string
}

// New registers the metrics and returns a Publisher with no mirrors.
func New(o Options) *Publisher {
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{
		o:    o,
		wake: make(chan struct{}, 1),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "lookout_mirror_last_success_timestamp_seconds",
			Help: "Unix time of the last successful publish of a page's static copy."}, []string{"page"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lookout_mirror_failures_total",
			Help: "Publishes of a page's static copy that failed (each is retried)."}, []string{"page"}),
		written: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lookout_mirror_files_written_total",
			Help: "Files written to a page's mirror (unchanged files are skipped)."}, []string{"page"}),
	}
	if o.Metrics != nil {
		o.Metrics.MustRegister(p.lastSuccess, p.failures, p.written)
	}
	return p
}

// Set replaces the mirrors (on start and on a config reload). A mirror of
// the same page to the same target keeps what is known of it, so nothing
// unchanged is written again.
func (p *Publisher) Set(ms []Mirror) {
	p.mu.Lock()
	p.want, p.set = slices.Clone(ms), true
	p.mu.Unlock()
	p.Notify()
}

// apply makes ms the mirrors, keeping the state of those unchanged.
func (p *Publisher) apply(ms []Mirror) {
	old := map[string]*state{}
	for _, s := range p.mirrors {
		old[s.key] = s
	}
	var next []*state
	for _, m := range ms {
		if m.Interval <= 0 {
			m.Interval = DefaultInterval
		}
		key := m.Page + "\x00" + m.Target.String()
		s := old[key]
		if s == nil {
			s = &state{key: key, targetStr: m.Target.String()}
		}
		s.Mirror = m
		next = append(next, s)
	}
	p.mirrors = next
}

// Notify tells the publisher something may have changed; it never blocks.
func (p *Publisher) Notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Run publishes until ctx is done.
func (p *Publisher) Run(ctx context.Context) error {
	for {
		next := p.publishDue(ctx)
		var t clock.Timer
		var fire <-chan time.Time
		if !next.IsZero() {
			t = p.o.Clock.NewTimer(max(next.Sub(p.o.Clock.Now()), 0))
			fire = t.C()
		}
		select {
		case <-ctx.Done():
		case <-p.wake:
		case <-fire:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// publishDue publishes every mirror whose page changed and whose interval
// (or backoff) has passed. It returns when the next one is due, zero when
// none is waiting.
func (p *Publisher) publishDue(ctx context.Context) time.Time {
	p.mu.Lock()
	want, set := p.want, p.set
	p.want, p.set = nil, false
	p.mu.Unlock()
	if set {
		p.apply(want)
	}
	var next time.Time
	for _, s := range p.mirrors {
		if ctx.Err() != nil {
			return time.Time{}
		}
		log := p.o.Logger.With("component", "mirror", "page", s.Page, "to", s.targetStr)
		snap, err := p.o.Source(ctx, s.Page)
		if errors.Is(err, fs.ErrNotExist) {
			log.Debug("mirror: page not built yet", "err", err)
			continue
		}
		if err != nil {
			log.Warn("mirror: read page", "err", err)
			continue
		}
		if snap.Version == s.version {
			continue
		}
		now := p.o.Clock.Now()
		due := s.due
		if !s.last.IsZero() {
			due = later(due, s.last.Add(s.Interval))
		}
		if now.Before(due) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		s.last = now
		written, err := p.publish(ctx, s, snap)
		if written > 0 {
			p.written.WithLabelValues(s.Page).Add(float64(written))
		}
		if err != nil {
			if ctx.Err() != nil {
				return time.Time{}
			}
			s.fails++
			backoff := min(s.Interval<<min(s.fails-1, 10), max(maxBackoff, s.Interval))
			s.due = now.Add(backoff)
			p.failures.WithLabelValues(s.Page).Inc()
			log.Error("mirror: publish failed; retrying", "version", snap.Version, "retry_in", backoff.String(), "err", err)
			if next.IsZero() || s.due.Before(next) {
				next = s.due
			}
		} else {
			s.version, s.fails, s.due = snap.Version, 0, time.Time{}
			p.lastSuccess.WithLabelValues(s.Page).Set(float64(p.o.Clock.Now().Unix()))
			log.Info("mirror: published", "version", snap.Version, "files_written", written)
		}
		if p.published != nil {
			p.published(s.Page, snap.Version, err)
		}
	}
	return next
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rank orders a publish: assets (named after their content: nothing links
// to them yet), then subpages, then feeds, badges and API documents, then
// summary.json and the index, which link to everything else.
func rank(path string) int {
	switch {
	case path == "index.html":
		return 4
	case path == "api/v2/summary.json":
		return 3
	case strings.HasPrefix(path, "static/"), strings.HasPrefix(path, "theme/"):
		return 0
	case strings.HasSuffix(path, ".html"):
		return 1
	}
	return 2
}

// fingerprint identifies a file's content and headers.
func fingerprint(f File) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", f.ContentType, f.CacheControl)
	h.Write(f.Body)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

type manifest struct {
	Files map[string]string `json:"files"` // path → fingerprint
}

// publish writes snap's files that changed, removes those gone, and
// writes the manifest; it returns how many files it wrote.
func (p *Publisher) publish(ctx context.Context, s *state, snap Snapshot) (int, error) {
	files, err := snap.Files(ctx)
	if err != nil {
		return 0, fmt.Errorf("render: %w", err)
	}
	if !s.loaded {
		s.manifest = map[string]string{}
		b, err := s.Target.Get(ctx, ManifestPath)
		switch {
		case errors.Is(err, ErrNotExist):
		case err != nil:
			return 0, fmt.Errorf("read manifest: %w", err)
		default:
			var m manifest
			if err := json.Unmarshal(b, &m); err != nil {
				p.o.Logger.Warn("mirror: unreadable manifest; rewriting every file", "page", s.Page, "err", err)
			} else if m.Files != nil {
				s.manifest = m.Files
			}
		}
		s.loaded = true
	}
	current := map[string]bool{}
	byRank := make([][]File, 5)
	for _, f := range files {
		if f.Path == ManifestPath || current[f.Path] {
			return 0, fmt.Errorf("file %q: reserved or twice in the copy", f.Path)
		}
		current[f.Path] = true
		r := rank(f.Path)
		byRank[r] = append(byRank[r], f)
	}
	written := 0
	var mu sync.Mutex // guards s.manifest and written during a rank's uploads
	for _, group := range byRank {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(putConcurrency)
		for _, f := range group {
			fp := fingerprint(f)
			mu.Lock()
			same := s.manifest[f.Path] == fp
			mu.Unlock()
			if same {
				continue
			}
			g.Go(func() error {
				if err := s.Target.Put(gctx, f); err != nil {
					return err
				}
				mu.Lock()
				// Recorded as soon as it is there: a later publish then
				// knows to remove it even if this one fails.
				s.manifest[f.Path] = fp
				written++
				mu.Unlock()
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return written, err
		}
	}
	var gone []string
	for path := range s.manifest {
		if !current[path] {
			gone = append(gone, path)
		}
	}
	slices.Sort(gone)
	for _, path := range gone {
		if err := s.Target.Delete(ctx, path); err != nil {
			return written, err
		}
		delete(s.manifest, path)
	}
	b, err := json.Marshal(manifest{Files: s.manifest})
	if err != nil {
		return written, fmt.Errorf("manifest: %w", err)
	}
	if err := s.Target.Put(ctx, File{Path: ManifestPath, ContentType: "application/json", CacheControl: "no-store", Body: b}); err != nil {
		return written, fmt.Errorf("write manifest: %w", err)
	}
	return written, nil
}
