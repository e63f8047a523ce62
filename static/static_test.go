package static

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

func TestPathAndLookup(t *testing.T) {
	body, err := files.ReadFile("page.css")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body)
	want := "/static/page." + hex.EncodeToString(sum[:])[:12] + ".css"
	if got := Path("page.css"); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	f, ok := Lookup(strings.TrimPrefix(want, Prefix))
	if !ok {
		t.Fatalf("Lookup(%q): not found", want)
	}
	if f.ContentType != "text/css; charset=utf-8" || string(f.Body) != string(body) {
		t.Errorf("got %q with %d bytes, want text/css; charset=utf-8 with %d", f.ContentType, len(f.Body), len(body))
	}
	for _, name := range []string{"page.css", "", "style.000000000000.css", "static.go"} {
		if _, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q): found, want only content-hashed names", name)
		}
	}
}

func TestPathUnknownPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Errorf("Path(\"nope.css\"): got no panic, want one")
		}
	}()
	Path("nope.css")
}
