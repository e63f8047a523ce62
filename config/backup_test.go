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

func TestSMTP(t *testing.T) {
	org := "organizations:\n  - id: acme\n    components: [{id: api}]\n"
	env := envMap(map[string]string{"SMTP_PASSWORD": "pw-value"})
	for _, tc := range []struct {
		name, yaml string
		want       *SMTP
	}{
		{"absent", org, nil},
		{"defaults", "smtp:\n  host: smtp.example.net\n  from: status@example.net\n" + org,
			&SMTP{Host: "smtp.example.net", Port: 587, From: "status@example.net", TLS: "starttls", Timeout: DefaultSMTPTimeout}},
		{"implicit tls with login", "smtp:\n  host: smtp.example.net\n  username: lookout\n  password: ${SMTP_PASSWORD}\n  from: \"Acme Status <status@example.net>\"\n  tls: tls\n  timeout: 10s\n" + org,
			&SMTP{Host: "smtp.example.net", Port: 465, Username: "lookout", Password: "pw-value", From: "Acme Status <status@example.net>", TLS: "tls", Timeout: 10 * time.Second}},
		{"local relay", "smtp: {host: 127.0.0.1, port: 2525, from: status@example.net, tls: none}\n" + org,
			&SMTP{Host: "127.0.0.1", Port: 2525, From: "status@example.net", TLS: "none", Timeout: DefaultSMTPTimeout}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := parseTest("t.yaml", []byte(tc.yaml), env)
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.SMTP == nil) != (tc.want == nil) || (cfg.SMTP != nil && *cfg.SMTP != *tc.want) {
				t.Errorf("got %+v, want %+v", cfg.SMTP, tc.want)
			}
		})
	}
}
