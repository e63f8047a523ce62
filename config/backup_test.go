package config

import (
	"testing"
	"time"
)

func TestBackupSection(t *testing.T) {
	const org = "organizations:\n  - id: acme\n    name: Acme\n    components:\n      - {id: api}\n"
	for _, tc := range []struct {
		name, yaml string
		want       *Backup
	}{
		{"absent", org, nil},
		{"defaults", "backup:\n  to: s3://bucket/lookout\n" + org,
			&Backup{To: "s3://bucket/lookout", Every: 6 * time.Hour, Keep: BackupKeep{Hourly: 24, Daily: 14, Monthly: 6}}},
		{"explicit", "backup:\n  to: /var/backups/lookout\n  every: 12h\n  keep: {hourly: 0, daily: 7, monthly: 12}\n  age_recipient: age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n" + org,
			&Backup{To: "/var/backups/lookout", Every: 12 * time.Hour, Keep: BackupKeep{Daily: 7, Monthly: 12},
				AgeRecipient: "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse("lookout.yaml", []byte(tc.yaml), nil)
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.Backup == nil) != (tc.want == nil) || cfg.Backup != nil && *cfg.Backup != *tc.want {
				t.Errorf("got %+v, want %+v", cfg.Backup, tc.want)
			}
		})
	}
}
