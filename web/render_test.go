package web

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
)

func TestNegotiateEncoding(t *testing.T) {
	names := map[int]string{encBrotli: "br", encGzip: "gzip", encIdentity: "identity"}
	for _, tc := range []struct {
		header, want string
	}{
		{"", "identity"},
		{"gzip", "gzip"},
		{"br", "br"},
		{"gzip, deflate, br, zstd", "br"}, // what browsers send: br preferred
		{"br, gzip", "br"},
		{"gzip;q=1.0, br;q=0.9", "gzip"},
		{"gzip;q=0.5, br;q=0.5", "br"},
		{"br;q=0, gzip", "gzip"},
		{"br;q=0, gzip;q=0", "identity"},
		{"gzip;q=0.000", "identity"},
		{"*", "br"},
		{"*;q=0.5, br;q=0", "gzip"},
		{"identity", "identity"},
		{"identity;q=1, gzip;q=0.5", "identity"},
		{"deflate", "identity"},
		{"GZIP", "gzip"},
		{"x-gzip", "gzip"},
		{" br ; q=0.8 , gzip ; q=0.9", "gzip"},
		{"br;q=nonsense, gzip;q=0.1", "gzip"},
		{"br;q=7", "identity"},
	} {
		t.Run(tc.header, func(t *testing.T) {
			if got := names[negotiateEncoding(tc.header)]; got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func decodeEncoded(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	default:
		t.Fatalf("unexpected Content-Encoding %q", enc)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

// The page, an API document and a feed are each kept in three encodings,
// compressed once per rendering: each encoding has its own ETag, 304s on
// it, and decodes to the same bytes.
func TestPrecompressed(t *testing.T) {
	src := &fakePages{data: basePage()}
	s := NewServer(Deps{Pages: src})
	var renders atomic.Int64
	// The render cache of the server just built (NewServer wraps it).
	srv := &server{pages: src, pageCacheControl: defaultPageCacheControl, renders: newRenderCache()}
	srv.renders.onRender = func(string) { renders.Add(1) }
	mux := srv.routes()
	for _, h := range []http.Handler{s, mux} {
		for _, target := range []string{"/", "/api/v2/summary.json", "/history.atom", "/badge/api.svg"} {
			plain := get(t, h, target)
			if plain.Code != http.StatusOK {
				t.Fatalf("GET %s: got %d, want 200", target, plain.Code)
			}
			etags := map[string]string{}
			for _, tc := range []struct{ accept, enc string }{
				{"", ""},
				{"gzip", "gzip"},
				{"gzip, deflate, br", "br"},
				{"br;q=0.1, gzip;q=0.9", "gzip"},
			} {
				w := get(t, h, target, "Accept-Encoding", tc.accept)
				if got := w.Header().Get("Content-Encoding"); got != tc.enc {
					t.Errorf("GET %s with %q: got Content-Encoding %q, want %q", target, tc.accept, got, tc.enc)
				}
				if got := w.Header().Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("GET %s: got Vary %q, want Accept-Encoding", target, got)
				}
				if !bytes.Equal(decodeEncoded(t, tc.enc, w.Body.Bytes()), plain.Body.Bytes()) {
					t.Errorf("GET %s with %q: body differs from the plain one", target, tc.accept)
				}
				if tc.enc != "" && w.Body.Len() >= plain.Body.Len() {
					t.Errorf("GET %s %s: got %d bytes, want fewer than the plain %d", target, tc.enc, w.Body.Len(), plain.Body.Len())
				}
				etag := w.Header().Get("ETag")
				if prev, ok := etags[tc.enc]; ok && prev != etag {
					t.Errorf("GET %s %s: got ETag %q, then %q", target, tc.enc, prev, etag)
				}
				for enc, other := range etags {
					if enc != tc.enc && other == etag {
						t.Errorf("GET %s: %q and %q share the ETag %s", target, enc, tc.enc, etag)
					}
				}
				etags[tc.enc] = etag
				nm := get(t, h, target, "Accept-Encoding", tc.accept, "If-None-Match", etag)
				if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 {
					t.Errorf("GET %s %s If-None-Match its ETag: got %d with %d bytes, want 304", target, tc.enc, nm.Code, nm.Body.Len())
				}
				if got := nm.Header().Get("ETag"); got != etag {
					t.Errorf("304: got ETag %q, want %q", got, etag)
				}
			}
			// Another encoding's ETag is not a match.
			if w := get(t, h, target, "Accept-Encoding", "br", "If-None-Match", etags["gzip"]); w.Code != http.StatusOK {
				t.Errorf("GET %s br with the gzip ETag: got %d, want 200", target, w.Code)
			}
		}
	}
	// Four representations, each rendered (and compressed) once however
	// many requests and encodings asked for it.
	if got := renders.Load(); got != 4 {
		t.Errorf("got %d renders, want 4", got)
	}
}
