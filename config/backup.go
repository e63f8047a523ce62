package config

import (
	"strings"
	"time"

	"filippo.io/age"
)

// Backup limits and defaults.
const (
	DefaultBackupEvery = 6 * time.Hour
	// MaxBackupEvery keeps a scheduled backup inside the 12 hours after
	// which Lookout raises an incident about stale backups.
	MaxBackupEvery = 12 * time.Hour
	MinBackupEvery = time.Minute
)

// Backup schedules backups inside `lookout serve` (the top-level backup:
// section; nil when absent).
type Backup struct {
	// To is a directory or s3://bucket/prefix (endpoint and credentials from
	// LOOKOUT_BACKUP_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY).
	To    string
	Every time.Duration
	// Keep: the newest backup of each of the last Hourly hours, Daily days
	// and Monthly months that have one (defaults 24, 14, 6).
	Keep BackupKeep
	// AgeRecipient, if set, encrypts backups (an age1… public key).
	AgeRecipient string
}

// BackupKeep is the retention policy.
type BackupKeep struct {
	Hourly, Daily, Monthly int
}

type fileBackup struct {
	To           string         `yaml:"to"`
	Every        *time.Duration `yaml:"every"`
	Keep         fileBackupKeep `yaml:"keep"`
	AgeRecipient string         `yaml:"age_recipient"`
}

type fileBackupKeep struct {
	Hourly  *int `yaml:"hourly"`
	Daily   *int `yaml:"daily"`
	Monthly *int `yaml:"monthly"`
}

func (l *loader) backup(fb *fileBackup) *Backup {
	if fb == nil {
		return nil
	}
	b := &Backup{
		To:    fb.To,
		Every: orDefault(fb.Every, DefaultBackupEvery),
		Keep: BackupKeep{
			Hourly:  orDefault(fb.Keep.Hourly, 24),
			Daily:   orDefault(fb.Keep.Daily, 14),
			Monthly: orDefault(fb.Keep.Monthly, 6),
		},
		AgeRecipient: fb.AgeRecipient,
	}
	switch {
	case b.To == "":
		l.errf("backup.to", "required: a directory or s3://bucket/prefix")
	case strings.Contains(b.To, "://") && !strings.HasPrefix(b.To, "s3://"):
		l.errf("backup.to", "want a directory or s3://bucket/prefix, got %q", b.To)
	case b.To == "s3://" || strings.HasPrefix(b.To, "s3:///"):
		l.errf("backup.to", "s3:// needs a bucket: s3://bucket/prefix")
	}
	if b.Every > MaxBackupEvery {
		l.errf("backup.every", "must be at most %s (Lookout raises an incident when the newest backup is older than 12h), got %s", fmtDur(MaxBackupEvery), fmtDur(b.Every))
	} else if b.Every < MinBackupEvery {
		l.errf("backup.every", "must be at least %s, got %s", fmtDur(MinBackupEvery), fmtDur(b.Every))
	}
	for _, k := range []struct {
		name string
		n    int
	}{{"hourly", b.Keep.Hourly}, {"daily", b.Keep.Daily}, {"monthly", b.Keep.Monthly}} {
		if k.n < 0 {
			l.errf("backup.keep."+k.name, "must be 0 or more, got %d", k.n)
		}
	}
	if b.AgeRecipient != "" {
		if _, err := age.ParseX25519Recipient(b.AgeRecipient); err != nil || strings.HasPrefix(b.AgeRecipient, "AGE-SECRET-KEY") {
			l.errf("backup.age_recipient", "not an age X25519 public key (age1…)")
		}
	}
	return b
}
