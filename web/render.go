package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// defaultPageCacheControl lets browsers and CDNs keep a page for 10 s and
// serve it stale for 30 s more while they fetch the next one.
const defaultPageCacheControl = "public, max-age=10, stale-while-revalidate=30"

// rendered is one representation of a page at one version, ready to send.
type rendered struct {
	version     string
	contentType string
	body, gz    []byte
	etag        string // strong, of body; the gzip variant's adds "-gz"

	// The header values of every response of this rendering, built once:
	// under a visitor flood, per-request header strings and slices were a
	// visible share of the handler's CPU. The slices are shared by all
	// responses and never written to (Header.Set and Add replace them).
	typeHdr, etagHdr, gzETagHdr, lenHdr, gzLenHdr []string
}

// Header values every cached representation shares.
var (
	varyAcceptEncoding = []string{"Accept-Encoding"}
	gzipEncoding       = []string{"gzip"}
	defaultPageCCHdr   = []string{defaultPageCacheControl}
)

// cacheControlHdr returns the Cache-Control value as a header slice,
// shared for the default policy.
func cacheControlHdr(v string) []string {
	if v == defaultPageCacheControl {
		return defaultPageCCHdr
	}
	return []string{v}
}

// renderCache holds the latest rendering of each (page, representation).
// A representation is rendered at most once per page version: concurrent
// requests for a version not rendered yet wait for the one render (a few
// milliseconds, from memory), then everyone is served the same bytes.
type renderCache struct {
	mu      sync.Mutex
	entries map[string]*cacheEntry
	// onRender, when set, is called on every render (tests count them).
	onRender func(key string)
}

type cacheEntry struct {
	mu  sync.Mutex // held while rendering
	cur *rendered  // guarded by renderCache.mu
}

func newRenderCache() *renderCache {
	return &renderCache{entries: map[string]*cacheEntry{}}
}

// get returns key's rendering at version, calling render when the cached
// one is of another version. Keys must come from a bounded set (pages ×
// representations), never from unchecked request input.
func (c *renderCache) get(key, version, contentType string, render func(*bytes.Buffer) error) (*rendered, error) {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	cur := e.cur
	c.mu.Unlock()
	if cur != nil && cur.version == version {
		return cur, nil
	}

	if cur != nil {
		// A newer version: one request renders it while the others keep
		// getting the previous rendering instead of queueing behind the
		// render (templ, gzip and a hash of a large page take milliseconds,
		// and visitors arrive all at once during an outage).
		if !e.mu.TryLock() {
			return cur, nil
		}
	} else {
		e.mu.Lock() // nothing to serve yet: wait for the first rendering
	}
	defer e.mu.Unlock()
	c.mu.Lock()
	cur = e.cur
	c.mu.Unlock()
	if cur != nil && cur.version == version {
		return cur, nil // rendered while we waited
	}
	if c.onRender != nil {
		c.onRender(key)
	}
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return nil, err
	}
	r, err := newRendered(version, contentType, buf.Bytes())
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e.cur = r
	c.mu.Unlock()
	return r, nil
}

func newRendered(version, contentType string, body []byte) (*rendered, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &rendered{
		version:     version,
		contentType: contentType,
		body:        body,
		gz:          gz.Bytes(),
		etag:        etag,
		typeHdr:     []string{contentType},
		etagHdr:     []string{etag},
		gzETagHdr:   []string{strings.TrimSuffix(etag, `"`) + `-gz"`},
		lenHdr:      []string{strconv.Itoa(len(body))},
		gzLenHdr:    []string{strconv.Itoa(gz.Len())},
	}, nil
}

// serve writes r: gzip when the client takes it, 304 when its
// If-None-Match names the variant it would get.
func (r *rendered) serve(w http.ResponseWriter, req *http.Request, cacheControl string) {
	body, etag, length := r.body, r.etagHdr, r.lenHdr
	h := w.Header()
	h["Vary"] = varyAcceptEncoding
	if acceptsGzip(req.Header.Get("Accept-Encoding")) {
		body, etag, length = r.gz, r.gzETagHdr, r.gzLenHdr
		h["Content-Encoding"] = gzipEncoding
	}
	h["Content-Type"] = r.typeHdr
	h["Cache-Control"] = cacheControlHdr(cacheControl)
	h["Etag"] = etag
	if etagMatch(req.Header.Get("If-None-Match"), etag[0]) {
		h.Del("Content-Type")
		h.Del("Content-Encoding")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Length"] = length
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(body) // a failed write means the client left
	}
}

// acceptsGzip reports whether an Accept-Encoding header takes gzip (with a
// non-zero q).
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// etagMatch implements If-None-Match's weak comparison against etag.
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for part := range strings.SplitSeq(header, ",") {
		t := strings.TrimPrefix(strings.TrimSpace(part), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}
