package incidents

import "testing"

func TestPageIndicator(t *testing.T) {
	cases := []struct {
		name    string
		comps   []ComponentStatus
		impacts []Impact
		want    Indicator
		banner  string
	}{
		{"all up", []ComponentStatus{Operational, Operational}, nil, IndicatorNone, "All Systems Operational"},
		{"nothing shown", nil, nil, IndicatorNone, "All Systems Operational"},
		{"degraded", []ComponentStatus{Operational, DegradedPerformance}, nil, IndicatorMinor, "Minor Service Outage"},
		{"storage down, sync degraded", []ComponentStatus{Operational, DegradedPerformance, MajorOutage}, nil, IndicatorMajor, "Partial System Outage"},
		{"partial", []ComponentStatus{PartialOutage, Operational}, nil, IndicatorMajor, "Partial System Outage"},
		{"everything down", []ComponentStatus{MajorOutage, MajorOutage}, nil, IndicatorCritical, "Major Service Outage"},
		{"maintenance only", []ComponentStatus{UnderMaintenance, Operational}, nil, IndicatorMaintenance, "Service Under Maintenance"},
		{"maintenance and degraded", []ComponentStatus{UnderMaintenance, DegradedPerformance}, nil, IndicatorMinor, "Minor Service Outage"},
		{"critical incident", []ComponentStatus{Operational}, []Impact{ImpactCritical}, IndicatorCritical, "Major Service Outage"},
		{"minor incident", []ComponentStatus{Operational}, []Impact{ImpactMinor, ImpactNone}, IndicatorMinor, "Minor Service Outage"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := PageIndicator(tc.comps, tc.impacts)
			if got != tc.want || got.Description() != tc.banner {
				t.Fatalf("got %s %q, want %s %q", got, got.Description(), tc.want, tc.banner)
			}
		})
	}
}
