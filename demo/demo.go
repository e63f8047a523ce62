// Package demo runs, in process and on loopback only, a fake of the cloud
// service Lookout's running example watches: an API with a status endpoint,
// a Sync service (log in, upload a change, poll until applied, download,
// delete) and an S3-compatible Storage endpoint. Each part can be broken and
// fixed at runtime, so the status page can be seen to react.
package demo

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the demo's Lookout configuration. Its ${DEMO_*} references are
// resolved from (*Service).Env.
//
//go:embed lookout-demo.yaml
var Config []byte

// Bucket is the bucket the storage part serves.
const Bucket = "lookout-probe"

// ErrUnknownPart is returned by Break and Fix for a name other than api,
// sync or storage. It matches fs.ErrNotExist under errors.Is.
var ErrUnknownPart error = unknownPartError{}

type unknownPartError struct{}

func (unknownPartError) Error() string        { return "unknown demo part (want api, sync or storage)" }
func (unknownPartError) Is(target error) bool { return target == fs.ErrNotExist }

// Service is the running demo: two loopback listeners, one for the API and
// Sync, one for Storage.
type Service struct {
	cloudURL   string
	storageURL string
	creds      credentials

	// broken holds one switch per part; this map is the one list of parts.
	broken map[string]*atomic.Bool

	servers []*http.Server
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

type credentials struct {
	user, password       string
	accessKey, secretKey string
	heartbeatToken       string
}

// Start listens on 127.0.0.1 (ephemeral ports) and serves until ctx is done
// or Close is called.
func Start(ctx context.Context) (*Service, error) {
	s := &Service{
		creds: credentials{
			user:           "demo",
			password:       rand.Text(),
			accessKey:      "LOOKOUT" + rand.Text()[:13],
			secretKey:      rand.Text() + rand.Text()[:14],
			heartbeatToken: rand.Text(),
		},
		broken: map[string]*atomic.Bool{"api": {}, "sync": {}, "storage": {}},
	}
	storage, err := newStorage(s.broken["storage"], s.creds.accessKey)
	if err != nil {
		return nil, err
	}
	handlers := []http.Handler{newCloud(s.broken["api"], s.broken["sync"], s.creds), storage}
	var listeners []net.Listener
	for range handlers {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, l := range listeners {
				_ = l.Close() // unused listener: its close error tells nothing
			}
			return nil, fmt.Errorf("listen: %w", err)
		}
		listeners = append(listeners, ln)
	}
	s.cloudURL = "http://" + listeners[0].Addr().String()
	s.storageURL = "http://" + listeners[1].Addr().String()

	ctx, s.cancel = context.WithCancel(ctx)
	for i, h := range handlers {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
		s.servers = append(s.servers, srv)
		s.wg.Add(1)
		go func(ln net.Listener) {
			defer s.wg.Done()
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				s.setErr(fmt.Errorf("serve demo: %w", err))
			}
		}(listeners[i])
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, srv := range s.servers {
			if err := srv.Shutdown(shutdownCtx); err != nil {
				s.setErr(fmt.Errorf("shut down demo: %w", err))
				_ = srv.Close() // forced after the graceful attempt failed
			}
		}
	}()
	return s, nil
}

func (s *Service) setErr(err error) {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	s.err = errors.Join(s.err, err)
}

// Close stops the listeners and waits for them to finish; it reports any
// error they met while serving.
func (s *Service) Close() error {
	s.cancel()
	s.wg.Wait()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Break makes the named part (api, sync or storage) fail.
func (s *Service) Break(name string) error { return s.set(name, true) }

// Fix makes the named part work again.
func (s *Service) Fix(name string) error { return s.set(name, false) }

func (s *Service) set(name string, broken bool) error {
	b, ok := s.broken[name]
	if !ok {
		return fmt.Errorf("demo part %q: %w", name, ErrUnknownPart)
	}
	b.Store(broken)
	return nil
}

// Broken reports whether the named part is broken.
func (s *Service) Broken(name string) bool {
	b, ok := s.broken[name]
	return ok && b.Load()
}

// Env returns the values Config refers to as ${NAME}. They include
// credentials: resolve the config with them, never log them.
func (s *Service) Env() map[string]string {
	return map[string]string{
		"DEMO_API_URL":         s.cloudURL,
		"DEMO_SYNC_USER":       s.creds.user,
		"DEMO_SYNC_PASSWORD":   s.creds.password,
		"DEMO_S3_ENDPOINT":     s.storageURL,
		"DEMO_S3_BUCKET":       Bucket,
		"DEMO_S3_ACCESS_KEY":   s.creds.accessKey,
		"DEMO_S3_SECRET_KEY":   s.creds.secretKey,
		"DEMO_HEARTBEAT_TOKEN": s.creds.heartbeatToken,
	}
}
