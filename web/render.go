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

	"github.com/andybalholm/brotli"
)

// defaultPageCacheControl lets browsers and CDNs keep a page for 10 s and
// serve it stale for 30 s more while they fetch the next one.
const defaultPageCacheControl = "public, max-age=10, stale-while-revalidate=30"

// memberCacheControl is a member's view's (page_viewer.go): private
// components are in it, so no cache but the server's keeps it.
const memberCacheControl = "private, no-store"

// rendered is one representation of a page at one version, ready to send:
// the body as it is and compressed with gzip and with brotli, each done
// once per rendering, never per request.
type rendered struct {
	version     string
	contentType string
	body        []byte
	etag        string // strong, of body; the variants' add "-gz" and "-br"

	// The variants by encoding: identity, gzip, br. Their header values
	// are built once: under a visitor flood, per-request header strings
	// and slices were a visible share of the handler's CPU. The slices
	// are shared by all responses and never written to (Header.Set and
	// Add replace them).
	variants [numEncodings]variant
	typeHdr  []string
	// member: a member's view, served private and uncacheable whatever
	// the page's Cache-Control, its ETags apart from the anonymous ones.
	member bool
}

// variant is one encoding of a rendering.
type variant struct {
	body                    []byte
	etagHdr, lenHdr, encHdr []string // encHdr nil for identity
}

// The encodings a rendering is kept in, in order of preference at equal
// q-value.
const (
	encBrotli = iota
	encGzip
	encIdentity
	numEncodings
)

// brotliQuality trades CPU for size: 5 compresses a 40 kB page in ≈ 2 ms
// (like gzip at its best level, 25 % smaller); 11 takes 80 ms for 15 %
// less again.
const brotliQuality = 5

// Header values every cached representation shares.
var (
	varyAcceptEncoding = []string{"Accept-Encoding"}
	varyMember         = []string{"Accept-Encoding, Cookie, Authorization"}
	memberCCHdr        = []string{memberCacheControl}
	gzipEncoding       = []string{"gzip"}
	brotliEncoding     = []string{"br"}
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
	entries map[renderKey]*cacheEntry
	// onRender, when set, is called on every render (tests count them)
	// with the key's view and representation joined.
	onRender func(key string)
}

type cacheEntry struct {
	mu  sync.Mutex // held while rendering
	cur *rendered  // guarded by renderCache.mu
}

func newRenderCache() *renderCache {
	return &renderCache{entries: map[renderKey]*cacheEntry{}}
}

// renderKey names a rendering: a view of a page (publicPage.keyPrefix:
// organization, page, anonymous or member) and a representation ("index",
// "v2/summary.json"). Two strings, not one joined: a lookup allocates
// nothing.
type renderKey struct{ view, repr string }

// get returns key's rendering at version, calling render when the cached
// one is of another version. Keys must come from a bounded set (pages ×
// views × representations), never from unchecked request input; member
// marks a member's view (served private, with ETags of its own).
func (c *renderCache) get(key renderKey, version, contentType string, member bool, render func(*bytes.Buffer) error) (*rendered, error) {
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
		c.onRender(key.view + key.repr)
	}
	var buf bytes.Buffer
	if err := render(&buf); err != nil {
		return nil, err
	}
	r, err := newRendered(version, contentType, buf.Bytes(), member)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	e.cur = r
	c.mu.Unlock()
	return r, nil
}

func newRendered(version, contentType string, body []byte, member bool) (*rendered, error) {
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
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotliQuality)
	if _, err := bw.Write(body); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	if err := bw.Close(); err != nil {
		return nil, fmt.Errorf("brotli: %w", err)
	}
	sum := sha256.Sum256(body)
	tag := hex.EncodeToString(sum[:16])
	if member {
		// The same bytes may be both views (a page without private
		// components, as JSON); their ETags still differ.
		tag = "m-" + tag
	}
	mk := func(b []byte, suffix string, enc []string) variant {
		return variant{body: b, etagHdr: []string{`"` + tag + suffix + `"`}, lenHdr: []string{strconv.Itoa(len(b))}, encHdr: enc}
	}
	r := &rendered{
		version:     version,
		contentType: contentType,
		body:        body,
		etag:        `"` + tag + `"`,
		typeHdr:     []string{contentType},
		member:      member,
	}
	r.variants[encIdentity] = mk(body, "", nil)
	r.variants[encGzip] = mk(gz.Bytes(), "-gz", gzipEncoding)
	r.variants[encBrotli] = mk(br.Bytes(), "-br", brotliEncoding)
	return r, nil
}

// variant returns the encoding of r that req asks for.
func (r *rendered) variant(req *http.Request) *variant {
	return &r.variants[negotiateEncoding(req.Header.Get("Accept-Encoding"))]
}

// serve writes r: brotli or gzip when the client takes it, 304 when its
// If-None-Match names the variant it would get.
func (r *rendered) serve(w http.ResponseWriter, req *http.Request, cacheControl string) {
	v := r.variant(req)
	h := w.Header()
	r.cacheHeaders(h, cacheControl)
	h["Content-Type"] = r.typeHdr
	h["Etag"] = v.etagHdr
	if etagMatch(req.Header.Get("If-None-Match"), v.etagHdr[0]) {
		h.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if v.encHdr != nil {
		h["Content-Encoding"] = v.encHdr
	}
	h["Content-Length"] = v.lenHdr
	w.WriteHeader(http.StatusOK)
	if req.Method != http.MethodHead {
		_, _ = w.Write(v.body) // a failed write means the client left
	}
}

// cacheHeaders sets Vary and Cache-Control: cacheControl for the
// anonymous view, never stored by a cache but the server's for a member's.
func (r *rendered) cacheHeaders(h http.Header, cacheControl string) {
	if r.member {
		h["Vary"] = varyMember
		h["Cache-Control"] = memberCCHdr
		return
	}
	h["Vary"] = varyAcceptEncoding
	h["Cache-Control"] = cacheControlHdr(cacheControl)
}

// negotiateEncoding picks the encoding for an Accept-Encoding header
// (RFC 9110 12.5.3): the coding with the highest q-value among br and
// gzip, br on a tie, "*" standing for any coding not named; identity when
// neither is acceptable (q=0 or absent), or when identity is named with a
// higher q than both. Malformed q-values count as 0.
func negotiateEncoding(header string) int {
	if header == "" {
		return encIdentity
	}
	q := [numEncodings]float64{-1, -1, -1}
	star := -1.0
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		v := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
				if err != nil || f < 0 || f > 1 {
					f = 0
				}
				v = f
			}
		}
		switch name {
		case "br":
			q[encBrotli] = v
		case "gzip", "x-gzip":
			q[encGzip] = v
		case "identity":
			q[encIdentity] = v
		case "*":
			star = v
		}
	}
	for i := range q {
		if q[i] < 0 && i != encIdentity {
			q[i] = max(star, 0)
		}
	}
	best, bestQ := encIdentity, 0.0
	for _, e := range []int{encBrotli, encGzip} { // in order of preference
		if q[e] > bestQ {
			best, bestQ = e, q[e]
		}
	}
	if best != encIdentity && q[encIdentity] > bestQ {
		return encIdentity
	}
	return best
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
