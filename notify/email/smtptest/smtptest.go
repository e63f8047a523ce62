// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 for tests: it collects the messages it accepts and answers the
// recipients it is told to refuse with the given reply.
package smtptest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mail is one accepted message.
type Mail struct {
	From string
	To   []string
	Data []byte
}

// Parse parses the message.
func (m Mail) Parse() (*mail.Message, error) {
	return mail.ReadMessage(strings.NewReader(string(m.Data)))
}

// Options configure a Server.
type Options struct {
	// Username and Password, when set, are required (AUTH PLAIN).
	Username, Password string
	// TLS, when set, is offered with STARTTLS (or, with Implicit, from the
	// first byte).
	TLS      *tls.Config
	Implicit bool
}

// Server is a running SMTP server.
type Server struct {
	// Addr is its host:port on 127.0.0.1.
	Addr string
	Host string
	Port int

	opts   Options
	srv    *smtp.Server
	mu     sync.Mutex
	mails  []Mail
	refuse map[string]*smtp.SMTPError
	notify chan struct{}
}

// Start starts a server until the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s := &Server{opts: opts, refuse: map[string]*smtp.SMTPError{}, notify: make(chan struct{}, 1)}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	s.srv.Domain = "smtptest.localhost"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.srv.MaxMessageBytes = 1 << 20
	s.srv.TLSConfig = opts.TLS
	s.srv.ErrorLog = nopLogger{}
	var ln net.Listener
	var err error
	if opts.Implicit {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", opts.TLS)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.Host = "127.0.0.1"
	s.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.srv.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = s.srv.Close()
		<-done
	})
	return s
}

type nopLogger struct{}

func (nopLogger) Printf(string, ...any) {}
func (nopLogger) Println(...any)        {}

// Refuse makes RCPT TO:<addr> answer code with message (e.g. 550 or 451).
func (s *Server) Refuse(addr string, code int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ec := smtp.EnhancedCode{5, 1, 1}
	if code < 500 {
		ec = smtp.EnhancedCode{4, 2, 0}
	}
	s.refuse[strings.ToLower(addr)] = &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: message}
}

// Accept undoes Refuse.
func (s *Server) Accept(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.refuse, strings.ToLower(addr))
}

// Mails returns the messages accepted so far.
func (s *Server) Mails() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Mail(nil), s.mails...)
}

// To returns the messages accepted for addr.
func (s *Server) To(addr string) []Mail {
	var out []Mail
	for _, m := range s.Mails() {
		for _, t := range m.To {
			if strings.EqualFold(t, addr) {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// Arrived is signalled (without blocking) after each accepted message.
func (s *Server) Arrived() <-chan struct{} { return s.notify }

type session struct {
	s    *Server
	auth bool
	from string
	to   []string
}

func (se *session) AuthMechanisms() []string {
	if se.s.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (se *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != se.s.opts.Username || pass != se.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		se.auth = true
		return nil
	}), nil
}

func (se *session) Mail(from string, _ *smtp.MailOptions) error {
	if se.s.opts.Username != "" && !se.auth {
		return smtp.ErrAuthRequired
	}
	se.from = from
	return nil
}

func (se *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	se.s.mu.Lock()
	refuse := se.s.refuse[strings.ToLower(to)]
	se.s.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	se.to = append(se.to, to)
	return nil
}

func (se *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(se.to) == 0 {
		return errors.New("no recipients")
	}
	se.s.mu.Lock()
	se.s.mails = append(se.s.mails, Mail{From: se.from, To: se.to, Data: b})
	se.s.mu.Unlock()
	select {
	case se.s.notify <- struct{}{}:
	default:
	}
	return nil
}

func (se *session) Reset()        { se.from, se.to = "", nil }
func (se *session) Logout() error { return nil }
