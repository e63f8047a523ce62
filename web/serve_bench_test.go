package web

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// rawLoop serves h on loopback with the server settings of lookout serve
// and requests path over one keep-alive connection with a client that
// allocates nothing, so allocs/op are the server's.
func rawLoop(b *testing.B, h http.Handler, path string) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n")
	br := bufio.NewReaderSize(c, 256<<10)
	buf := make([]byte, 256<<10)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if bytes.HasPrefix(line, []byte("Content-Length: ")) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(line[16:])))
			}
			if len(line) == 2 {
				break
			}
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServeLoopback compares the public routes over a real socket
// with a plain handler writing the same bytes and headers (the ceiling of
// bench/page): what lookout adds per request, in time and allocations. The
// allocations matter more than the time: every request's garbage is
// marked against lookout's live heap, the ceiling's is nearly empty.
func BenchmarkServeLoopback(b *testing.B) {
	for _, p := range []string{"/", "/api/v2/summary.json", "/badge/api.svg"} {
		b.Run("lookout"+p, func(b *testing.B) {
			_, h := newPageServer(b, pageStates()["incident"])
			rawLoop(b, h, p)
		})
		b.Run("ceiling"+p, func(b *testing.B) {
			_, h := newPageServer(b, pageStates()["incident"])
			r := httptest.NewRequest("GET", p, nil)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			hdr, body := w.Header(), w.Body.Bytes()
			rawLoop(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := w.Header()
				for k, v := range hdr {
					h[k] = v
				}
				h.Set("Content-Length", strconv.Itoa(len(body)))
				w.WriteHeader(200)
				w.Write(body)
			}), p)
		})
	}
}
