package accounts

import (
	"context"
	"errors"
	"fmt"

	"github.com/lookout-status/lookout/store"
)

// Members returns org's members, by username.
func (s *Service) Members(ctx context.Context, org string) ([]store.Membership, error) {
	return s.db.Members(ctx, org)
}

// Member returns username's membership of org (store.ErrNotFound when
// none).
func (s *Service) Member(ctx context.Context, org, username string) (store.Membership, error) {
	return s.db.Member(ctx, org, username)
}

// AddMember makes username a member of org with role. When no account of
// that name exists one is created with a generated password, returned (the
// only time it is seen) for the owner to hand over; otherwise password is
// "". An existing member is store.ErrExists.
func (s *Service) AddMember(ctx context.Context, org, username, role string) (password string, err error) {
	if _, ok := s.Org(org); !ok {
		return "", ErrUnknownOrg
	}
	if !ValidUsername(username) {
		return "", ErrUsername
	}
	if !ValidRole(role) {
		return "", ErrRole
	}
	a, err := s.db.AccountByUsername(ctx, username)
	switch {
	case errors.Is(err, store.ErrNotFound):
		password = GeneratePassword()
		if a, err = s.CreateAccount(ctx, username, password); err != nil {
			return "", err
		}
	case err != nil:
		return "", err
	default:
		if _, err := s.db.Member(ctx, org, username); err == nil {
			return "", fmt.Errorf("member %s of %s: %w", username, org, store.ErrExists)
		}
	}
	if err := s.db.PutMember(ctx, org, a.ID, role); err != nil {
		return "", err
	}
	s.forget()
	return password, nil
}

// SetRole changes a member's role; store.ErrLastOwner when it would leave
// org without an owner, store.ErrNotFound for a non-member.
func (s *Service) SetRole(ctx context.Context, org, username, role string) error {
	if !ValidRole(role) {
		return ErrRole
	}
	m, err := s.db.Member(ctx, org, username)
	if err != nil {
		return err
	}
	if err := s.db.PutMember(ctx, org, m.Account, role); err != nil {
		return err
	}
	s.forget()
	return nil
}

// RemoveMember removes username from org and revokes the tokens they made
// there; store.ErrLastOwner for the last owner.
func (s *Service) RemoveMember(ctx context.Context, org, username string) error {
	m, err := s.db.Member(ctx, org, username)
	if err != nil {
		return err
	}
	if err := s.db.RemoveMember(ctx, org, m.Account); err != nil {
		return err
	}
	s.forget()
	return nil
}

// SetDisabled disables (or enables) an account: its sessions end and its
// tokens stop working.
func (s *Service) SetDisabled(ctx context.Context, username string, disabled bool) error {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return err
	}
	if err := s.db.SetAccountDisabled(ctx, a.ID, disabled); err != nil {
		return err
	}
	s.forget()
	return nil
}
