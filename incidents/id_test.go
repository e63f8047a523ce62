package incidents

import "testing"

func TestIncidentOrg(t *testing.T) {
	tests := []struct {
		id, org string
		ok      bool
	}{
		{"acme-1", "acme", true},
		{"acme-corp-12", "acme-corp", true},
		{"a-b-3", "a-b", true},
		{incidentID("globex", 40), "globex", true},
		{"42", "", false},
		{"acme-", "", false},
		{"-1", "", false},
		{"acme-1a", "", false},
		{"INC-x", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			org, ok := IncidentOrg(tc.id)
			if org != tc.org || ok != tc.ok {
				t.Errorf("IncidentOrg(%q): got %q, %v; want %q, %v", tc.id, org, ok, tc.org, tc.ok)
			}
		})
	}
}
