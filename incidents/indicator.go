package incidents

// Indicator is a status page's overall state, as Statuspage's status.json
// names it ("maintenance" when something is under maintenance and nothing
// is broken, as Statuspage itself sends).
type Indicator string

// The indicators, from best to worst.
const (
	IndicatorNone        Indicator = "none"
	IndicatorMaintenance Indicator = "maintenance"
	IndicatorMinor       Indicator = "minor"
	IndicatorMajor       Indicator = "major"
	IndicatorCritical    Indicator = "critical"
)

// Description is the banner a visitor reads.
func (i Indicator) Description() string {
	switch i {
	case IndicatorMaintenance:
		return "Service Under Maintenance"
	case IndicatorMinor:
		return "Minor Service Outage"
	case IndicatorMajor:
		return "Partial System Outage"
	case IndicatorCritical:
		return "Major Service Outage"
	}
	return "All Systems Operational"
}

func (i Indicator) rank() int {
	switch i {
	case IndicatorMaintenance:
		return 1
	case IndicatorMinor:
		return 2
	case IndicatorMajor:
		return 3
	case IndicatorCritical:
		return 4
	}
	return 0
}

// PageIndicator is the overall state of a page showing components with
// these statuses and open published incidents with these impacts (both
// public only). Degraded performance is a minor outage; one component in a
// partial or major outage among working ones is a partial system outage;
// only when every component is in a major outage, or an incident is
// critical, is it a major service outage. Maintenance shows only when
// nothing is broken.
func PageIndicator(components []ComponentStatus, impacts []Impact) Indicator {
	worst := IndicatorNone
	raise := func(i Indicator) {
		if i.rank() > worst.rank() {
			worst = i
		}
	}
	allMajor := len(components) > 0
	for _, c := range components {
		if c != MajorOutage {
			allMajor = false
		}
		switch c {
		case DegradedPerformance:
			raise(IndicatorMinor)
		case PartialOutage, MajorOutage:
			raise(IndicatorMajor)
		case UnderMaintenance:
			raise(IndicatorMaintenance)
		}
	}
	if allMajor {
		raise(IndicatorCritical)
	}
	for _, im := range impacts {
		switch im {
		case ImpactMinor:
			raise(IndicatorMinor)
		case ImpactMajor:
			raise(IndicatorMajor)
		case ImpactCritical:
			raise(IndicatorCritical)
		}
	}
	return worst
}
