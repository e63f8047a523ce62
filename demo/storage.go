package demo

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// maxObject caps object uploads to the demo's in-memory storage.
const maxObject = 16 << 20

// newStorage returns an S3-compatible endpoint, in memory, holding Bucket.
// It checks the access key of each request (it does not verify signatures)
// and, when broken, answers every request 503 ServiceUnavailable.
func newStorage(broken *atomic.Bool, accessKey string) (http.Handler, error) {
	backend := s3mem.New()
	if err := backend.CreateBucket(Bucket); err != nil {
		return nil, fmt.Errorf("create demo bucket: %w", err)
	}
	s3 := gofakes3.New(backend).Server()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			writeS3Error(w, r, http.StatusServiceUnavailable, "ServiceUnavailable", "Service is unable to handle request.")
			return
		}
		key, ok := requestAccessKey(r)
		if !ok {
			writeS3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied")
			return
		}
		if subtle.ConstantTimeCompare([]byte(key), []byte(accessKey)) != 1 {
			writeS3Error(w, r, http.StatusForbidden, "InvalidAccessKeyId",
				"The AWS Access Key Id you provided does not exist in our records.")
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxObject)
		s3.ServeHTTP(w, r)
	}), nil
}

// requestAccessKey finds the access key of a SigV4 request, from its
// Authorization header or, for a presigned URL, its query.
func requestAccessKey(r *http.Request) (string, bool) {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if auth := r.Header.Get("Authorization"); auth != "" {
		_, after, ok := strings.Cut(auth, "Credential=")
		if !ok {
			return "", false
		}
		cred = after
	}
	key, _, ok := strings.Cut(cred, "/")
	return key, ok && key != ""
}

type s3Error struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	Resource  string   `xml:"Resource"`
	RequestID string   `xml:"RequestId"`
}

// writeS3Error answers an S3 XML error. It first reads what the client is
// still sending (up to maxObject), as S3 does: closing on an unread upload
// would reset the connection and hide the error from the client.
func writeS3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxObject)) // best effort: the answer is the error below
	body, err := xml.Marshal(s3Error{Code: code, Message: msg, Resource: r.URL.Path, RequestID: rand.Text()[:16]})
	if err != nil {
		panic(fmt.Sprintf("demo: marshal s3 error: %v", err)) // a fixed struct of strings
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write(append([]byte(xml.Header), body...)) // a failed write means the client left
}
