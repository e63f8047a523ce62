package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"github.com/alexedwards/argon2id"

	"github.com/lookout-status/lookout/store"
)

// checkNewPassword bounds a new password's length (in bytes, before any
// hashing).
func checkNewPassword(pw string) error {
	if len(pw) < MinPassword || len(pw) > MaxPassword {
		return ErrPasswordLength
	}
	return nil
}

// hash computes an argon2id hash, waiting for a free hashing slot.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	s.hashes.Add(1)
	return argon2id.CreateHash(pw, s.params)
}

// verify compares pw with hash (the dummy hash when hash is ""), costing
// the same either way.
func (s *Service) verify(ctx context.Context, pw, hash string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.release()
	s.hashes.Add(1)
	known := hash != ""
	if !known {
		hash = s.dummy
	}
	ok, err := argon2id.ComparePasswordAndHash(pw, hash)
	if err != nil {
		return false, fmt.Errorf("compare password: %w", err)
	}
	return ok && known, nil
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.hashing <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.hashing }

// CreateAccount creates an account with a password (12 to 128 bytes).
func (s *Service) CreateAccount(ctx context.Context, username, password string) (store.Account, error) {
	if !ValidUsername(username) {
		return store.Account{}, ErrUsername
	}
	if err := checkNewPassword(password); err != nil {
		return store.Account{}, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return store.Account{}, fmt.Errorf("create account %s: %w", username, err)
	}
	return s.db.CreateAccount(ctx, username, h)
}

// SetPassword replaces username's password without asking for the current
// one (the operator's CLI) and signs out every session of the account.
func (s *Service) SetPassword(ctx context.Context, username, password string) error {
	if err := checkNewPassword(password); err != nil {
		return err
	}
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return fmt.Errorf("set password of %s: %w", username, err)
	}
	defer s.sessions.clear()
	return s.db.SetPassword(ctx, a.ID, h, nil)
}

// ChangePassword replaces username's password after checking the current
// one, and signs out every other session of the account (keepSession, the
// session making the change, stays; "" keeps none).
func (s *Service) ChangePassword(ctx context.Context, username, current, next, keepSession string) error {
	if len(current) > MaxPassword {
		return ErrCredentials
	}
	if err := checkNewPassword(next); err != nil {
		return err
	}
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return err
	}
	ok, err := s.verify(ctx, current, a.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		return ErrCredentials
	}
	h, err := s.hash(ctx, next)
	if err != nil {
		return fmt.Errorf("change password of %s: %w", username, err)
	}
	var keep []byte
	if keepSession != "" {
		sum := sha256.Sum256([]byte(keepSession))
		keep = sum[:]
	}
	defer s.sessions.clear()
	return s.db.SetPassword(ctx, a.ID, h, keep)
}

// GeneratePassword returns a random password of 24 base62 characters
// (about 143 bits).
func GeneratePassword() string { return randomText(24) }

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomText returns n random base62 characters (rejection sampling: no
// bias).
func randomText(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		rand.Read(buf[:])
		for _, b := range buf {
			if b < 248 && len(out) < n { // 248 = 4×62
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out)
}
