package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// Claims are the claims of a Heimdall access token.
type Claims struct {
	jwt.RegisteredClaims
	Email     string   `json:"email"`
	TenantID  string   `json:"tenantId"`
	Roles     []string `json:"roles"`
	SessionID string   `json:"sid,omitempty"`
}

// Issuer signs and verifies access tokens.
type Issuer struct {
	Keys     *KeySet
	Issuer   string
	Audience string
	TTL      time.Duration
	Now      func() time.Time
}

// Subject is who an access token is issued to.
type Subject struct {
	UserID, Email, TenantID, SessionID string
	Roles                              []string
}

// Issue signs an access token for s and returns it with its lifetime.
func (is *Issuer) Issue(s Subject) (string, error) {
	now := is.Now().UTC().Truncate(time.Second)
	roles := s.Roles
	if roles == nil {
		roles = []string{}
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    is.Issuer,
			Subject:   s.UserID,
			Audience:  jwt.ClaimStrings{is.Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(is.TTL)),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Email: s.Email, TenantID: s.TenantID, Roles: roles, SessionID: s.SessionID,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = is.Keys.KID()
	return t.SignedString(is.Keys.signer)
}

// ErrInvalidToken is returned for any token that does not verify.
var ErrInvalidToken = errors.New("invalid access token")

// Verify checks signature (RS256 only, key by kid), issuer, audience and time claims.
func (is *Issuer) Verify(raw string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := is.Keys.PublicKey(kid)
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(is.Issuer),
		jwt.WithAudience(is.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(is.Now),
		jwt.WithLeeway(5*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	return &c, nil
}

// RefreshTokenPrefix starts every opaque refresh token.
const RefreshTokenPrefix = "rt_"

// NewRefreshToken returns a fresh opaque refresh token (rt_ + 32 random bytes,
// base64url) and the SHA-256 hash that is the only thing stored.
func NewRefreshToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token = RefreshTokenPrefix + b64(b)
	return token, HashRefreshToken(token), nil
}

// HashRefreshToken is the stored form of a refresh token.
func HashRefreshToken(token string) []byte {
	s := sha256.Sum256([]byte(token))
	return s[:]
}

// LooksLikeRefreshToken is a cheap shape check before touching the database.
func LooksLikeRefreshToken(s string) bool {
	return strings.HasPrefix(s, RefreshTokenPrefix) && len(s) >= len(RefreshTokenPrefix)+43 && len(s) <= 256
}
