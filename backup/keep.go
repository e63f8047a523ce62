package backup

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// Keep is the retention policy, grandfather-father-son style: a backup is
// kept when it is the newest backup of one of the Hourly most recent hours
// that have a backup, of one of the Daily most recent days, or of one of the
// Monthly most recent months (UTC). The newest backup is always kept.
// With every: 6h, Hourly 24 keeps six days of every backup.
type Keep struct {
	Hourly  int
	Daily   int
	Monthly int
}

// DefaultKeep is the policy used when the config names none.
var DefaultKeep = Keep{Hourly: 24, Daily: 14, Monthly: 6}

func (k Keep) zero() bool { return k.Hourly <= 0 && k.Daily <= 0 && k.Monthly <= 0 }

// retained returns which of the backup times the policy keeps. Pure.
func (k Keep) retained(times []time.Time) map[time.Time]bool {
	sorted := append([]time.Time(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].After(sorted[j]) })
	keep := map[time.Time]bool{}
	if len(sorted) == 0 {
		return keep
	}
	keep[sorted[0]] = true
	bucket := func(n int, key func(time.Time) string) {
		seen := map[string]bool{}
		for _, t := range sorted {
			if len(seen) >= n {
				return
			}
			b := key(t.UTC())
			if !seen[b] {
				seen[b] = true
				keep[t] = true
			}
		}
	}
	bucket(k.Hourly, func(t time.Time) string { return t.Format("2006010215") })
	bucket(k.Daily, func(t time.Time) string { return t.Format("20060102") })
	bucket(k.Monthly, func(t time.Time) string { return t.Format("200601") })
	return keep
}

// Prune deletes the backups in to that k does not keep, and the leftovers
// of incomplete backups (an artifact without a manifest) older than the
// newest complete one. It returns the names deleted.
func Prune(ctx context.Context, to Destination, k Keep) ([]string, error) {
	names, err := to.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	complete := map[string]time.Time{} // base -> time, for bases with a manifest
	var times []time.Time
	for _, n := range names {
		base, t, ok := parseBase(n)
		if ok && n == base+".json" {
			complete[base] = t
			times = append(times, t)
		}
	}
	keep := k.retained(times)
	var newest time.Time
	for _, t := range times {
		if t.After(newest) {
			newest = t
		}
	}
	var deleted []string
	// Manifests go first: a backup is never left looking complete without
	// its artifact (an orphaned artifact is deleted by the next prune).
	var artifacts []string
	for _, n := range names {
		base, t, ok := parseBase(n)
		if !ok {
			continue
		}
		_, isComplete := complete[base]
		drop := (isComplete && !keep[t]) || (!isComplete && t.Before(newest))
		if !drop {
			continue
		}
		if n != base+".json" {
			artifacts = append(artifacts, n)
			continue
		}
		if err := to.Delete(ctx, n); err != nil {
			return deleted, fmt.Errorf("prune: %w", err)
		}
		deleted = append(deleted, n)
	}
	for _, n := range artifacts {
		if err := to.Delete(ctx, n); err != nil {
			return deleted, fmt.Errorf("prune: %w", err)
		}
		deleted = append(deleted, n)
	}
	return deleted, nil
}
