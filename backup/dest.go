package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/lookout-status/lookout/objstore"
)

// Destination is where backups are kept: a directory or an S3 bucket.
type Destination interface {
	// Put stores the local file at src under name, whole or not at all.
	Put(ctx context.Context, name, src string) error
	// Get writes the object name to w.
	Get(ctx context.Context, name string, w io.Writer) error
	// List returns every object name, sorted.
	List(ctx context.Context) ([]string, error)
	Delete(ctx context.Context, name string) error
	// String names the destination without credentials.
	String() string
}

// ErrNotExist is returned by Get for a missing object.
var ErrNotExist = errors.New("no such backup object")

// OpenDestination parses DEST: a directory path, or s3://bucket/prefix with
// the endpoint and credentials from the environment:
// LOOKOUT_BACKUP_S3_ENDPOINT (default https://s3.amazonaws.com),
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION.
func OpenDestination(dest string, getenv func(string) string) (Destination, error) {
	if dest == "" {
		return nil, errors.New("open backup destination: empty")
	}
	if !strings.HasPrefix(dest, "s3://") {
		if strings.Contains(dest, "://") {
			return nil, fmt.Errorf("open backup destination %q: want a directory or s3://bucket/prefix", dest)
		}
		return &Dir{Path: dest}, nil
	}
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	b, err := objstore.Open(dest, objstore.Options{
		Endpoint:        getenv("LOOKOUT_BACKUP_S3_ENDPOINT"),
		EndpointSetting: "LOOKOUT_BACKUP_S3_ENDPOINT",
		Region:          getenv("AWS_REGION"),
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
	})
	if err != nil {
		return nil, fmt.Errorf("open backup destination %q: %w", dest, err)
	}
	return &S3{b}, nil
}

// Dir keeps backups as files in a local directory (a mounted volume).
type Dir struct{ Path string }

func (d *Dir) String() string { return d.Path }

// Put copies src into the directory under a temporary name, syncs it and
// renames it into place.
func (d *Dir) Put(ctx context.Context, name, src string) error {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer in.Close()
	final := filepath.Join(d.Path, name)
	tmp, err := os.CreateTemp(d.Path, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return fmt.Errorf("put %s: %w", name, err)
	}
	return syncDir(d.Path)
}

func (d *Dir) Get(ctx context.Context, name string, w io.Writer) error {
	f, err := os.Open(filepath.Join(d.Path, filepath.Base(name)))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("get %s: %w", name, ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("get %s: %w", name, err)
	}
	return nil
}

func (d *Dir) List(ctx context.Context) ([]string, error) {
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", d.Path, err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

func (d *Dir) Delete(ctx context.Context, name string) error {
	if err := os.Remove(filepath.Join(d.Path, filepath.Base(name))); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// S3 keeps backups as objects under a prefix of an S3 bucket.
type S3 struct{ objstore.Bucket }

func (s *S3) Put(ctx context.Context, name, src string) error {
	if _, err := s.Client.FPutObject(ctx, s.Name, s.Prefix+name, src, minio.PutObjectOptions{ContentType: "application/octet-stream"}); err != nil {
		return fmt.Errorf("put object %s: %w", name, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, name string, w io.Writer) error {
	obj, err := s.Client.GetObject(ctx, s.Name, s.Prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("get object %s: %w", name, err)
	}
	defer obj.Close()
	if _, err := io.Copy(w, obj); err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return fmt.Errorf("get object %s: %w", name, ErrNotExist)
		}
		return fmt.Errorf("get object %s: %w", name, err)
	}
	return nil
}

func (s *S3) List(ctx context.Context) ([]string, error) {
	var out []string
	for obj := range s.Client.ListObjects(ctx, s.Name, minio.ListObjectsOptions{Prefix: s.Prefix}) {
		if obj.Err != nil {
			return nil, fmt.Errorf("list objects %s: %w", s, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.Prefix)
		if name != "" && !strings.Contains(name, "/") {
			out = append(out, path.Base(name))
		}
	}
	sort.Strings(out)
	return out, nil
}

func (s *S3) Delete(ctx context.Context, name string) error {
	if err := s.Client.RemoveObject(ctx, s.Name, s.Prefix+name, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete object %s: %w", name, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}
