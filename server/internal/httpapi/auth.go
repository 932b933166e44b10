package httpapi

import (
	"context"
	"errors"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

type tokenPair struct {
	AccessToken  string      `json:"accessToken"`
	RefreshToken string      `json:"refreshToken"`
	TokenType    string      `json:"tokenType"`
	ExpiresIn    int         `json:"expiresIn"`
	User         *store.User `json:"user,omitempty"`
}

func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && strings.Contains(s, "@")
}

// passwordProblem returns why a new password is too weak ("" when fine).
func passwordProblem(p string) string {
	if len(p) < 8 {
		return "must be at least 8 characters"
	}
	if len(p) > 256 {
		return "must be at most 256 characters"
	}
	var letter, digit bool
	for _, r := range p {
		letter = letter || unicode.IsLetter(r)
		digit = digit || unicode.IsDigit(r)
	}
	if !letter || !digit {
		return "must contain a letter and a digit"
	}
	return ""
}

func maxLen(fields map[string]string, name, v string, n int) {
	if len(v) > n {
		fields[name] = "must be at most " + itoa(n) + " characters"
	}
}

type registerReq struct {
	Email       string         `json:"email"`
	Password    string         `json:"password"`
	FirstName   string         `json:"firstName"`
	LastName    string         `json:"lastName"`
	PhoneNumber string         `json:"phoneNumber"`
	Metadata    map[string]any `json:"metadata"`
	TenantID    string         `json:"tenantId"`
}

func (s *Server) tenantFor(ctx context.Context, r *http.Request, explicit string) (store.Tenant, error) {
	key := explicit
	if key == "" {
		key = r.Header.Get("X-Tenant-ID")
	}
	if key == "" {
		key = "default"
	}
	t, err := s.store.TenantByIDOrSlug(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return t, apperr.Validation(map[string]string{"tenantId": "unknown tenant"})
	}
	if err != nil {
		return t, s.dbErr(err)
	}
	if t.Status != "active" {
		return t, apperr.New(apperr.CodeForbidden, "tenant is suspended")
	}
	return t, nil
}

// dbErr maps a PostgreSQL failure: timeouts and connection trouble are
// SERVICE_UNAVAILABLE (and drop the pool's stale connections), the rest
// INTERNAL_ERROR.
func (s *Server) dbErr(err error) error {
	if store.Unavailable(err) {
		s.store.Recover(err)
		return apperr.Wrap(apperr.CodeUnavailable, "database unavailable", err)
	}
	return err
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req registerReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Email = strings.TrimSpace(req.Email)
	fields := map[string]string{}
	if !validEmail(req.Email) {
		fields["email"] = "must be a valid email address"
	}
	if p := passwordProblem(req.Password); p != "" {
		fields["password"] = p
	}
	if strings.TrimSpace(req.FirstName) == "" {
		fields["firstName"] = "is required"
	}
	if strings.TrimSpace(req.LastName) == "" {
		fields["lastName"] = "is required"
	}
	maxLen(fields, "firstName", req.FirstName, 100)
	maxLen(fields, "lastName", req.LastName, 100)
	maxLen(fields, "phoneNumber", req.PhoneNumber, 32)
	if len(fields) > 0 {
		return apperr.Validation(fields)
	}
	ctx := r.Context()
	tenant, err := s.tenantFor(ctx, r, req.TenantID)
	if err != nil {
		return err
	}
	fu, err := s.fa.Register(ctx, fusionauth.RegisterInput{
		Email: req.Email, Password: req.Password, FirstName: req.FirstName, LastName: req.LastName,
		PhoneNumber: req.PhoneNumber, Data: req.Metadata, Roles: []string{store.DefaultRoleName},
	})
	if err != nil {
		return err
	}
	// From here on a failure must leave nothing behind.
	undo := func(stage string, cause error) error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.store.DeleteUser(cctx, fu.ID, func() error { return nil }); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.Error("register rollback: deleting local profile failed", "userId", fu.ID, "error", err.Error())
		}
		if err := s.fa.DeleteUser(cctx, fu.ID); err != nil {
			s.log.Error("register rollback: deleting FusionAuth user failed", "userId", fu.ID, "error", err.Error())
		}
		s.log.Warn("registration rolled back", "userId", fu.ID, "stage", stage, "requestId", info(ctx).RequestID)
		return cause
	}
	err = s.store.CreateUser(ctx, store.User{
		ID: fu.ID, TenantID: tenant.ID, Email: req.Email, EmailVerified: fu.Verified,
		FirstName: req.FirstName, LastName: req.LastName, PhoneNumber: req.PhoneNumber, Metadata: req.Metadata,
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return undo("profile", apperr.New(apperr.CodeConflict, "email already registered"))
	}
	if err != nil {
		return undo("profile", s.dbErr(err))
	}
	u, err := s.store.GetUser(ctx, fu.ID)
	if err != nil {
		return undo("profile", s.dbErr(err))
	}
	pair, err := s.newSession(ctx, u)
	if err != nil {
		return undo("tokens", err)
	}
	ri := info(ctx)
	ri.UserID, ri.TenantID = u.ID, u.TenantID
	s.audit(ctx, u.TenantID, u.ID, "user.registered", nil)
	s.log.InfoContext(ctx, "User registered", ri.attrs()...)
	pair.User = &u
	s.writeData(w, r, http.StatusCreated, pair)
	return nil
}

// newSession starts a refresh-token family for u and issues a token pair.
func (s *Server) newSession(ctx context.Context, u store.User) (tokenPair, error) {
	rt, hash, err := tokens.NewRefreshToken()
	if err != nil {
		return tokenPair{}, err
	}
	stored, err := s.store.InsertRefreshToken(ctx, store.RefreshToken{
		UserID: u.ID, TenantID: u.TenantID, Hash: hash, ExpiresAt: s.now().Add(s.cfg.RefreshTTL),
	})
	if err != nil {
		return tokenPair{}, s.dbErr(err)
	}
	return s.pair(u, stored.FamilyID, rt)
}

func (s *Server) pair(u store.User, family, refresh string) (tokenPair, error) {
	at, err := s.issuer.Issue(tokens.Subject{UserID: u.ID, Email: u.Email, TenantID: u.TenantID, Roles: u.Roles, SessionID: family})
	if err != nil {
		return tokenPair{}, err
	}
	s.metrics.tokenGenerations.WithLabelValues("access").Inc()
	s.metrics.tokenGenerations.WithLabelValues("refresh").Inc()
	return tokenPair{AccessToken: at, RefreshToken: refresh, TokenType: "Bearer", ExpiresIn: int(s.cfg.AccessTTL.Seconds())}, nil
}

func (s *Server) audit(ctx context.Context, tenantID, actor, action string, details map[string]any) {
	ri := info(ctx)
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
	defer cancel()
	err := s.store.Audit(cctx, store.AuditEntry{
		TenantID: tenantID, Actor: actor, Action: action, IP: ri.IP, UserAgent: ri.UserAgent,
		RequestID: ri.RequestID, Details: details,
	})
	if err != nil {
		s.log.Error("writing audit log failed", append(ri.attrs(), "action", action, "error", err.Error())...)
	}
}

type loginReq struct {
	Email      string `json:"email"`
	Password   string `json:"password"`
	RememberMe bool   `json:"rememberMe"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req loginReq
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	req.Email = strings.TrimSpace(req.Email)
	fields := map[string]string{}
	if req.Email == "" {
		fields["email"] = "is required"
	}
	if req.Password == "" {
		fields["password"] = "is required"
	}
	if len(fields) > 0 {
		return apperr.Validation(fields)
	}
	ctx := r.Context()
	ri := info(ctx)
	s.metrics.loginAttempts.Inc()
	res, err := s.fa.Login(ctx, req.Email, req.Password, ri.IP)
	if err != nil {
		code := apperr.From(err).Code
		s.metrics.loginFailures.WithLabelValues(code).Inc()
		s.audit(ctx, store.DefaultTenantID, "", "user.login_failed", map[string]any{"reason": code})
		s.log.InfoContext(ctx, "Login failed", append(ri.attrs(), "reason", code)...)
		return err
	}
	if res.TwoFactorID != "" {
		s.writeData(w, r, http.StatusOK, map[string]any{"mfaRequired": true, "mfaToken": res.TwoFactorID, "methods": res.Methods})
		return nil
	}
	u, err := s.store.GetUser(ctx, res.User.ID)
	if errors.Is(err, store.ErrNotFound) {
		// Known to FusionAuth but not here (e.g. made in FusionAuth's admin UI): provision a profile.
		err = s.store.CreateUser(ctx, store.User{
			ID: res.User.ID, TenantID: store.DefaultTenantID, Email: res.User.Email, EmailVerified: res.User.Verified,
			FirstName: res.User.FirstName, LastName: res.User.LastName, PhoneNumber: res.User.PhoneNumber,
		})
		if err == nil {
			u, err = s.store.GetUser(ctx, res.User.ID)
		}
	}
	if err != nil {
		return s.dbErr(err)
	}
	now := s.now().UTC()
	if err := s.store.TouchLastLogin(ctx, u.ID, now); err != nil {
		return s.dbErr(err)
	}
	u.LastLoginAt = &now
	s.cache.drop(ctx, u.ID)
	pair, err := s.newSession(ctx, u)
	if err != nil {
		return err
	}
	ri.UserID, ri.TenantID = u.ID, u.TenantID
	s.audit(ctx, u.TenantID, u.ID, "user.login", nil)
	s.log.InfoContext(ctx, "User logged in", ri.attrs()...)
	pair.User = &u
	s.writeData(w, r, http.StatusOK, pair)
	return nil
}

var invalidRefresh = apperr.New(apperr.CodeInvalidToken, "refresh token is invalid, expired or revoked")

func (s *Server) refresh(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refreshToken"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return apperr.Validation(map[string]string{"refreshToken": "is required"})
	}
	if !tokens.LooksLikeRefreshToken(req.RefreshToken) {
		return invalidRefresh
	}
	ctx := r.Context()
	rt, hash, err := tokens.NewRefreshToken()
	if err != nil {
		return err
	}
	now := s.now()
	next, err := s.store.RotateRefreshToken(ctx, tokens.HashRefreshToken(req.RefreshToken),
		store.RefreshToken{Hash: hash, ExpiresAt: now.Add(s.cfg.RefreshTTL)}, now)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		s.log.WarnContext(ctx, "refresh token reuse detected: session revoked", info(ctx).attrs()...)
		s.audit(ctx, store.DefaultTenantID, "", "token.reuse_detected", nil)
		return invalidRefresh
	case errors.Is(err, store.ErrTokenInvalid):
		return invalidRefresh
	case err != nil:
		return s.dbErr(err)
	}
	u, err := s.user(ctx, next.UserID)
	if err != nil {
		return err
	}
	ri := info(ctx)
	ri.UserID, ri.TenantID = u.ID, u.TenantID
	pair, err := s.pair(u, next.FamilyID, rt)
	if err != nil {
		return err
	}
	s.writeData(w, r, http.StatusOK, pair)
	return nil
}

// user loads a profile through the cache.
func (s *Server) user(ctx context.Context, id string) (store.User, error) {
	if u, ok := s.cache.get(ctx, id); ok {
		return u, nil
	}
	u, err := s.store.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return u, apperr.New(apperr.CodeNotFound, "user not found")
	}
	if err != nil {
		return u, s.dbErr(err)
	}
	s.cache.put(ctx, u)
	return u, nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		RefreshToken string `json:"refreshToken"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(r, &req); err != nil && !isEmptyBody(err) {
			return err
		}
	}
	ctx := r.Context()
	c := info(ctx).Claims
	var err error
	if req.RefreshToken != "" {
		err = s.store.RevokeRefreshToken(ctx, c.Subject, tokens.HashRefreshToken(req.RefreshToken), s.now())
		if errors.Is(err, store.ErrTokenInvalid) {
			err = nil // unknown or someone else's token: nothing of ours to revoke
		}
	} else {
		err = s.store.RevokeFamily(ctx, c.Subject, c.SessionID, s.now())
	}
	if err != nil {
		return s.dbErr(err)
	}
	s.audit(ctx, c.TenantID, c.Subject, "user.logout", nil)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) logoutAll(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	c := info(ctx).Claims
	n, err := s.store.RevokeAllForUser(ctx, c.Subject, "", "logout-all", s.now())
	if err != nil {
		return s.dbErr(err)
	}
	s.audit(ctx, c.TenantID, c.Subject, "user.logout_all", map[string]any{"revoked": n})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		CurrentPassword string `json:"currentPassword"`
		NewPassword     string `json:"newPassword"`
	}
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	fields := map[string]string{}
	if req.CurrentPassword == "" {
		fields["currentPassword"] = "is required"
	}
	if p := passwordProblem(req.NewPassword); p != "" {
		fields["newPassword"] = p
	} else if req.NewPassword == req.CurrentPassword {
		fields["newPassword"] = "must differ from the current password"
	}
	if len(fields) > 0 {
		return apperr.Validation(fields)
	}
	ctx := r.Context()
	c := info(ctx).Claims
	u, err := s.user(ctx, c.Subject)
	if err != nil {
		return err
	}
	if err := s.fa.ChangePassword(ctx, u.Email, req.CurrentPassword, req.NewPassword); err != nil {
		return err
	}
	n, err := s.store.RevokeAllForUser(ctx, u.ID, c.SessionID, "password-change", s.now())
	if err != nil {
		return s.dbErr(err)
	}
	s.audit(ctx, u.TenantID, u.ID, "user.password_changed", map[string]any{"revokedSessions": n})
	s.writeData(w, r, http.StatusOK, map[string]string{"message": "password changed; other sessions were signed out"})
	return nil
}
