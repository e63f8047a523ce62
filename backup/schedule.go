package backup

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/clock"
)

// StaleAfter is how old the newest good backup may get before Lookout
// raises an incident on itself.
const StaleAfter = 12 * time.Hour

// retryAfter bounds the wait before retrying a failed backup.
const retryAfter = 30 * time.Minute

// ScheduleOptions configure a Scheduler.
type ScheduleOptions struct {
	Backup Options // Backup.Now is set from Clock
	Every  time.Duration
	Clock  clock.Clock
	// Stale is called when the newest good backup becomes older than
	// StaleAfter (firing, with since the moment it did) and again when a
	// backup succeeds after that (resolved, with the same since).
	Stale   func(ctx context.Context, firing bool, since, last time.Time)
	Metrics prometheus.Registerer
	Logger  *slog.Logger
}

// Scheduler takes backups every Every inside `lookout serve`.
type Scheduler struct {
	o        ScheduleOptions
	last     prometheus.Gauge
	size     prometheus.Gauge
	duration prometheus.Gauge
	failures prometheus.Counter
}

// NewScheduler registers the backup metrics and returns a Scheduler.
func NewScheduler(o ScheduleOptions) *Scheduler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	o.Backup.Now = o.Clock.Now
	s := &Scheduler{
		o: o,
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lookout_backup_last_success_timestamp_seconds",
			Help: "Unix time of the newest good backup (0: none yet)."}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lookout_backup_size_bytes",
			Help: "Size of the newest good backup as stored (compressed, encrypted)."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lookout_backup_duration_seconds",
			Help: "How long the last backup attempt took, verification included."}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "lookout_backup_failures_total",
			Help: "Backup attempts that failed."}),
	}
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.last, s.size, s.duration, s.failures)
	}
	return s
}

// Run takes backups until ctx is done. The first runs one interval after
// the newest backup already at the destination (at once if there is none
// or it is overdue); a failed one is retried after at most 30 minutes.
func (s *Scheduler) Run(ctx context.Context) error {
	o, clk, log := s.o, s.o.Clock, s.o.Logger.With("component", "backup", "to", s.o.Backup.To.String())
	start := clk.Now()
	var last time.Time
	if ms, err := List(ctx, o.Backup.To); err != nil {
		log.Warn("list existing backups", "err", err)
	} else if len(ms) > 0 {
		last = ms[0].CreatedAt
		s.last.Set(float64(last.Unix()))
		s.size.Set(float64(ms[0].Size))
	}
	next := start
	if !last.IsZero() && last.Add(o.Every).After(start) {
		next = last.Add(o.Every)
	}
	var (
		firing bool
		since  time.Time
	)
	for {
		now := clk.Now()
		if !now.Before(next) {
			t0 := clk.Now()
			m, err := Create(ctx, o.Backup)
			if ctx.Err() != nil {
				return nil
			}
			now = clk.Now()
			s.duration.Set(now.Sub(t0).Seconds())
			if err != nil {
				s.failures.Inc()
				log.Error("backup failed", "err", err)
				next = now.Add(min(o.Every, retryAfter))
			} else {
				last = m.CreatedAt
				s.last.Set(float64(last.Unix()))
				s.size.Set(float64(m.Size))
				log.Info("backup done", "file", m.File, "size_bytes", m.Size, "duration", now.Sub(t0))
				next = now.Add(o.Every)
				if firing {
					firing = false
					if o.Stale != nil {
						o.Stale(ctx, false, since, last)
					}
				}
			}
		}
		ref := last
		if ref.IsZero() {
			ref = start // no backup yet: count from when this process started
		}
		staleAt := ref.Add(StaleAfter)
		if !firing && now.After(staleAt) {
			firing, since = true, staleAt
			log.Error("newest good backup is stale", "last", last, "stale_after", StaleAfter)
			if o.Stale != nil {
				o.Stale(ctx, true, since, last)
			}
		}
		wake := next
		if !firing && staleAt.Before(wake) {
			wake = staleAt.Add(time.Second) // strictly after: "older than 12 h"
		}
		t := clk.NewTimer(wake.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C():
		}
	}
}
