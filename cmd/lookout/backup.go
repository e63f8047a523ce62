package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/lookout-status/lookout/backup"
	"github.com/lookout-status/lookout/clock"
	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/incidents"
	"github.com/lookout-status/lookout/incidents/engine"
)

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("backup", stderr)
	data := fs.String("data", "./data", "data directory (holds lookout.db)")
	to := fs.String("to", "", "where to put the backup: a directory or s3://bucket/prefix (S3 endpoint and credentials from LOOKOUT_BACKUP_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)")
	recipient := fs.String("age-recipient", getenv("LOOKOUT_BACKUP_AGE_RECIPIENT"), "encrypt to this age public key (age1…; default $LOOKOUT_BACKUP_AGE_RECIPIENT)")
	keep := fs.String("keep", "", "after the backup, prune to HOURLY,DAILY,MONTHLY (e.g. 24,14,6); empty: keep everything")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *to == "" {
		fmt.Fprintln(stderr, "lookout backup: --to is required")
		return errUsage
	}
	o := backup.Options{DataDir: *data}
	var err error
	if o.To, err = backup.OpenDestination(*to, getenv); err != nil {
		return err
	}
	if *recipient != "" {
		r, err := age.ParseX25519Recipient(*recipient)
		if err != nil {
			return fmt.Errorf("--age-recipient: not an age X25519 public key (age1…)")
		}
		o.Recipients = []age.Recipient{r}
	}
	if *keep != "" {
		if o.Keep, err = parseKeep(*keep); err != nil {
			return err
		}
	}
	if _, err := os.Stat(*data + "/" + backup.DBFile); err != nil {
		return fmt.Errorf("backup: no database in %s: %w", *data, err)
	}
	start := time.Now()
	m, err := backup.Create(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup %s: %d bytes (database %d bytes), sha256 %s, schema %d, verified, in %s, to %s\n",
		m.File, m.Size, m.DBSize, m.SHA256, m.SchemaVersion, time.Since(start).Round(time.Millisecond), o.To)
	return nil
}

func parseKeep(s string) (backup.Keep, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 3 {
		return backup.Keep{}, fmt.Errorf("--keep %q: want HOURLY,DAILY,MONTHLY, e.g. 24,14,6", s)
	}
	var n [3]int
	for i, p := range parts {
		v, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || v < 0 {
			return backup.Keep{}, fmt.Errorf("--keep %q: want HOURLY,DAILY,MONTHLY, e.g. 24,14,6", s)
		}
		n[i] = v
	}
	return backup.Keep{Hourly: n[0], Daily: n[1], Monthly: n[2]}, nil
}

func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("restore", stderr)
	from := fs.String("from", "", "where the backups are: a directory or s3://bucket/prefix")
	data := fs.String("data", "./data", "data directory to restore lookout.db into (lookout must not be running on it)")
	name := fs.String("backup", "", "the backup to restore (e.g. lookout-20260301T060000.000Z); default: the newest good one")
	idFile := fs.String("age-identity", "", "file with the age identity (AGE-SECRET-KEY-…) for encrypted backups; default $LOOKOUT_BACKUP_AGE_IDENTITY")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *from == "" {
		fmt.Fprintln(stderr, "lookout restore: --from is required")
		return errUsage
	}
	src, err := backup.OpenDestination(*from, getenv)
	if err != nil {
		return err
	}
	o := backup.RestoreOptions{From: src, DataDir: *data, Name: *name, Log: stdout}
	var ids io.Reader
	if *idFile != "" {
		f, err := os.Open(*idFile)
		if err != nil {
			return fmt.Errorf("--age-identity: %w", err)
		}
		defer f.Close()
		ids = f
	} else if v := getenv("LOOKOUT_BACKUP_AGE_IDENTITY"); v != "" {
		ids = strings.NewReader(v)
	}
	if ids != nil {
		if o.Identities, err = age.ParseIdentities(ids); err != nil {
			return errors.New("age identity: not an age identity (AGE-SECRET-KEY-…)") // never echo the key
		}
	}
	res, err := backup.Restore(ctx, o)
	if err != nil {
		return err
	}
	m := res.Manifest
	fmt.Fprintf(stdout, "restored %s (made %s by lookout %s, schema %d) into %s/%s; integrity check ok\n",
		m.File, m.CreatedAt.Format(time.RFC3339), m.LookoutVersion, m.SchemaVersion, *data, backup.DBFile)
	if res.MovedAside != "" {
		fmt.Fprintf(stdout, "the previous database is kept at %s\n", res.MovedAside)
	}
	return nil
}

// staleFingerprint identifies the incident Lookout raises on itself when
// its backups are stale.
const staleFingerprint = "lookout-backup-stale"

// staleBackupEvent is the alert Lookout submits about its own backups:
// firing when the newest good backup got older than 12 hours (since), and
// resolved, for the same occurrence, when a backup succeeds again.
func staleBackupEvent(firing bool, since, last time.Time, to string) incidents.ExternalAlert {
	status := incidents.AlertResolved
	if firing {
		status = incidents.AlertFiring
	}
	lastText := "none yet"
	if !last.IsZero() {
		lastText = last.UTC().Format(time.RFC3339)
	}
	return incidents.ExternalAlert{
		Fingerprint: staleFingerprint,
		Status:      status,
		Labels:      map[string]string{"alertname": "LookoutBackupStale", "source": "lookout", "destination": to},
		Summary:     fmt.Sprintf("Lookout backups are stale: the newest good backup (%s) is older than %s", lastText, backup.StaleAfter),
		StartsAt:    since,
	}
}

// newBackupScheduler returns the scheduled-backup loop for cfg.Backup (nil
// if the config has none). Stale backups raise an incident in the first
// organization. The schedule is read at start; a reload does not change it.
func newBackupScheduler(cfg *config.Config, data string, getenv func(string) string, clk clock.Clock, eng *engine.Engine, reg prometheus.Registerer, logger *slog.Logger) (*backup.Scheduler, error) {
	b := cfg.Backup
	if b == nil {
		return nil, nil
	}
	to, err := backup.OpenDestination(b.To, getenv)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	o := backup.Options{DataDir: data, To: to, Keep: backup.Keep{Hourly: b.Keep.Hourly, Daily: b.Keep.Daily, Monthly: b.Keep.Monthly}}
	if b.AgeRecipient != "" {
		r, err := age.ParseX25519Recipient(b.AgeRecipient)
		if err != nil {
			return nil, fmt.Errorf("backup.age_recipient: %w", err)
		}
		o.Recipients = []age.Recipient{r}
	}
	org := cfg.Organizations[0].ID
	return backup.NewScheduler(backup.ScheduleOptions{
		Backup:  o,
		Every:   b.Every,
		Clock:   clk,
		Metrics: reg,
		Logger:  logger,
		Stale: func(ctx context.Context, firing bool, since, last time.Time) {
			if err := eng.Submit(ctx, org, staleBackupEvent(firing, since, last, to.String())); err != nil {
				logger.Error("submit stale-backup alert", "org", org, "err", err)
			}
		},
	}), nil
}
