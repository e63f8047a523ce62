package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/lookout-status/lookout/store"
)

// TOTP (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits, a code of the
// previous, current or next step accepted (clock drift), each step at most
// once per account (replay). The same as every authenticator app's default.
const (
	totpStep   = 30 * time.Second
	totpDigits = 6
	totpSkew   = 1
	// RecoveryCodes is how many single-use recovery codes an enrollment
	// makes.
	RecoveryCodes = 10
)

// Errors of enrollment.
var (
	ErrTOTPEnrolled    = errors.New("two-factor authentication is already on")
	ErrTOTPNotPending  = errors.New("no two-factor enrollment in progress")
	ErrTOTPRequired    = errors.New("an organization you belong to requires two-factor authentication")
	errTOTPNotEnrolled = errors.New("two-factor authentication is off")
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpCode is the RFC 4226 HOTP value of counter step.
func totpCode(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	h := m.Sum(nil)
	off := h[len(h)-1] & 0x0f
	v := binary.BigEndian.Uint32(h[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%06d", v%1000000)
}

// TOTPCode returns the code for secret (base32) at t: what an authenticator
// app shows. For tests and the CLI.
func TOTPCode(secret string, t time.Time) (string, error) {
	key, err := b32.DecodeString(strings.ToUpper(secret))
	if err != nil {
		return "", fmt.Errorf("totp secret: %w", err)
	}
	return totpCode(key, t.Unix()/int64(totpStep/time.Second)), nil
}

// matchStep returns the step within the skew whose code is code.
func matchStep(secret []byte, code string, now time.Time) (int64, bool) {
	if len(code) != totpDigits {
		return 0, false
	}
	cur := now.Unix() / int64(totpStep/time.Second)
	found, step := 0, int64(0)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		if subtle.ConstantTimeCompare([]byte(totpCode(secret, s)), []byte(code)) == 1 {
			found, step = 1, s
		}
	}
	return step, found == 1
}

// checkCode accepts a TOTP code (each step once) or an unused recovery code.
func (s *Service) checkCode(ctx context.Context, a store.Account, code string) (bool, error) {
	code = strings.TrimSpace(code)
	if step, ok := matchStep(a.TOTPSecret, code, s.clock.Now()); ok {
		return s.db.UseTOTPStep(ctx, a.ID, step)
	}
	norm := normalizeRecovery(code)
	if len(norm) != 10 {
		return false, nil
	}
	return s.db.UseRecoveryCode(ctx, a.ID, sum(norm))
}

func normalizeRecovery(code string) string {
	return strings.ToLower(strings.NewReplacer("-", "", " ", "").Replace(code))
}

// Enrollment is a second factor being set up: the key to enter in an
// authenticator app, as text and as an otpauth:// URI.
type Enrollment struct {
	Secret string
	URI    string
}

func enrollment(username string, key []byte) Enrollment {
	secret := b32.EncodeToString(key)
	v := url.Values{}
	v.Set("secret", secret)
	v.Set("issuer", "Lookout")
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	return Enrollment{Secret: secret, URI: "otpauth://totp/" + url.PathEscape("Lookout:"+username) + "?" + v.Encode()}
}

// BeginTOTP starts enrolling a second factor for username: a new key,
// pending until ConfirmTOTP.
func (s *Service) BeginTOTP(ctx context.Context, username string) (Enrollment, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return Enrollment{}, err
	}
	if a.TOTPSecret != nil {
		return Enrollment{}, ErrTOTPEnrolled
	}
	key := make([]byte, 20)
	rand.Read(key)
	if err := s.db.SetTOTPPending(ctx, a.ID, key); err != nil {
		return Enrollment{}, err
	}
	return enrollment(username, key), nil
}

// PendingTOTP returns the enrollment in progress, if any.
func (s *Service) PendingTOTP(ctx context.Context, username string) (Enrollment, bool) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil || a.TOTPPending == nil || a.TOTPSecret != nil {
		return Enrollment{}, false
	}
	return enrollment(username, a.TOTPPending), true
}

// ConfirmTOTP turns the pending key on once code proves the app has it,
// and returns the recovery codes (shown once; only their hashes are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, username, code string) ([]string, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return nil, err
	}
	if a.TOTPSecret != nil {
		return nil, ErrTOTPEnrolled
	}
	if a.TOTPPending == nil {
		return nil, ErrTOTPNotPending
	}
	step, ok := matchStep(a.TOTPPending, strings.TrimSpace(code), s.clock.Now())
	if !ok {
		return nil, ErrCredentials
	}
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		c := strings.ToLower(b32.EncodeToString(randomBytes(7)))[:10]
		codes[i] = c[:5] + "-" + c[5:]
		hashes[i] = sum(c)
	}
	if err := s.db.EnableTOTP(ctx, a.ID, step, hashes); err != nil {
		return nil, err
	}
	s.sessions.clear()
	s.log.InfoContext(ctx, "second factor enrolled", "user", username)
	return codes, nil
}

// DisableTOTP turns username's second factor off after checking the
// password; refused while an organization of the account requires one.
func (s *Service) DisableTOTP(ctx context.Context, username, password string) error {
	if len(password) > MaxPassword {
		return ErrCredentials
	}
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return err
	}
	if a.TOTPSecret == nil {
		return errTOTPNotEnrolled
	}
	ok, err := s.verify(ctx, password, a.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCredentials
	}
	ms, err := s.db.MembershipsOf(ctx, a.ID)
	if err != nil {
		return err
	}
	for _, m := range s.ordered(ms) {
		if o, _ := s.Org(m.Org); o.RequireTOTP {
			return ErrTOTPRequired
		}
	}
	defer s.sessions.clear()
	return s.db.DisableTOTP(ctx, a.ID)
}

// RecoveryCodesLeft counts username's unused recovery codes.
func (s *Service) RecoveryCodesLeft(ctx context.Context, username string) (int, error) {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return 0, err
	}
	return s.db.RecoveryCodesLeft(ctx, a.ID)
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
