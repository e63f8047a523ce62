// Package objstore opens a prefix of an S3-compatible bucket, named
// s3://bucket/prefix, for the packages that keep files there (backup,
// mirror). The S3 probe builds its own client, behind the egress guard.
package objstore

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// DefaultEndpoint is used when Options.Endpoint is empty.
const DefaultEndpoint = "https://s3.amazonaws.com"

// Options reach an S3-compatible store.
type Options struct {
	// Endpoint is http(s)://host[:port] (default DefaultEndpoint).
	Endpoint string
	// EndpointSetting names where Endpoint came from, in errors (default
	// "endpoint").
	EndpointSetting                            string
	Region                                     string
	AccessKeyID, SecretAccessKey, SessionToken string
}

// Bucket is a prefix of a bucket and the client that reaches it.
type Bucket struct {
	Client *minio.Client
	Name   string
	// Prefix is "" or ends in "/".
	Prefix string
}

// String names the bucket and prefix as a URL: "s3://bucket/prefix/".
func (b Bucket) String() string { return "s3://" + b.Name + "/" + b.Prefix }

// Open returns the bucket and prefix named by rawURL, s3://bucket/prefix,
// with a client for o's endpoint (path-style addressing, proxies from the
// environment, a minute to wait for response headers). The caller's error
// says what was being opened.
func Open(rawURL string, o Options) (Bucket, error) {
	name, prefix, _ := strings.Cut(strings.TrimPrefix(rawURL, "s3://"), "/")
	if name == "" {
		return Bucket{}, errors.New("no bucket")
	}
	endpoint := o.Endpoint
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	setting := o.EndpointSetting
	if setting == "" {
		setting = "endpoint"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return Bucket{}, fmt.Errorf("%s %q: want http(s)://host[:port]", setting, endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(o.AccessKeyID, o.SecretAccessKey, o.SessionToken),
		Secure:       u.Scheme == "https",
		Region:       o.Region,
		BucketLookup: minio.BucketLookupPath,
		Transport:    &http.Transport{Proxy: http.ProxyFromEnvironment, ResponseHeaderTimeout: time.Minute},
	})
	if err != nil {
		return Bucket{}, err
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	return Bucket{Client: c, Name: name, Prefix: prefix}, nil
}
