package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	sqlite3 "github.com/mattn/go-sqlite3"
)

// Accounts, memberships, sessions and API tokens (migration 0005). The
// policy (hashing, expiry, who may do what) lives in package accounts; this
// file only stores. Every query about an organization's objects takes the
// organization as a required argument and filters by it.

// Errors of the account tables.
var (
	// ErrExists: the username (or token id) is taken.
	ErrExists = errors.New("already exists")
	// ErrLastOwner: the change would leave an organization without an
	// owner.
	ErrLastOwner = errors.New("an organization keeps at least one owner")
)

// Account is a person who signs in.
type Account struct {
	ID                int64
	Username          string
	PasswordHash      string
	CreatedAt         time.Time
	PasswordChangedAt time.Time
	DisabledAt        time.Time // zero: active
	// TOTPSecret is the enrolled RFC 6238 key (nil: none); TOTPPending a
	// key being enrolled; TOTPLastStep the newest time step accepted.
	TOTPSecret   []byte
	TOTPPending  []byte
	TOTPLastStep int64
}

const accountColumns = `id, username, password_hash, created_at, password_changed_at, disabled_at, totp_secret, totp_pending, totp_last_step`

func scanAccount(row interface{ Scan(...any) error }) (Account, error) {
	var a Account
	var created, changed int64
	var disabled sql.NullInt64
	if err := row.Scan(&a.ID, &a.Username, &a.PasswordHash, &created, &changed, &disabled,
		&a.TOTPSecret, &a.TOTPPending, &a.TOTPLastStep); err != nil {
		return Account{}, err
	}
	a.CreatedAt, a.PasswordChangedAt, a.DisabledAt = fromMS(created), fromMS(changed), nullMS(disabled)
	return a, nil
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintUnique ||
		errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
}

// CreateAccount stores a new account with a password hash; ErrExists when
// the username is taken.
func (db *DB) CreateAccount(ctx context.Context, username, passwordHash string) (Account, error) {
	now := db.now()
	var id int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (username, password_hash, created_at, password_changed_at)
			VALUES (?, ?, ?, ?)`, username, passwordHash, ms(now), ms(now))
		if err != nil {
			return err
		}
		id, err = res.LastInsertId()
		return err
	})
	if isUnique(err) {
		return Account{}, fmt.Errorf("create account %q: %w", username, ErrExists)
	}
	if err != nil {
		return Account{}, fmt.Errorf("create account %q: %w", username, err)
	}
	return Account{ID: id, Username: username, PasswordHash: passwordHash, CreatedAt: fromMS(ms(now)), PasswordChangedAt: fromMS(ms(now))}, nil
}

// AccountByUsername returns the account, or ErrNotFound.
func (db *DB) AccountByUsername(ctx context.Context, username string) (Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, "SELECT "+accountColumns+" FROM accounts WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("account %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("account %q: %w", username, err)
	}
	return a, nil
}

// AccountByID returns the account, or ErrNotFound.
func (db *DB) AccountByID(ctx context.Context, id int64) (Account, error) {
	a, err := scanAccount(db.r.QueryRowContext(ctx, "SELECT "+accountColumns+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Account{}, fmt.Errorf("account %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Account{}, fmt.Errorf("account %d: %w", id, err)
	}
	return a, nil
}

// Accounts returns every account, by username: for the operator's CLI,
// never for a web handler (which lists an organization's Members).
func (db *DB) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+accountColumns+" FROM accounts ORDER BY username")
	if err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accounts: %w", err)
	}
	return out, nil
}

// SetPassword replaces an account's password hash and deletes every session
// of the account but keep (the SHA-256 of the session that changed it; nil
// deletes all), in one transaction.
func (db *DB) SetPassword(ctx context.Context, account int64, passwordHash string, keep []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET password_hash = ?, password_changed_at = ? WHERE id = ?",
			passwordHash, ms(db.now()), account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM sessions WHERE account = ? AND hash IS NOT ?", account, keep)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of account %d: %w", account, err)
	}
	return nil
}

// SetAccountDisabled disables (or enables) an account; disabling deletes
// its sessions. With keepOwners, disabling the last active owner of any
// organization the account belongs to is ErrLastOwner (checked in the same
// transaction: two owners disabling each other cannot both succeed).
func (db *DB) SetAccountDisabled(ctx context.Context, account int64, disabled, keepOwners bool) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if disabled && keepOwners {
			rows, err := tx.QueryContext(ctx, "SELECT org FROM memberships WHERE account = ? AND role = 'owner'", account)
			if err != nil {
				return err
			}
			var orgs []string
			for rows.Next() {
				var org string
				if err := rows.Scan(&org); err != nil {
					rows.Close()
					return err
				}
				orgs = append(orgs, org)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, org := range orgs {
				if err := keepOwner(ctx, tx, org, account); err != nil {
					return err
				}
			}
		}
		var at any
		if disabled {
			at = ms(db.now())
		}
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET disabled_at = ? WHERE id = ?", at, account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if disabled {
			_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account = ?", account)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("disable account %d: %w", account, err)
	}
	return nil
}

// SetTOTPPending stores a key being enrolled (nil clears it).
func (db *DB) SetTOTPPending(ctx context.Context, account int64, secret []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET totp_pending = ? WHERE id = ?", secret, account)
		return err
	})
	if err != nil {
		return fmt.Errorf("set pending totp of account %d: %w", account, err)
	}
	return nil
}

// EnableTOTP makes the pending key the account's second factor, records the
// step of the code that confirmed it (so that code is not accepted again)
// and replaces the recovery codes, in one transaction.
func (db *DB) EnableTOTP(ctx context.Context, account int64, step int64, recovery [][]byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_secret = totp_pending, totp_pending = NULL, totp_last_step = ?
			WHERE id = ? AND totp_pending IS NOT NULL`, step, account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errors.New("no enrollment pending")
		}
		return replaceRecovery(ctx, tx, account, recovery)
	})
	if err != nil {
		return fmt.Errorf("enable totp of account %d: %w", account, err)
	}
	return nil
}

func replaceRecovery(ctx context.Context, tx *sql.Tx, account int64, recovery [][]byte) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM recovery_codes WHERE account = ?", account); err != nil {
		return err
	}
	for _, h := range recovery {
		if _, err := tx.ExecContext(ctx, "INSERT INTO recovery_codes (account, hash) VALUES (?, ?)", account, h); err != nil {
			return err
		}
	}
	return nil
}

// DisableTOTP removes the account's second factor and recovery codes.
func (db *DB) DisableTOTP(ctx context.Context, account int64) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET totp_secret = NULL, totp_pending = NULL WHERE id = ?", account); err != nil {
			return err
		}
		return replaceRecovery(ctx, tx, account, nil)
	})
	if err != nil {
		return fmt.Errorf("disable totp of account %d: %w", account, err)
	}
	return nil
}

// UseTOTPStep records that a code of time step was accepted: it reports
// false, changing nothing, when that step or a later one was already used
// (a replayed code). The check and the write are one statement.
func (db *DB) UseTOTPStep(ctx context.Context, account, step int64) (bool, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE accounts SET totp_last_step = ? WHERE id = ? AND totp_last_step < ? AND totp_secret IS NOT NULL",
			step, account, step)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use totp step of account %d: %w", account, err)
	}
	return n == 1, nil
}

// UseRecoveryCode marks the code with that SHA-256 used; false when there
// is no such unused code.
func (db *DB) UseRecoveryCode(ctx context.Context, account int64, hash []byte) (bool, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE recovery_codes SET used_at = ? WHERE account = ? AND hash = ? AND used_at IS NULL",
			ms(db.now()), account, hash)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use recovery code of account %d: %w", account, err)
	}
	return n == 1, nil
}

// RecoveryCodesLeft counts the account's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, account int64) (int, error) {
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM recovery_codes WHERE account = ? AND used_at IS NULL", account).Scan(&n); err != nil {
		return 0, fmt.Errorf("recovery codes of account %d: %w", account, err)
	}
	return n, nil
}

// Membership is an account's role in an organization.
type Membership struct {
	Org       string
	Account   int64
	Username  string
	Role      string
	CreatedAt time.Time
	// TOTP says the account has a second factor; Disabled that it is
	// disabled.
	TOTP     bool
	Disabled bool
}

const membershipQuery = `SELECT m.org, m.account, a.username, m.role, m.created_at, a.totp_secret IS NOT NULL, a.disabled_at IS NOT NULL
	FROM memberships m JOIN accounts a ON a.id = m.account`

func (db *DB) memberships(ctx context.Context, what, where string, args ...any) ([]Membership, error) {
	rows, err := db.r.QueryContext(ctx, membershipQuery+" WHERE "+where, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []Membership
	for rows.Next() {
		var m Membership
		var created int64
		if err := rows.Scan(&m.Org, &m.Account, &m.Username, &m.Role, &created, &m.TOTP, &m.Disabled); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		m.CreatedAt = fromMS(created)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// MembershipsOf returns the organizations an account belongs to, by
// organization id.
func (db *DB) MembershipsOf(ctx context.Context, account int64) ([]Membership, error) {
	return db.memberships(ctx, fmt.Sprintf("memberships of account %d", account), "m.account = ? ORDER BY m.org", account)
}

// Members returns org's members, by username.
func (db *DB) Members(ctx context.Context, org string) ([]Membership, error) {
	return db.memberships(ctx, "members of "+org, "m.org = ? ORDER BY a.username", org)
}

// Member returns the membership of username in org, or ErrNotFound.
func (db *DB) Member(ctx context.Context, org, username string) (Membership, error) {
	ms, err := db.memberships(ctx, "member "+username+" of "+org, "m.org = ? AND a.username = ?", org, username)
	if err != nil {
		return Membership{}, err
	}
	if len(ms) == 0 {
		return Membership{}, fmt.Errorf("member %q of %s: %w", username, org, ErrNotFound)
	}
	return ms[0], nil
}

// PutMember adds account to org with role, or changes its role; demoting
// the last owner is ErrLastOwner.
func (db *DB) PutMember(ctx context.Context, org string, account int64, role string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if role != "owner" {
			if err := keepOwner(ctx, tx, org, account); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO memberships (org, account, role, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (org, account) DO UPDATE SET role = excluded.role`, org, account, role, ms(db.now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("put member %d in %s: %w", account, org, err)
	}
	return nil
}

// RemoveMember removes account from org and revokes the API tokens it made
// there; removing the last owner is ErrLastOwner, a non-member
// ErrNotFound.
func (db *DB) RemoveMember(ctx context.Context, org string, account int64) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if err := keepOwner(ctx, tx, org, account); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM memberships WHERE org = ? AND account = ?", org, account)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = ?
			WHERE org = ? AND revoked_at IS NULL AND created_by = (SELECT username FROM accounts WHERE id = ?)`,
			ms(db.now()), org, account)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove member %d from %s: %w", account, org, err)
	}
	return nil
}

// keepOwner refuses a change that takes the owner role away from account
// when it is org's only (active) owner.
func keepOwner(ctx context.Context, tx *sql.Tx, org string, account int64) error {
	var role string
	err := tx.QueryRowContext(ctx, "SELECT role FROM memberships WHERE org = ? AND account = ?", org, account).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) || role != "owner" {
		return nil
	}
	if err != nil {
		return err
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM memberships m JOIN accounts a ON a.id = m.account
		WHERE m.org = ? AND m.role = 'owner' AND m.account <> ? AND a.disabled_at IS NULL`, org, account).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return ErrLastOwner
	}
	return nil
}

// Session is a signed-in browser. Hash is the SHA-256 of its cookie value.
type Session struct {
	Hash      []byte
	Account   int64
	CreatedAt time.Time
	LastSeen  time.Time
	ExpiresAt time.Time
	UserAgent string
	ClientIP  string
}

// CreateSession stores a session and deletes replace (the SHA-256 of the
// session it supersedes, nil for none) in one transaction.
func (db *DB) CreateSession(ctx context.Context, s Session, replace []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if replace != nil {
			if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", replace); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (hash, account, created_at, last_seen, expires_at, user_agent, client_ip)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, s.Hash, s.Account, ms(s.CreatedAt), ms(s.LastSeen), ms(s.ExpiresAt), s.UserAgent, s.ClientIP)
		return err
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionColumns = `hash, account, created_at, last_seen, expires_at, user_agent, client_ip`

func scanSession(row interface{ Scan(...any) error }) (Session, error) {
	var s Session
	var created, seen, expires int64
	if err := row.Scan(&s.Hash, &s.Account, &created, &seen, &expires, &s.UserAgent, &s.ClientIP); err != nil {
		return Session{}, err
	}
	s.CreatedAt, s.LastSeen, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return s, nil
}

// SessionByHash returns the session with that hash, or ErrNotFound.
func (db *DB) SessionByHash(ctx context.Context, hash []byte) (Session, error) {
	s, err := scanSession(db.r.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("session: %w", err)
	}
	return s, nil
}

// SessionsOf returns an account's sessions, newest first.
func (db *DB) SessionsOf(ctx context.Context, account int64) ([]Session, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE account = ? ORDER BY created_at DESC", account)
	if err != nil {
		return nil, fmt.Errorf("sessions of account %d: %w", account, err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		s, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions of account %d: %w", account, err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions of account %d: %w", account, err)
	}
	return out, nil
}

// TouchSession records activity on a session.
func (db *DB) TouchSession(ctx context.Context, hash []byte, at time.Time) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE sessions SET last_seen = ? WHERE hash = ?", ms(at), hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession deletes one session (signing out); deleting a missing one
// is no error.
func (db *DB) DeleteSession(ctx context.Context, hash []byte) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE hash = ?", hash)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteSessionsExcept deletes every session of account but keep (the
// SHA-256 of one session; nil deletes all) and returns how many it deleted.
func (db *DB) DeleteSessionsExcept(ctx context.Context, account int64, keep []byte) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE account = ? AND hash IS NOT ?", account, keep)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete sessions of account %d: %w", account, err)
	}
	return n, nil
}

// DeleteExpiredSessions deletes sessions past their absolute end or idle
// since before idleSince.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now, idleSince time.Time) (int64, error) {
	var n int64
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE expires_at <= ? OR last_seen < ?", ms(now), ms(idleSince))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return n, nil
}

// APIToken is an organization's API token. Only its SHA-256 is stored.
type APIToken struct {
	ID, Org, Name, Role string
	Hash                []byte
	// CreatedBy is the username of the member who made it ("" for the
	// CLI).
	CreatedBy  string
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time
	RevokedAt  time.Time
}

const tokenColumns = `id, org, name, role, hash, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.Org, &t.Name, &t.Role, &t.Hash, &t.CreatedBy, &created, &expires, &used, &revoked); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMS(created), nullMS(expires), nullMS(used), nullMS(revoked)
	return t, nil
}

func optMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ms(t)
}

// CreateToken stores a token; ErrExists when its id or hash is taken.
func (db *DB) CreateToken(ctx context.Context, t APIToken) error {
	if t.ID == "" || t.Org == "" || len(t.Hash) == 0 {
		return errors.New("create token: needs an id, an organization and a hash")
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, org, name, role, hash, created_by, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, t.Org, t.Name, t.Role, t.Hash, t.CreatedBy, ms(t.CreatedAt), optMS(t.ExpiresAt))
		return err
	})
	if isUnique(err) {
		return fmt.Errorf("create token %s: %w", t.ID, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.ID, err)
	}
	return nil
}

// TokenByHash returns the token with that SHA-256, whatever its
// organization (the token is what names the organization), or ErrNotFound.
// The caller checks expiry and revocation.
func (db *DB) TokenByHash(ctx context.Context, hash []byte) (APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Tokens returns org's tokens, newest first.
func (db *DB) Tokens(ctx context.Context, org string) ([]APIToken, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE org = ? ORDER BY created_at DESC, id", org)
	if err != nil {
		return nil, fmt.Errorf("tokens of %s: %w", org, err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("tokens of %s: %w", org, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tokens of %s: %w", org, err)
	}
	return out, nil
}

// Token returns org's token with that id, or ErrNotFound (also when the id
// is another organization's).
func (db *DB) Token(ctx context.Context, org, id string) (APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM api_tokens WHERE org = ? AND id = ?", org, id))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token %s of %s: %w", id, org, ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("token %s of %s: %w", id, org, err)
	}
	return t, nil
}

// RevokeToken revokes org's token id; revoking it again changes nothing;
// ErrNotFound when org has no such token.
func (db *DB) RevokeToken(ctx context.Context, org, id string) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE org = ? AND id = ?",
			ms(db.now()), org, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("revoke token %s of %s: %w", id, org, err)
	}
	return nil
}

// TouchToken records a token's use.
func (db *DB) TouchToken(ctx context.Context, id string, at time.Time) error {
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", ms(at), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("touch token %s: %w", id, err)
	}
	return nil
}
