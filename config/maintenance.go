package config

import (
	"time"
)

// Maintenance is a scheduled maintenance window over components: inside
// it they show under_maintenance, nothing pages and no incident opens.
type Maintenance struct {
	ID         string
	Title      string
	Components []string
	Start, End time.Time
}

type fileMaintenance struct {
	ID         string   `yaml:"id"`
	Title      string   `yaml:"title"`
	Components []string `yaml:"components"`
	Start      string   `yaml:"start"`
	End        string   `yaml:"end"`
	TimeZone   string   `yaml:"time_zone"`
}

// maintenances checks the organization's maintenance windows.
func (l *loader) maintenances(fms []fileMaintenance, path string, comps map[string]string, compList []string, compsOK bool) []Maintenance {
	var out []Maintenance
	ids := map[string]string{}
	for i, fm := range fms {
		mp := joinIndex(path, i)
		l.checkID("maintenance", fm.ID, mp, ids)
		m := Maintenance{ID: fm.ID, Title: fm.Title, Components: fm.Components}
		if m.Title == "" {
			l.errf(mp+".title", "required: visitors read it on the status page")
		}
		l.checkText(mp+".title", m.Title)
		if len(m.Components) == 0 {
			l.errf(mp+".components", "list at least one component")
		}
		for j, c := range m.Components {
			if _, ok := comps[c]; !ok && compsOK {
				l.unknownComponent(joinIndex(mp+".components", j), c, compList)
			}
		}
		loc := time.UTC
		if fm.TimeZone != "" {
			z, err := time.LoadLocation(fm.TimeZone)
			if err != nil || fm.TimeZone == "Local" {
				l.errf(mp+".time_zone", "unknown time zone %q (use an IANA name such as Europe/Berlin)", fm.TimeZone)
			} else {
				loc = z
			}
		}
		start, okS := l.wallTime(mp+".start", fm.Start, loc)
		end, okE := l.wallTime(mp+".end", fm.End, loc)
		if okS && okE && !end.After(start) {
			l.errf(mp+".end", "must be after start (%s)", fm.Start)
		}
		m.Start, m.End = start, end
		out = append(out, m)
	}
	return out
}
