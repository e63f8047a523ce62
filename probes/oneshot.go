package probes

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
)

// oneShot is the http probe's http.RoundTripper: every request gets a fresh
// connection, dialled through the egress policy, written and read on the
// caller's goroutine, and closed with the response body. It does what
// net/http's Transport does with keep-alives off, without the Transport's
// dial goroutine, read loop and write loop per connection, its connection
// pool and its per-connection buffers (pooled here): profiled at 5,000
// probes every 30 s, those goroutine hand-offs and their stack growth were
// the largest part of a probe's CPU outside the system calls.
//
// It speaks HTTP/1.1 over TCP or TLS (1.2 or later), and does what the
// Transport did for the probe: the httptrace hooks the tracer times phases
// with, a 64 KiB cap on response headers, "Connection: close", and, when
// the request asks for gzip on the Transport's terms (the plan added
// Accept-Encoding itself), transparent decompression. Redirects, and their
// checks, stay with http.Client. Proxies are not handled here: a spec with
// a proxy uses the Transport.
type oneShot struct {
	dial     func(ctx context.Context, network, addr string) (net.Conn, error)
	insecure bool // skip certificate verification
	// gzip: the plan added "Accept-Encoding: gzip", so a gzip body is
	// decoded and its Content-Encoding and Content-Length removed.
	gzip bool
}

// maxResponseHeaderBytes bounds the status line and headers of a response
// (1xx responses included).
const maxResponseHeaderBytes = 64 << 10

// errHeaderTooLarge is returned when a response's headers pass
// maxResponseHeaderBytes.
var errHeaderTooLarge = fmt.Errorf("server response headers exceeded %s; aborted", byteSize(maxResponseHeaderBytes))

func newOneShot(eg *Egress, o clientOptions, gzip bool) *oneShot {
	d := eg.Dialer(0)
	// TCP keep-alive probes are for idle connections; a probe's connection
	// lives for one request. Off, it saves four setsockopt calls per run.
	d.KeepAlive = -1
	return &oneShot{
		dial:     d.DialContext,
		insecure: o.insecure,
		gzip:     gzip,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *oneShot) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err != nil && req.Body != nil {
		req.Body.Close()
	}
	return resp, err
}

func (t *oneShot) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	trace := httptrace.ContextClientTrace(ctx)
	u := req.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("unsupported protocol scheme %q", u.Scheme)
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("no host in request URL")
	}
	if a, err := idnaASCII(host); err == nil {
		host = a
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	if trace != nil && trace.GetConn != nil {
		trace.GetConn(addr)
	}
	raw, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The connection ends with the context: reads and writes blocked on it
	// fail at once, so the error is seen after ctx.Err() is set.
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	conn := raw
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		return nil, err
	}
	var state *tls.ConnectionState
	if u.Scheme == "https" {
		// A config per connection, as the Transport clones one: no
		// session cache, so every run does a full handshake.
		tc := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: t.insecure, MinVersion: tls.VersionTLS12})
		if trace != nil && trace.TLSHandshakeStart != nil {
			trace.TLSHandshakeStart()
		}
		err := tc.Handshake() // bounded by the deadline the context sets
		if err != nil {
			if trace != nil && trace.TLSHandshakeDone != nil {
				trace.TLSHandshakeDone(tls.ConnectionState{}, err)
			}
			return fail(err)
		}
		cs := tc.ConnectionState()
		if trace != nil && trace.TLSHandshakeDone != nil {
			trace.TLSHandshakeDone(cs, nil)
		}
		state, conn = &cs, tc
	}
	if trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: conn})
	}

	wreq := req
	if !req.Close {
		r := *req // http.Client's redirect hops come without Close
		r.Close = true
		wreq = &r
	}
	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(conn)
	err = wreq.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	if trace != nil && trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{Err: err})
	}
	if err != nil {
		return fail(err)
	}

	lr := &limitReader{r: conn, n: maxResponseHeaderBytes}
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(lr)
	failRead := func(err error) (*http.Response, error) {
		if lr.n <= 0 {
			err = errHeaderTooLarge
		}
		br.Reset(nil)
		readerPool.Put(br)
		return fail(err)
	}
	if _, err := br.Peek(1); err != nil {
		return failRead(err)
	}
	if trace != nil && trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return failRead(err)
		}
		// 1xx responses before the final one are skipped; the header cap
		// covers them all. 101 is final.
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	lr.n = -1 // the body is capped by the caller
	resp.TLS = state
	body := &oneShotBody{r: resp.Body, conn: conn, br: br, stop: stop}
	if t.gzip && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		body.gunzip = true
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	resp.Body = body
	return resp, nil
}

func idnaASCII(host string) (string, error) {
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return idna.Lookup.ToASCII(host)
		}
	}
	return host, nil
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// limitReader reads from r until n bytes were read; n < 0 is no limit.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return l.r.Read(p)
	}
	if l.n == 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

// oneShotBody is a response body that owns its connection: Close closes
// the connection without reading the rest (the caller stops at its cap),
// and hands the read buffer back to the pool. It is read from one goroutine
// and not after Close.
type oneShotBody struct {
	r      io.ReadCloser
	gunzip bool
	gz     *gzip.Reader
	conn   net.Conn
	br     *bufio.Reader
	stop   func() bool
	closed bool
}

var errBodyClosed = errors.New("read on a closed response body")

func (b *oneShotBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errBodyClosed
	}
	if !b.gunzip {
		return b.r.Read(p)
	}
	if b.gz == nil {
		gz, err := gzip.NewReader(b.r)
		if err != nil {
			return 0, err
		}
		b.gz = gz
	}
	return b.gz.Read(p)
}

func (b *oneShotBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.stop()
	err := b.conn.Close()
	b.br.Reset(nil)
	readerPool.Put(b.br)
	b.br = nil
	return err
}
