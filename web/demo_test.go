package web

import (
	"net/http"
	"testing"

	"go.uber.org/goleak"

	"github.com/lookout-status/lookout/demo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The real demo service behind the demo routes: its unknown-part error must
// answer 404, and a break must reach it.
func TestDemoRoutesWithDemoService(t *testing.T) {
	svc, err := demo.Start(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := svc.Close(); err != nil {
			t.Errorf("close demo: %v", err)
		}
	})
	ts := newTestServer(t, func(d *Deps) { d.Demo = svc })
	for _, tc := range []struct {
		target     string
		wantCode   int
		wantBroken bool
	}{
		{"/demo/break/nope", http.StatusNotFound, false},
		{"/demo/break/storage", http.StatusOK, true},
		{"/demo/fix/storage", http.StatusOK, false},
	} {
		t.Run(tc.target, func(t *testing.T) {
			w := ts.do(t, "POST", tc.target, "")
			if w.Code != tc.wantCode {
				t.Errorf("got status %d, want %d", w.Code, tc.wantCode)
			}
			if got := svc.Broken("storage"); got != tc.wantBroken {
				t.Errorf("got storage broken=%v, want %v", got, tc.wantBroken)
			}
		})
	}
}
