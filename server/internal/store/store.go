// Package store is Heimdall's PostgreSQL storage: tenants, user profiles,
// roles, refresh tokens and the audit log.
package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

// Sentinel errors.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
)

// DefaultTenantID is the id of the `default` tenant row made by the first migration.
const DefaultTenantID = "00000000-0000-0000-0000-000000000001"

// DefaultRoleName is the role every registered user gets.
const DefaultRoleName = "user"

// Store wraps a pgx pool.
type Store struct {
	Pool *pgxpool.Pool
}

// Open connects a pool and checks it answers.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Store{Pool: pool}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.Pool.Close() }

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.Pool.Ping(ctx) }

// SchemaCurrent checks that the database holds at least the schema this binary was built with.
// A newer schema is fine (the previous version keeps serving while a newer one rolls out); an
// older or missing one means `heimdall-migrate up` has not run yet.
func (s *Store) SchemaCurrent(ctx context.Context) error {
	need, err := migrations.Latest()
	if err != nil {
		return err
	}
	var have int
	err = s.Pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&have)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		return fmt.Errorf("schema not migrated: this server needs version %d", need)
	}
	if err != nil {
		return err
	}
	if have < need {
		return fmt.Errorf("schema at version %d, this server needs %d", have, need)
	}
	return nil
}

// Tenant is a tenant row.
type Tenant struct {
	ID, Slug, Name, Status string
}

// TenantByIDOrSlug finds a tenant by UUID or slug.
func (s *Store) TenantByIDOrSlug(ctx context.Context, key string) (Tenant, error) {
	var t Tenant
	q := `SELECT id::text, slug, name, status FROM tenants WHERE slug = $1`
	if _, err := uuid.Parse(key); err == nil {
		q = `SELECT id::text, slug, name, status FROM tenants WHERE id = $1::uuid`
	}
	err := s.Pool.QueryRow(ctx, q, key).Scan(&t.ID, &t.Slug, &t.Name, &t.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

// User is a local user profile with its roles and permissions.
type User struct {
	ID             string         `json:"id"`
	TenantID       string         `json:"tenantId"`
	Email          string         `json:"email"`
	EmailVerified  bool           `json:"emailVerified"`
	FirstName      string         `json:"firstName"`
	LastName       string         `json:"lastName"`
	PhoneNumber    string         `json:"phoneNumber"`
	ProfilePicture string         `json:"profilePicture"`
	Metadata       map[string]any `json:"metadata"`
	Roles          []string       `json:"roles"`
	Permissions    []string       `json:"permissions"`
	CreatedAt      time.Time      `json:"createdAt"`
	UpdatedAt      time.Time      `json:"updatedAt"`
	LastLoginAt    *time.Time     `json:"lastLoginAt"`
}

// CreateUser inserts a profile and gives it the tenant's default role.
func (s *Store) CreateUser(ctx context.Context, u User) error {
	if u.Metadata == nil {
		u.Metadata = map[string]any{}
	}
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO users (id, tenant_id, email, email_verified, first_name, last_name, phone_number, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
			u.ID, u.TenantID, u.Email, u.EmailVerified, u.FirstName, u.LastName, u.PhoneNumber, u.Metadata)
		if err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return ErrAlreadyExists
			}
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO user_roles (user_id, role_id)
			SELECT $1, id FROM roles WHERE tenant_id = $2 AND name = $3`, u.ID, u.TenantID, DefaultRoleName)
		return err
	})
}

const userCols = `u.id::text, u.tenant_id::text, u.email, u.email_verified, u.first_name, u.last_name, u.phone_number,
	u.profile_picture, u.metadata, u.created_at, u.updated_at, u.last_login_at,
	COALESCE((SELECT array_agg(r.name ORDER BY r.name) FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = u.id), '{}'),
	COALESCE((SELECT array_agg(DISTINCT p ORDER BY p) FROM user_roles ur JOIN roles r ON r.id = ur.role_id, unnest(r.permissions) p WHERE ur.user_id = u.id), '{}')`

// GetUser loads a profile by id.
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	err := s.Pool.QueryRow(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id).Scan(
		&u.ID, &u.TenantID, &u.Email, &u.EmailVerified, &u.FirstName, &u.LastName, &u.PhoneNumber,
		&u.ProfilePicture, &u.Metadata, &u.CreatedAt, &u.UpdatedAt, &u.LastLoginAt, &u.Roles, &u.Permissions)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, ErrNotFound
	}
	if u.Metadata == nil {
		u.Metadata = map[string]any{}
	}
	return u, err
}

// UserPatch holds the fields PATCH /v1/users/me may change (nil: unchanged).
type UserPatch struct {
	FirstName, LastName, PhoneNumber, ProfilePicture *string
	Metadata                                         map[string]any
}

// UpdateUser applies p to a profile.
func (s *Store) UpdateUser(ctx context.Context, id string, p UserPatch) error {
	tag, err := s.Pool.Exec(ctx, `UPDATE users SET
		first_name = COALESCE($2, first_name), last_name = COALESCE($3, last_name),
		phone_number = COALESCE($4, phone_number), profile_picture = COALESCE($5, profile_picture),
		metadata = COALESCE($6, metadata), updated_at = now()
		WHERE id = $1`, id, p.FirstName, p.LastName, p.PhoneNumber, p.ProfilePicture, p.Metadata)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}

// TouchLastLogin sets last_login_at.
func (s *Store) TouchLastLogin(ctx context.Context, id string, at time.Time) error {
	_, err := s.Pool.Exec(ctx, `UPDATE users SET last_login_at = $2 WHERE id = $1`, id, at)
	return err
}

// DeleteUser deletes a profile (its tokens and role links cascade) inside a
// transaction and calls also before committing; an error from also rolls back.
func (s *Store) DeleteUser(ctx context.Context, id string, also func() error) error {
	return pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM users WHERE id = $1`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		return also()
	})
}

// AuditEntry is one audit log row.
type AuditEntry struct {
	TenantID, Actor, Action, IP, UserAgent, RequestID string
	Details                                           map[string]any
}

// Audit appends an audit log row.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.Details == nil {
		e.Details = map[string]any{}
	}
	if e.TenantID == "" {
		e.TenantID = DefaultTenantID
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO audit_logs (tenant_id, actor, action, ip, user_agent, request_id, details)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.TenantID, e.Actor, e.Action, e.IP, e.UserAgent, e.RequestID, e.Details)
	return err
}

// Unavailable reports whether err means the database cannot be reached or
// went away (network errors, connection exceptions, server shutdown), as
// opposed to a bug or a constraint violation.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	return errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) || pgconn.Timeout(err)
}

// Recover drops every pooled connection after a connection-level failure, so
// connections to a restarted server are not handed out one failure at a time.
func (s *Store) Recover(err error) {
	if Unavailable(err) {
		s.Pool.Reset()
	}
}
