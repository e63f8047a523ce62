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
// tokens stop working. The operator's: it may disable an organization's
// last owner (DisableMember may not).
func (s *Service) SetDisabled(ctx context.Context, username string, disabled bool) error {
	a, err := s.db.AccountByUsername(ctx, username)
	if err != nil {
		return err
	}
	if err := s.db.SetAccountDisabled(ctx, a.ID, disabled, false); err != nil {
		return err
	}
	s.forget()
	return nil
}

// Refusals of DisableMember.
var (
	// ErrSelf: an owner disabling their own account.
	ErrSelf = errors.New("you cannot disable your own account")
	// ErrOtherOrganizations: the account also belongs to an organization
	// the owner asking does not own.
	ErrOtherOrganizations = errors.New("the account also belongs to an organization you do not own: remove them from this one instead")
)

// DisableMember disables (or enables) the account of org's member username
// on behalf of actor, an owner of org: its sessions end and its tokens stop
// working in every organization. Refused: a non-member (store.ErrNotFound),
// the actor's own account (ErrSelf), an account that also belongs to an
// organization actor does not own (ErrOtherOrganizations: one
// organization's owner cannot lock a person out of another), and the last
// active owner of an organization (store.ErrLastOwner).
func (s *Service) DisableMember(ctx context.Context, org, actor, username string, disabled bool) error {
	m, err := s.db.Member(ctx, org, username)
	if err != nil {
		return err
	}
	if username == actor {
		return ErrSelf
	}
	all, err := s.db.MembershipsOf(ctx, m.Account)
	if err != nil {
		return err
	}
	for _, o := range s.ordered(all) {
		if o.Org == org {
			continue
		}
		am, err := s.db.Member(ctx, o.Org, actor)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return ErrOtherOrganizations
		case err != nil:
			return err
		case am.Role != RoleOwner || am.Disabled:
			return ErrOtherOrganizations
		}
	}
	if err := s.db.SetAccountDisabled(ctx, m.Account, disabled, true); err != nil {
		return err
	}
	s.forget()
	return nil
}
