package slack

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/lookout-status/lookout/notify"
)

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{48 * time.Minute, "48m"},
		{2 * time.Hour, "2h"},
		{2*time.Hour + 5*time.Minute + 30*time.Second, "2h 5m"},
		{3*24*time.Hour + 4*time.Hour, "3d 4h"},
		{48 * time.Hour, "2d"},
	}
	for _, tc := range tests {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v): got %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestEscTruncNeverSplitsAnEntity(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"a<b", 10, "a&lt;b"},
		{"<<<", 9, "&lt;&lt;…"},
		{"ab<cd", 5, "ab…"},
		{"héllo wörld", 6, "héllo…"},
	}
	for _, tc := range tests {
		if got := escTrunc(tc.in, tc.n); got != tc.want {
			t.Errorf("escTrunc(%q, %d): got %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

// Slack refuses a message whose blocks break its limits, which would turn one
// long probe error into a lost page.
func TestRenderStaysWithinSlackLimits(t *testing.T) {
	inc := testIncident()
	inc.Title = strings.Repeat("Ω&", 300)
	inc.Summary = strings.Repeat("<", 5000)
	inc.AcknowledgedBy = strings.Repeat("x", 5000)
	inc.Status = "acknowledged"
	inc.Components = nil
	for i := range 40 {
		inc.Components = append(inc.Components, notify.Component{Name: strings.Repeat("c", 300), Status: "partial_outage", ID: string(rune('a' + i))})
	}
	blocks, text := render(notify.Message{Incident: inc}, "")
	if n := utf8.RuneCountInString(text); n > maxFallback {
		t.Errorf("fallback text: got %d runes, want at most %d", n, maxFallback)
	}
	for _, b := range blocks {
		switch b := b.(type) {
		case *slack.HeaderBlock:
			if n := utf8.RuneCountInString(b.Text.Text); n > maxHeader {
				t.Errorf("header: got %d runes, want at most %d", n, maxHeader)
			}
		case *slack.SectionBlock:
			if b.Text != nil {
				if n := utf8.RuneCountInString(b.Text.Text); n > maxSection {
					t.Errorf("section: got %d runes, want at most %d", n, maxSection)
				}
				if err := b.Text.Validate(); err != nil {
					t.Errorf("section text: %v", err)
				}
			}
			if len(b.Fields) > 10 {
				t.Errorf("section fields: got %d, want at most 10", len(b.Fields))
			}
			for _, f := range b.Fields {
				if n := utf8.RuneCountInString(f.Text); n > maxField {
					t.Errorf("field: got %d runes, want at most %d", n, maxField)
				}
			}
		}
	}
	var all strings.Builder
	for _, b := range blocks {
		for _, s := range mrkdwnTexts(b) {
			all.WriteString(s)
		}
	}
	if !strings.Contains(all.String(), "…and 25 more") {
		t.Errorf("40 components: want the list cut at 15 with %q", "…and 25 more")
	}
	if strings.Contains(all.String(), "<<") || strings.Contains(all.String(), "&l…") {
		t.Error("summary escaping broken by truncation")
	}
}

func TestLink(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"https://status.example.com/x", "<https://status.example.com/x|L>"},
		{"javascript:alert(1)", ""},
		{"data:text/html,hi", ""},
		{"https://a.example/p?q=1|<!channel>", "<https://a.example/p?q=1%7C%3C!channel%3E|L>"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := link(tc.raw, "L"); got != tc.want {
			t.Errorf("link(%q): got %q, want %q", tc.raw, got, tc.want)
		}
	}
}
