package probes

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/goleak"
)

const (
	testS3Bucket = "lookout"
	testS3Secret = "s3cr3t-key-never-shown"
)

// s3Fault decides what the fake does to one request for an object under
// the probe's prefix ("" passes it through).
type s3Fault string

const (
	s3Pass      s3Fault = ""
	s3Corrupt   s3Fault = "corrupt"   // flip a byte of GET bodies
	s3DenyGet   s3Fault = "deny-get"  // answer GETs 403 AccessDenied
	s3HangGet   s3Fault = "hang-get"  // hold GETs until the client gives up
	s3HideList  s3Fault = "hide-list" // list the bucket as empty
	s3DenyWrite s3Fault = "deny-put"  // answer PUTs 403 AccessDenied
)

// s3Peer is gofakes3 with its in-memory backend behind a loopback server,
// and a wrapper that injects one fault.
type s3Peer struct {
	srv     *httptest.Server
	backend *s3mem.Backend
	fault   atomic.Value // s3Fault
	deletes atomic.Int32
}

func newS3Peer(t *testing.T) *s3Peer {
	t.Helper()
	p := &s3Peer{backend: s3mem.New()}
	p.fault.Store(s3Pass)
	if err := p.backend.CreateBucket(testS3Bucket); err != nil {
		t.Fatal(err)
	}
	fake := gofakes3.New(p.backend).Server()
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		object := strings.Count(strings.Trim(r.URL.Path, "/"), "/") >= 1
		fault := p.fault.Load().(s3Fault)
		switch {
		case r.Method == http.MethodDelete && object:
			p.deletes.Add(1)
		case fault == s3Corrupt && r.Method == http.MethodGet && object:
			fake.ServeHTTP(&s3CorruptWriter{ResponseWriter: w}, r)
			return
		case fault == s3DenyGet && r.Method == http.MethodGet && object,
			fault == s3DenyWrite && r.Method == http.MethodPut:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>`)
			return
		case fault == s3HangGet && r.Method == http.MethodGet && object:
			<-r.Context().Done()
			return
		case fault == s3HideList && r.Method == http.MethodGet && !object:
			w.Header().Set("Content-Type", "application/xml")
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>%s</Name><IsTruncated>false</IsTruncated></ListBucketResult>`, testS3Bucket)
			return
		}
		fake.ServeHTTP(w, r)
	}))
	return p
}

func (p *s3Peer) Close() { p.srv.Close() }

// objects lists the keys left in the bucket.
func (p *s3Peer) objects(t *testing.T) []string {
	t.Helper()
	list, err := p.backend.ListBucket(testS3Bucket, &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, c := range list.Contents {
		keys = append(keys, c.Key)
	}
	return keys
}

// s3CorruptWriter flips the first byte of a body.
type s3CorruptWriter struct {
	http.ResponseWriter
	done bool
}

func (c *s3CorruptWriter) Write(b []byte) (int, error) {
	if !c.done && len(b) > 0 {
		c.done = true
		b = append([]byte{b[0] ^ 0xff}, b[1:]...)
	}
	return c.ResponseWriter.Write(b)
}

func TestS3Probe(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	peer := newS3Peer(t)
	defer peer.Close()

	cases := []struct {
		name        string
		bucket      string
		list        bool
		size        int64
		fault       s3Fault
		egress      *Egress
		timeout     time.Duration
		wantOut     Outcome
		wantErr     string // prefix
		wantPhases  string
		wantDeletes int32 // DELETE requests the fake saw
	}{
		{name: "happy path", wantOut: Up, wantPhases: "put,get,delete,total", wantDeletes: 1},
		{name: "with list", list: true, size: 100 << 10, wantOut: Up, wantPhases: "put,get,list,delete,total", wantDeletes: 1},
		{
			name: "missing bucket", bucket: "absent",
			wantOut: Down, wantErr: "put: NoSuchBucket: The specified bucket does not exist", wantPhases: "total", wantDeletes: 1,
		},
		{
			name: "put denied", fault: s3DenyWrite,
			wantOut: Down, wantErr: "put: AccessDenied: Access Denied", wantPhases: "total", wantDeletes: 1,
		},
		{
			name: "corrupted body", fault: s3Corrupt,
			wantOut: Down, wantErr: "get: content mismatch: sha256 got ", wantPhases: "put,delete,total", wantDeletes: 1,
		},
		{
			name: "get denied", fault: s3DenyGet,
			wantOut: Down, wantErr: "get: AccessDenied: Access Denied", wantPhases: "put,delete,total", wantDeletes: 1,
		},
		{
			name: "get never answers", fault: s3HangGet, timeout: 500 * time.Millisecond,
			wantOut: Down, wantErr: "get: deadline exceeded", wantPhases: "put,delete,total", wantDeletes: 1,
		},
		{
			name: "not listed", fault: s3HideList, list: true,
			wantOut: Down, wantErr: "list: object not listed", wantPhases: "put,get,delete,total", wantDeletes: 1,
		},
		{
			name: "refused by default policy", egress: NewEgress(nil),
			wantOut: Down, wantErr: "put: egress denied: address 127.0.0.1 is loopback", wantPhases: "total",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			peer.fault.Store(tc.fault)
			peer.deletes.Store(0)
			bucket := tc.bucket
			if bucket == "" {
				bucket = testS3Bucket
			}
			spec := &s3Spec{
				Endpoint: peer.srv.URL, Bucket: bucket, AccessKey: "AKIATEST", SecretKey: testS3Secret,
				List: tc.list, Size: tc.size,
			}
			if err := spec.Validate(kindsEgress()); err != nil {
				t.Fatalf("validate: %v", err)
			}
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			r := kindsRun()
			if tc.egress != nil {
				r.Egress = tc.egress
			}

			res := spec.Probe(ctx, r)
			if res.Outcome != tc.wantOut {
				t.Fatalf("got outcome %s (%q), want %s", res.Outcome, res.Error, tc.wantOut)
			}
			if tc.wantErr == "" && res.Error != "" {
				t.Errorf("got error %q, want none", res.Error)
			}
			if !strings.HasPrefix(res.Error, tc.wantErr) {
				t.Errorf("got error %q, want prefix %q", res.Error, tc.wantErr)
			}
			if strings.Contains(res.Error, testS3Secret) {
				t.Errorf("got error %q, which holds the secret key", res.Error)
			}
			if got := phaseList(res); got != tc.wantPhases {
				t.Errorf("got phases %s, want %s", got, tc.wantPhases)
			}
			if got := peer.deletes.Load(); got != tc.wantDeletes {
				t.Errorf("got %d deletes, want %d", got, tc.wantDeletes)
			}
			if left := peer.objects(t); len(left) != 0 {
				t.Errorf("got objects %q left in the bucket, want none", left)
			}
		})
	}
}

func TestS3ContentMismatchMessage(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	peer := newS3Peer(t)
	defer peer.Close()
	peer.fault.Store(s3Corrupt)
	spec := &s3Spec{Endpoint: peer.srv.URL, Bucket: testS3Bucket, AccessKey: "AKIATEST", SecretKey: testS3Secret, Size: 64}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res := spec.Probe(ctx, kindsRun())
	// "get: content mismatch: sha256 got 1a2b3c4d5e6f…, want 6f5e4d3c2b1a…"
	var got, want string
	if _, err := fmt.Sscanf(res.Error, "get: content mismatch: sha256 got %s want %s", &got, &want); err != nil {
		t.Fatalf("got error %q, want a content mismatch with both hashes: %v", res.Error, err)
	}
	if len(got) != len("1a2b3c4d5e6f…,") || got[:12] == want[:12] {
		t.Errorf("got hashes %q and %q, want two different 12-digit prefixes", got, want)
	}
}

func TestS3Validate(t *testing.T) {
	cases := []struct {
		name string
		spec *s3Spec
		want []string
	}{
		{name: "ok", spec: &s3Spec{Endpoint: "https://s3.example.net", Bucket: "lookout-probe", AccessKey: "a", SecretKey: "b"}},
		{
			name: "empty",
			spec: &s3Spec{},
			want: []string{"endpoint: is required", "bucket: is required", "access_key: is required", "secret_key: is required"},
		},
		{
			name: "everything wrong",
			spec: &s3Spec{Endpoint: "ftp://s3.example.net", Bucket: "Bad_Bucket", AccessKey: "a", SecretKey: "b", Size: maxS3Size + 1},
			want: []string{`endpoint: scheme "ftp" is not allowed`, `bucket: "Bad_Bucket": `, "size: must be from 1 to 16777216 bytes, got 16777217"},
		},
		{name: "metadata endpoint", spec: &s3Spec{Endpoint: "http://169.254.169.254", Bucket: "b-b-b", AccessKey: "a", SecretKey: "b"}, want: []string{"endpoint: egress denied: address 169.254.169.254"}},
		{name: "endpoint with path", spec: &s3Spec{Endpoint: "https://s3.example.net/bucket", Bucket: "b-b-b", AccessKey: "a", SecretKey: "b"}, want: []string{"endpoint: must have no path or query"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantFieldErrors(t, tc.spec.Validate(NewEgress(nil)), tc.want)
		})
	}
	s := &s3Spec{Endpoint: "https://s3.example.net", Bucket: "b-b-b", AccessKey: "AKIA", SecretKey: testS3Secret}
	if got := fmt.Sprintf("%v %s", s, s); strings.Contains(got, testS3Secret) {
		t.Errorf("got %q, which holds the secret key", got)
	}
}
