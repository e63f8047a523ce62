package probes

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// s3Spec writes an object of random content, reads it back and compares
// its SHA-256, optionally finds it in a listing, and always deletes it.
//
//	s3:
//	  endpoint: https://s3.example.net   # http or https, no path
//	  region: us-east-1                  # default us-east-1
//	  bucket: lookout-probe
//	  prefix: lookout-probe/             # default lookout-probe/
//	  access_key: ${S3_ACCESS_KEY}
//	  secret_key: ${S3_SECRET_KEY}
//	  size: 1024                         # bytes, default 1024, at most 16 MiB
//	  list: false
//	  path_style: true                   # default true
type s3Spec struct {
	Endpoint  string `yaml:"endpoint"`
	Region    string `yaml:"region"`
	Bucket    string `yaml:"bucket"`
	Prefix    string `yaml:"prefix"`
	AccessKey string `yaml:"access_key"`
	SecretKey string `yaml:"secret_key"`
	Size      int64  `yaml:"size"`
	List      bool   `yaml:"list"`
	PathStyle *bool  `yaml:"path_style"`

	// The client is built on first use for the egress policy it dials
	// through, and rebuilt if a run brings another.
	mu        sync.Mutex
	client    *minio.Client
	transport *http.Transport
	egress    *Egress
}

// S3 probe limits and defaults.
const (
	defaultS3Size   = 1024
	maxS3Size       = 16 << 20
	defaultS3Prefix = "lookout-probe/"
	defaultS3Region = "us-east-1"
	// s3CleanupTime is how long a delete may run past an expired deadline,
	// so a timed-out run does not leave its object behind.
	s3CleanupTime = 5 * time.Second
)

func s3Kind() Kind { return Kind{Name: "s3", New: func() Spec { return &s3Spec{} }} }

// String names the target without the credentials.
func (s *s3Spec) String() string { return fmt.Sprintf("s3 %s bucket %s", s.Endpoint, s.Bucket) }

func (s *s3Spec) Validate(eg *Egress) error {
	var errs []error
	if s.Endpoint == "" {
		errs = append(errs, Errf("endpoint", "is required (e.g. https://s3.example.net)"))
	} else if err := eg.CheckURL(s.Endpoint); err != nil {
		errs = append(errs, Errf("endpoint", "%v", err))
	} else if u, _ := url.Parse(s.Endpoint); (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		errs = append(errs, Errf("endpoint", "must have no path or query (put the bucket in bucket and the path in prefix)"))
	}
	if s.Bucket == "" {
		errs = append(errs, Errf("bucket", "is required"))
	} else if err := s3utils.CheckValidBucketNameStrict(s.Bucket); err != nil {
		errs = append(errs, Errf("bucket", "%q: %v", s.Bucket, err))
	}
	if len(s.Prefix) > 512 {
		errs = append(errs, Errf("prefix", "is %d bytes, at most 512", len(s.Prefix)))
	}
	if s.AccessKey == "" {
		errs = append(errs, Errf("access_key", "is required"))
	}
	if s.SecretKey == "" {
		errs = append(errs, Errf("secret_key", "is required"))
	}
	if s.Size < 0 || s.Size > maxS3Size {
		errs = append(errs, Errf("size", "must be from 1 to %d bytes, got %d", maxS3Size, s.Size))
	}
	return errors.Join(errs...)
}

func (s *s3Spec) size() int64 {
	if s.Size == 0 {
		return defaultS3Size
	}
	return s.Size
}

func (s *s3Spec) prefix() string {
	if s.Prefix == "" {
		return defaultS3Prefix
	}
	return s.Prefix
}

// clientFor returns the spec's client dialling through eg.
func (s *s3Spec) clientFor(eg *Egress) (*minio.Client, *http.Transport, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && s.egress == eg {
		return s.client, s.transport, nil
	}
	u, err := url.Parse(s.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, fmt.Errorf("endpoint %q is not an http(s) URL", s.Endpoint)
	}
	tr := &http.Transport{
		Proxy:               nil, // never the host's HTTP_PROXY
		DialContext:         eg.DialContext,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	region := s.Region
	if region == "" {
		region = defaultS3Region
	}
	lookup := minio.BucketLookupPath
	if s.PathStyle != nil && !*s.PathStyle {
		lookup = minio.BucketLookupDNS
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Secure:       u.Scheme == "https",
		Transport:    tr,
		Region:       region,
		BucketLookup: lookup,
		MaxRetries:   1, // a probe reports what happened; the incident logic decides
	})
	if err != nil {
		return nil, nil, fmt.Errorf("client: %w", err)
	}
	if s.transport != nil {
		s.transport.CloseIdleConnections()
	}
	s.client, s.transport, s.egress = c, tr, eg
	return c, tr, nil
}

func (s *s3Spec) Probe(ctx context.Context, r Run) (res Result) {
	start := time.Now()
	defer func() { res.AddPhase("total", time.Since(start)) }()

	client, tr, err := s.clientFor(r.Egress)
	if err != nil {
		return res.Fail("s3: %v", err)
	}
	// Connections are reused within a run, not kept open between runs.
	defer tr.CloseIdleConnections()

	data := make([]byte, s.size())
	rand.Read(data)
	want := sha256.Sum256(data)
	key := s.prefix() + s3ObjectName()

	t := time.Now()
	_, err = client.PutObject(ctx, s.Bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{
		ContentType:      "application/octet-stream",
		DisableMultipart: true,
	})
	if err != nil {
		// The object may exist if the request got through before the
		// failure: delete it quietly, the put error is the story.
		_ = s.remove(ctx, client, key)
		return res.Fail("put: %s", s3ErrText(ctx, err))
	}
	res.AddPhase("put", time.Since(t))

	var failure string
	t = time.Now()
	if err := s.get(ctx, client, key, len(data), want); err != nil {
		failure = "get: " + s3ErrText(ctx, err)
	} else {
		res.AddPhase("get", time.Since(t))
	}
	if failure == "" && s.List {
		t = time.Now()
		if err := s.listed(ctx, client, key); err != nil {
			failure = "list: " + s3ErrText(ctx, err)
		} else {
			res.AddPhase("list", time.Since(t))
		}
	}
	t = time.Now()
	if err := s.remove(ctx, client, key); err != nil {
		if failure != "" {
			failure += "; "
		}
		failure += "delete: " + s3ErrText(ctx, err)
	} else {
		res.AddPhase("delete", time.Since(t))
	}
	if failure != "" {
		return res.Fail("%s", failure)
	}
	res.Outcome = Up
	return res
}

// errContentMismatch marks an object that came back different.
var errContentMismatch = errors.New("content mismatch")

// get reads the object back (at most size+1 bytes) and compares it.
func (s *s3Spec) get(ctx context.Context, client *minio.Client, key string, size int, want [sha256.Size]byte) error {
	obj, err := client.GetObject(ctx, s.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return err
	}
	defer obj.Close()
	got, err := io.ReadAll(io.LimitReader(obj, int64(size)+1))
	if err != nil {
		return err
	}
	if sum := sha256.Sum256(got); sum != want {
		msg := fmt.Sprintf("%v: sha256 got %s…, want %s…", errContentMismatch, hex.EncodeToString(sum[:6]), hex.EncodeToString(want[:6]))
		if len(got) != size {
			if len(got) > size {
				msg += fmt.Sprintf(" (more than %d bytes, want %d)", size, size)
			} else {
				msg += fmt.Sprintf(" (%d bytes, want %d)", len(got), size)
			}
		}
		return errors.New(msg)
	}
	return nil
}

// listed checks that key appears in a listing of its own name.
func (s *s3Spec) listed(ctx context.Context, client *minio.Client, key string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends minio's listing goroutine if we stop early
	for obj := range client.ListObjects(ctx, s.Bucket, minio.ListObjectsOptions{Prefix: key, MaxKeys: 10}) {
		if obj.Err != nil {
			return obj.Err
		}
		if obj.Key == key {
			return nil
		}
	}
	return errors.New("object not listed")
}

// remove deletes the object, with a short grace past the run's deadline so
// a timed-out run still cleans up after itself.
func (s *s3Spec) remove(ctx context.Context, client *minio.Client, key string) error {
	if dl, ok := ctx.Deadline(); ctx.Err() != nil || (ok && time.Until(dl) < time.Second) {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), s3CleanupTime)
		defer cancel()
	}
	return client.RemoveObject(ctx, s.Bucket, key, minio.RemoveObjectOptions{})
}

// s3ErrText words an S3 or network error: "AccessDenied: Access Denied.",
// "connect: connection refused", "egress denied: ...".
func s3ErrText(ctx context.Context, err error) string {
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.Code != "" {
		msg := strings.TrimSpace(er.Message)
		if msg == "" {
			return er.Code
		}
		return er.Code + ": " + msg
	}
	if strings.HasPrefix(err.Error(), errContentMismatch.Error()) || err.Error() == "object not listed" {
		return err.Error()
	}
	return netReason(ctx, err)
}

// s3ObjectName returns a unique object name.
func s3ObjectName() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}
