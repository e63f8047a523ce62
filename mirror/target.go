package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/lookout-status/lookout/objstore"
)

// Target is where a static copy is published: a directory or an S3
// bucket. Each Put is whole or not at all: a visitor never gets half a
// file.
type Target interface {
	Put(ctx context.Context, f File) error
	// Get returns a file's body; an error matching ErrNotExist when there
	// is none.
	Get(ctx context.Context, path string) ([]byte, error)
	// Delete removes a file; a missing one is not an error.
	Delete(ctx context.Context, path string) error
	// String names the target without credentials.
	String() string
}

// ErrNotExist is returned by Get for a missing file.
var ErrNotExist = errors.New("no such mirror file")

// S3Options reach an S3-compatible store.
type S3Options struct {
	// Endpoint is http(s)://host[:port] (default https://s3.amazonaws.com).
	Endpoint                     string
	Region                       string
	AccessKeyID, SecretAccessKey string
}

// Open returns the target to: a directory path, or s3://bucket/prefix.
func Open(to string, o S3Options) (Target, error) {
	if to == "" {
		return nil, errors.New("open mirror target: empty")
	}
	if !strings.HasPrefix(to, "s3://") {
		if strings.Contains(to, "://") {
			return nil, fmt.Errorf("open mirror target %q: want a directory or s3://bucket/prefix", to)
		}
		return &Dir{Path: to}, nil
	}
	b, err := objstore.Open(to, objstore.Options{
		Endpoint: o.Endpoint, Region: o.Region,
		AccessKeyID: o.AccessKeyID, SecretAccessKey: o.SecretAccessKey,
	})
	if err != nil {
		return nil, fmt.Errorf("open mirror target %q: %w", to, err)
	}
	return &S3{b}, nil
}

// Dir publishes into a local directory (served by a web server, or a
// volume synced elsewhere). Each file is written under a temporary name
// and renamed into place, so a reader gets the old file or the new one.
type Dir struct{ Path string }

func (d *Dir) String() string { return d.Path }

// file returns the local path of a copy's path, refusing any that would
// leave the directory.
func (d *Dir) file(path string) (string, error) {
	p := filepath.FromSlash(path)
	if !filepath.IsLocal(p) || strings.Contains(path, "\\") {
		return "", fmt.Errorf("mirror path %q: not inside the directory", path)
	}
	return filepath.Join(d.Path, p), nil
}

func (d *Dir) Put(ctx context.Context, f File) error {
	final, err := d.file(f.Path)
	if err != nil {
		return err
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("put %s: %w", f.Path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(final)+".tmp-*")
	if err != nil {
		return fmt.Errorf("put %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = tmp.Write(f.Body)
	if err == nil {
		// Public content, for the web server's user: not CreateTemp's 0600.
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return fmt.Errorf("put %s: %w", f.Path, err)
	}
	return nil
}

func (d *Dir) Get(ctx context.Context, path string) ([]byte, error) {
	p, err := d.file(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("get %s: %w", path, ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", path, err)
	}
	return b, nil
}

// Delete removes a file and the directories it leaves empty.
func (d *Dir) Delete(ctx context.Context, path string) error {
	p, err := d.file(path)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", path, err)
	}
	root := filepath.Clean(d.Path)
	for dir := filepath.Dir(p); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil { // not empty (or gone): stop
			break
		}
	}
	return nil
}

// S3 publishes objects under a prefix of a bucket, each with its
// Content-Type and Cache-Control, for a bucket website or a CDN.
type S3 struct{ objstore.Bucket }

func (s *S3) Put(ctx context.Context, f File) error {
	_, err := s.Client.PutObject(ctx, s.Name, s.Prefix+f.Path, bytes.NewReader(f.Body), int64(len(f.Body)),
		minio.PutObjectOptions{ContentType: f.ContentType, CacheControl: f.CacheControl})
	if err != nil {
		return fmt.Errorf("put object %s: %w", f.Path, err)
	}
	return nil
}

func (s *S3) Get(ctx context.Context, path string) ([]byte, error) {
	obj, err := s.Client.GetObject(ctx, s.Name, s.Prefix+path, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("get object %s: %w", path, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			return nil, fmt.Errorf("get object %s: %w", path, ErrNotExist)
		}
		return nil, fmt.Errorf("get object %s: %w", path, err)
	}
	return b, nil
}

func (s *S3) Delete(ctx context.Context, path string) error {
	if err := s.Client.RemoveObject(ctx, s.Name, s.Prefix+path, minio.RemoveObjectOptions{}); err != nil {
		return fmt.Errorf("delete object %s: %w", path, err)
	}
	return nil
}
