package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Refresh token errors.
var (
	ErrTokenInvalid = errors.New("refresh token invalid or expired")
	ErrTokenReused  = errors.New("refresh token reused: family revoked")
)

// RefreshToken is a stored refresh token (hash only).
type RefreshToken struct {
	ID, UserID, TenantID, FamilyID string
	Hash                           []byte
	ExpiresAt                      time.Time
}

// InsertRefreshToken stores a new token; an empty FamilyID starts a new family.
func (s *Store) InsertRefreshToken(ctx context.Context, t RefreshToken) (RefreshToken, error) {
	return insertRefresh(ctx, s.Pool, t)
}

func insertRefresh(ctx context.Context, db interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}, t RefreshToken) (RefreshToken, error) {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	if t.FamilyID == "" {
		t.FamilyID = uuid.NewString()
	}
	err := db.QueryRow(ctx, `INSERT INTO refresh_tokens (id, user_id, tenant_id, family_id, token_hash, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, t.ID, t.UserID, t.TenantID, t.FamilyID, t.Hash, t.ExpiresAt).Scan(&t.ID)
	return t, err
}

// RotateRefreshToken spends the token with hash old and stores next in the
// same family. A token that was already spent or revoked revokes its whole
// family and answers ErrTokenReused; unknown or expired answers ErrTokenInvalid.
func (s *Store) RotateRefreshToken(ctx context.Context, old []byte, next RefreshToken, now time.Time) (RefreshToken, error) {
	var out RefreshToken
	var reused bool
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var cur RefreshToken
		var usedAt, revokedAt *time.Time
		err := tx.QueryRow(ctx, `SELECT id::text, user_id::text, tenant_id::text, family_id::text, expires_at, used_at, revoked_at
			FROM refresh_tokens WHERE token_hash = $1 FOR UPDATE`, old).
			Scan(&cur.ID, &cur.UserID, &cur.TenantID, &cur.FamilyID, &cur.ExpiresAt, &usedAt, &revokedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrTokenInvalid
		}
		if err != nil {
			return err
		}
		if usedAt != nil || revokedAt != nil {
			reused = usedAt != nil
			if reused {
				// Reuse of a rotated token: someone holds a copy. Kill the session.
				_, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2, revoke_reason = 'reuse detected'
					WHERE family_id = $1 AND revoked_at IS NULL`, cur.FamilyID, now)
				return err
			}
			return ErrTokenInvalid
		}
		if !now.Before(cur.ExpiresAt) {
			return ErrTokenInvalid
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2 WHERE id = $1`, cur.ID, now); err != nil {
			return err
		}
		next.UserID, next.TenantID, next.FamilyID = cur.UserID, cur.TenantID, cur.FamilyID
		out, err = insertRefresh(ctx, tx, next)
		return err
	})
	if err != nil {
		return RefreshToken{}, err
	}
	if reused {
		return RefreshToken{}, ErrTokenReused
	}
	return out, nil
}

// RevokeRefreshToken revokes the whole session (family) of the token with
// hash h when it belongs to userID. Unknown tokens are ErrTokenInvalid.
func (s *Store) RevokeRefreshToken(ctx context.Context, userID string, h []byte, now time.Time) error {
	var family string
	err := s.Pool.QueryRow(ctx, `SELECT family_id::text FROM refresh_tokens WHERE token_hash = $1 AND user_id = $2`, h, userID).Scan(&family)
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrTokenInvalid
	}
	if err != nil {
		return err
	}
	return s.RevokeFamily(ctx, userID, family, now)
}

// RevokeFamily revokes every live token of one session of userID.
func (s *Store) RevokeFamily(ctx context.Context, userID, familyID string, now time.Time) error {
	if _, err := uuid.Parse(familyID); err != nil {
		return nil
	}
	_, err := s.Pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $3, revoke_reason = 'logout'
		WHERE user_id = $1 AND family_id = $2 AND revoked_at IS NULL`, userID, familyID, now)
	return err
}

// RevokeAllForUser revokes every live token of userID except those of the
// session exceptFamily (empty: none excepted) and returns how many.
func (s *Store) RevokeAllForUser(ctx context.Context, userID, exceptFamily, reason string, now time.Time) (int64, error) {
	var except *string
	if _, err := uuid.Parse(exceptFamily); err == nil {
		except = &exceptFamily
	}
	tag, err := s.Pool.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2, revoke_reason = $4
		WHERE user_id = $1 AND revoked_at IS NULL AND ($3::uuid IS NULL OR family_id <> $3::uuid)`, userID, now, except, reason)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
