package main

import (
	"fmt"

	"github.com/lookout-status/lookout/config"
	"github.com/lookout-status/lookout/mirror"
)

// mirrorsOf lists the config's page mirrors for the publisher.
func mirrorsOf(cfg *config.Config) ([]mirror.Mirror, error) {
	var out []mirror.Mirror
	for _, org := range cfg.Organizations {
		for _, page := range org.Pages {
			m := page.Mirror
			if m == nil {
				continue
			}
			target, err := mirror.Open(m.To, mirror.S3Options{
				Endpoint: m.Endpoint, Region: m.Region,
				AccessKeyID: m.AccessKeyID.Reveal(), SecretAccessKey: m.SecretAccessKey.Reveal(),
			})
			if err != nil {
				return nil, fmt.Errorf("mirror of page %s/%s: %w", org.ID, page.ID, err)
			}
			out = append(out, mirror.Mirror{Page: mirrorKey(org.ID, page.ID), Target: target, Interval: m.Interval})
		}
	}
	return out, nil
}
