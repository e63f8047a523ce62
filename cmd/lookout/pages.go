package main

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
	"github.com/lookout-status/lookout/mirror"
	"github.com/lookout-status/lookout/store"
	"github.com/lookout-status/lookout/web"
)

// pageSource keeps every public page's data in memory, rebuilt when the
// incident engine publishes a change, the config is reloaded, or (for the
// 90-day bars, from rollups) every few minutes. Page never touches the
// database: visitors read a snapshot.
type pageSource struct {
	db     *store.DB
	eng    *engine.Engine
	clock  clock.Clock
	logger *slog.Logger
	// onChange, if set, is called after the pages were rebuilt.
	onChange func()

	mu     sync.RWMutex
	cfg    *config.Config
	cfgGen int
	byHost map[string]*web.PageData // by host name; "" is the default page
	// byPage holds the pages with a mirror, by "org/page", with their
	// static copy's options.
	byPage map[string]mirroredPage
	// byID holds every page, by "org/page" (mirrorKey), for
	// /pages/{org}/{page}/.
	byID    map[string]*web.PageData
	built   map[string]string // org → version its pages were built at
	days    map[string]map[string][]web.DayStat
	daysAt  time.Time
	daysGen int
}

const daysEvery = 5 * time.Minute

type mirroredPage struct {
	data *web.PageData
	opts web.SiteOptions
}

// mirrorKey names a page to the mirror publisher.
func mirrorKey(org, page string) string { return org + "/" + page }

// mirrorSnapshot implements mirror.Source: the page's version now, and its
// static copy rendered only if the publisher asks for it.
func (p *pageSource) mirrorSnapshot(_ context.Context, key string) (mirror.Snapshot, error) {
	p.mu.RLock()
	mp, ok := p.byPage[key]
	p.mu.RUnlock()
	if !ok {
		return mirror.Snapshot{}, fmt.Errorf("no mirrored page %s: %w", key, fs.ErrNotExist)
	}
	d := *mp.data
	return mirror.Snapshot{Version: d.Version, Files: func(ctx context.Context) ([]mirror.File, error) {
		files, err := web.StaticSite(ctx, d, mp.opts)
		if err != nil {
			return nil, err
		}
		out := make([]mirror.File, len(files))
		for i, f := range files {
			out[i] = mirror.File(f)
		}
		return out, nil
	}}, nil
}

func (p *pageSource) setConfig(cfg *config.Config) {
	p.mu.Lock()
	p.cfg = cfg
	p.cfgGen++
	p.mu.Unlock()
}

// Page implements web.PageSource.
func (p *pageSource) Page(_ context.Context, host string) (web.PageData, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	h := strings.ToLower(host)
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	if d, ok := p.byHost[h]; ok {
		return *d, nil
	}
	if d, ok := p.byHost[""]; ok {
		return *d, nil
	}
	return web.PageData{}, fmt.Errorf("no status page: %w", fs.ErrNotExist)
}

// PageByID implements web.PageFinder: every page of every organization,
// for /pages/{org}/{page}/.
func (p *pageSource) PageByID(_ context.Context, org, page string) (web.PageData, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if d, ok := p.byID[mirrorKey(org, page)]; ok {
		return *d, nil
	}
	return web.PageData{}, fmt.Errorf("no status page %s/%s: %w", org, page, fs.ErrNotExist)
}

// run rebuilds pages when something they show changed.
func (p *pageSource) run(ctx context.Context) error {
	for {
		if err := p.refresh(ctx); err != nil && ctx.Err() == nil {
			p.logger.Error("rebuild status pages", "err", err)
		}
		t := p.clock.NewTimer(time.Second)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}

// refresh rebuilds what is stale; it is cheap when nothing changed.
func (p *pageSource) refresh(ctx context.Context) error {
	now := p.clock.Now()
	p.mu.RLock()
	cfg, cfgGen, daysAt := p.cfg, p.cfgGen, p.daysAt
	p.mu.RUnlock()
	if cfg == nil {
		return nil
	}
	if daysAt.IsZero() || now.Sub(daysAt) >= daysEvery {
		days, err := p.dailyStats(ctx, cfg, now)
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.days, p.daysAt = days, now
		p.daysGen++
		p.mu.Unlock()
	}
	p.mu.RLock()
	daysGen := p.daysGen
	built := p.built
	p.mu.RUnlock()
	byHost := map[string]*web.PageData{}
	byPage := map[string]mirroredPage{}
	byID := map[string]*web.PageData{}
	nextBuilt := map[string]string{}
	changed := false
	for _, org := range cfg.Organizations {
		// Publishing a postmortem goes through the store, not the engine:
		// its own version (one indexed read per second) says when.
		pmv, err := p.db.PostmortemsVersion(ctx, org.ID)
		if err != nil {
			return err
		}
		// So does a message posted to a stored maintenance window.
		mv, err := p.db.MaintenanceWindowsVersion(ctx, org.ID)
		if err != nil {
			return err
		}
		version := fmt.Sprintf("%s-%d-%d-%d-%s-%s", org.ID, cfgGen, p.eng.Version(org.ID), daysGen, pmv, mv)
		nextBuilt[org.ID] = version
		if built[org.ID] == version {
			continue
		}
		changed = true
	}
	if !changed && len(built) == len(nextBuilt) {
		return nil
	}
	for i, org := range cfg.Organizations {
		if len(org.Pages) == 0 {
			// An organization without pages gets one with every public
			// component, named after it.
			org.Pages = []config.Page{{ID: org.ID, Name: org.Name}}
		}
		pages, err := p.buildOrg(ctx, org, nextBuilt[org.ID], now)
		if err != nil {
			return err
		}
		for j, d := range pages {
			page := org.Pages[j]
			// Confirm and unsubscribe links need the page's public URL.
			d.EmailSubscriptions = cfg.SMTP != nil && pageURL(org) != "" && !page.Private
			byID[mirrorKey(org.ID, page.ID)] = d
			if page.Host != "" {
				byHost[strings.ToLower(page.Host)] = d
			}
			if i == 0 && j == 0 {
				byHost[""] = d
			}
			if page.Mirror != nil {
				byPage[mirrorKey(org.ID, page.ID)] = mirroredPage{data: d, opts: web.SiteOptions{BaseURL: page.Mirror.BaseURL}}
			}
		}
	}
	p.mu.Lock()
	p.byHost, p.byPage, p.byID, p.built = byHost, byPage, byID, nextBuilt
	onChange := p.onChange
	p.mu.Unlock()
	if onChange != nil {
		onChange()
	}
	return nil
}

// buildOrg builds each page of an organization.
func (p *pageSource) buildOrg(ctx context.Context, org config.Organization, version string, now time.Time) ([]*web.PageData, error) {
	st, _ := p.eng.State(org.ID)
	recs, err := p.db.Incidents(ctx, org.ID, store.IncidentFilter{Status: store.AllIncidents, Since: now.AddDate(0, 0, -90), PublishedOnly: true, Limit: 500})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	// Only published postmortems, as Markdown: web renders and sanitises
	// them once per page version.
	postmortems, err := p.db.PublishedPostmortems(ctx, org.ID, ids)
	if err != nil {
		return nil, err
	}
	var incs []web.PageIncident
	for _, r := range recs {
		tl, err := p.db.Timeline(ctx, org.ID, r.ID)
		if err != nil {
			return nil, err
		}
		inc := pageIncident(r, tl)
		inc.Postmortem = postmortems[r.ID]
		incs = append(incs, inc)
	}
	mrecs, err := p.db.Maintenances(ctx, org.ID, now.AddDate(0, 0, -14))
	if err != nil {
		return nil, err
	}
	var mains []web.PageMaintenance
	for _, m := range mrecs {
		if m.Status == incidents.MaintenanceCancelled {
			continue
		}
		pm := web.PageMaintenance{
			ID: m.ID, Name: m.Title, Status: m.Status, Components: m.Components,
			ScheduledFor: m.Start, ScheduledUntil: m.End, CreatedAt: m.UpdatedAt, UpdatedAt: m.UpdatedAt,
		}
		// Windows scheduled through the API carry their messages.
		us, err := p.db.MaintenanceUpdates(ctx, org.ID, m.ID)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			if u.Body != "" {
				pm.Updates = append(pm.Updates, web.IncidentUpdate{ID: fmt.Sprintf("%s-%d", m.ID, u.Seq), Status: string(u.Status), Body: u.Body, At: u.At})
			}
		}
		mains = append(mains, pm)
	}
	p.mu.RLock()
	days := p.days[org.ID]
	p.mu.RUnlock()
	var out []*web.PageData
	for _, page := range org.Pages {
		show := map[string]bool{}
		for _, id := range page.Components {
			show[id] = true
		}
		d := &web.PageData{
			Version: version + "-" + page.ID, AsOf: now,
			Org: org.ID, Private: page.Private,
			ID: page.ID, Name: page.Name, URL: page.URL, Logo: page.Logo, Accent: page.Accent,
			TimeZone: "Etc/UTC", UpdatedAt: now,
			Incidents: incs, Maintenances: mains,
		}
		perDay := map[string]map[time.Time]int{}
		for _, inc := range incs {
			day := inc.StartedAt.UTC().Truncate(24 * time.Hour)
			for _, c := range inc.Components {
				if perDay[c] == nil {
					perDay[c] = map[time.Time]int{}
				}
				perDay[c][day]++
			}
		}
		for _, c := range org.Components {
			if len(show) > 0 && !show[c.ID] {
				continue
			}
			status := incidents.Operational
			if sc, ok := st.Components[c.ID]; ok && sc.Status != "" {
				status = sc.Status
			}
			d.Components = append(d.Components, web.PageComponent{
				ID: c.ID, Name: c.Name, Description: c.Description, Group: c.Group,
				Status: status, Private: c.Private || page.Private, Days: withIncidents(days[c.ID], perDay[c.ID]),
			})
		}
		out = append(out, d)
	}
	return out, nil
}

// pageIncident turns a stored incident and its timeline into the public
// view: only public entries (opened, updates, resolution) become updates.
func pageIncident(r store.IncidentRecord, tl []incidents.Entry) web.PageIncident {
	pi := web.PageIncident{
		ID: r.ID, Name: r.Title, Status: r.Public, Impact: r.Impact, Components: r.Components,
		CreatedAt: r.StartedAt, UpdatedAt: r.UpdatedAt, StartedAt: r.StartedAt, ResolvedAt: r.EndedAt,
	}
	if r.Lifecycle == incidents.Resolved && pi.Status != incidents.PublicResolved {
		pi.Status = incidents.PublicResolved
	}
	for _, e := range tl {
		u := web.IncidentUpdate{ID: fmt.Sprintf("%s-%d", r.ID, e.Seq), At: e.At}
		switch e.Kind {
		case "opened":
			u.Status, u.Body = string(incidents.Investigating), "We are investigating this issue."
		case "update":
			u.Status, u.Body = e.To, e.Body
			if e.To == string(incidents.Monitoring) && pi.MonitoringAt.IsZero() {
				pi.MonitoringAt = e.At
			}
		case "resolved":
			u.Status, u.Body = string(incidents.PublicResolved), e.Body
			if u.Body == "" {
				u.Body = "This incident has been resolved."
			}
		default:
			continue
		}
		pi.Updates = append(pi.Updates, u)
	}
	return pi
}

// dailyStats sums each component's probes' daily rollups over 90 days.
func (p *pageSource) dailyStats(ctx context.Context, cfg *config.Config, now time.Time) (map[string]map[string][]web.DayStat, error) {
	from := now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -89)
	out := map[string]map[string][]web.DayStat{}
	for _, org := range cfg.Organizations {
		byComp := map[string]map[time.Time]*web.DayStat{}
		for _, pr := range org.Probes {
			stats, err := p.db.DailyStats(ctx, org.ID, pr.ID, from, now)
			if err != nil {
				return nil, fmt.Errorf("daily stats of %s/%s: %w", org.ID, pr.ID, err)
			}
			m := byComp[pr.Component]
			if m == nil {
				m = map[time.Time]*web.DayStat{}
				byComp[pr.Component] = m
			}
			for _, s := range stats {
				d := m[s.Day]
				if d == nil {
					d = &web.DayStat{Day: s.Day}
					m[s.Day] = d
				}
				d.Checks += s.Count
				d.Down += s.Down
				// A component's response time is its slowest probe's.
				d.P50, d.P95 = max(d.P50, s.P50), max(d.P95, s.P95)
				d.Worst = worstOf(d.Worst, dayStatus(s))
			}
		}
		out[org.ID] = map[string][]web.DayStat{}
		for comp, m := range byComp {
			var days []web.DayStat
			for day := from; !day.After(now); day = day.AddDate(0, 0, 1) {
				if d, ok := m[day]; ok {
					days = append(days, *d)
				}
			}
			out[org.ID][comp] = days
		}
	}
	return out, nil
}

func dayStatus(s store.DayStat) incidents.ComponentStatus {
	switch {
	case s.Count == 0:
		return ""
	case s.Down*2 > s.Count:
		return incidents.MajorOutage
	case s.Down > 0:
		return incidents.PartialOutage
	case s.Degraded > 0:
		return incidents.DegradedPerformance
	}
	return incidents.Operational
}

func worstOf(a, b incidents.ComponentStatus) incidents.ComponentStatus {
	rank := map[incidents.ComponentStatus]int{"": 0, incidents.Operational: 1, incidents.DegradedPerformance: 2, incidents.PartialOutage: 3, incidents.MajorOutage: 4}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// withIncidents returns days with each day's incident count filled in.
func withIncidents(days []web.DayStat, counts map[time.Time]int) []web.DayStat {
	if len(counts) == 0 {
		return days
	}
	out := append([]web.DayStat(nil), days...)
	for i := range out {
		out[i].Incidents = counts[out[i].Day]
	}
	return out
}
