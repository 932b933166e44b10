// Package fusionauth is Heimdall's small REST client for the FusionAuth API
// calls the server needs. FusionAuth status codes are mapped to Heimdall's
// domain errors (package apperr) here, in one place.
package fusionauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
)

// Client talks to one FusionAuth instance.
type Client struct {
	baseURL       string
	apiKey        string
	tenantID      string // sent as X-FusionAuth-TenantId when not empty
	applicationID string
	http          *http.Client
}

// Options configure a Client.
type Options struct {
	BaseURL       string
	APIKey        string
	TenantID      string // "" or "default": single tenant, no header
	ApplicationID string
	Timeout       time.Duration // per call; default 5s
}

// New returns a client.
func New(o Options) *Client {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	tid := o.TenantID
	if strings.EqualFold(tid, "default") {
		tid = ""
	}
	return &Client{
		baseURL:       strings.TrimRight(o.BaseURL, "/"),
		apiKey:        o.APIKey,
		tenantID:      tid,
		applicationID: o.ApplicationID,
		http:          &http.Client{Timeout: o.Timeout},
	}
}

// User is the part of FusionAuth's user object Heimdall uses.
type User struct {
	ID          string         `json:"id,omitempty"`
	Email       string         `json:"email,omitempty"`
	Password    string         `json:"password,omitempty"`
	FirstName   string         `json:"firstName,omitempty"`
	LastName    string         `json:"lastName,omitempty"`
	PhoneNumber string         `json:"phoneNumber,omitempty"`
	Verified    bool           `json:"verified"`
	Active      bool           `json:"active"`
	TenantID    string         `json:"tenantId,omitempty"`
	Data        map[string]any `json:"data,omitempty"`
}

// Registration is a user's registration to an application.
type Registration struct {
	ID            string   `json:"id,omitempty"`
	ApplicationID string   `json:"applicationId"`
	Roles         []string `json:"roles,omitempty"`
	Verified      bool     `json:"verified,omitempty"`
}

type userEnvelope struct {
	User         User          `json:"user"`
	Registration *Registration `json:"registration,omitempty"`
}

// Errors is FusionAuth's 400 error body.
type Errors struct {
	GeneralErrors []ErrorItem            `json:"generalErrors,omitempty"`
	FieldErrors   map[string][]ErrorItem `json:"fieldErrors,omitempty"`
}

// ErrorItem is one FusionAuth error.
type ErrorItem struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// StatusError is an unexpected FusionAuth answer; it is logged, not shown.
type StatusError struct {
	Op     string
	Status int
}

func (e *StatusError) Error() string { return fmt.Sprintf("fusionauth %s: status %d", e.Op, e.Status) }

func (c *Client) do(ctx context.Context, op, method, path string, body any, withKey bool) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.baseURL+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if withKey {
		req.Header.Set("Authorization", c.apiKey)
	}
	if c.tenantID != "" {
		req.Header.Set("X-FusionAuth-TenantId", c.tenantID)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", fmt.Errorf("fusionauth %s: %w", op, err))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", fmt.Errorf("fusionauth %s: reading body: %w", op, err))
	}
	return resp.StatusCode, b, nil
}

// common maps the statuses every call shares.
func common(op string, status int, body []byte) error {
	switch {
	case status == http.StatusUnauthorized:
		// Our API key is wrong: an operator problem, not the client's.
		return apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", &StatusError{op, status})
	case status >= 500:
		return apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", &StatusError{op, status})
	case status == http.StatusBadRequest:
		return validation(op, body)
	case status == http.StatusNotFound:
		return apperr.Wrap(apperr.CodeNotFound, "user not found", &StatusError{op, status})
	}
	return apperr.Wrap(apperr.CodeInternal, "internal server error", &StatusError{op, status})
}

// fieldNames maps FusionAuth field paths to the names of our API.
var fieldNames = map[string]string{
	"user.email": "email", "user.password": "password", "user.firstName": "firstName",
	"user.lastName": "lastName", "user.phoneNumber": "phoneNumber", "password": "newPassword",
	"loginId": "email",
}

func validation(op string, body []byte) error {
	var fe Errors
	_ = json.Unmarshal(body, &fe)
	if items := fe.FieldErrors["user.email"]; len(items) > 0 && strings.HasPrefix(items[0].Code, "[duplicate]") {
		return apperr.Wrap(apperr.CodeConflict, "email already registered", &StatusError{op, 400})
	}
	fields := map[string]string{}
	for path, items := range fe.FieldErrors {
		name, ok := fieldNames[path]
		if !ok {
			name = path
		}
		if len(items) > 0 {
			fields[name] = items[0].Message
			if fields[name] == "" {
				fields[name] = items[0].Code
			}
		}
	}
	e := apperr.Validation(fields)
	e.Err = &StatusError{op, 400}
	if len(fields) == 0 && len(fe.GeneralErrors) > 0 {
		e.Message = fe.GeneralErrors[0].Message
	}
	return e
}

// RegisterInput is what Register sends.
type RegisterInput struct {
	Email, Password, FirstName, LastName, PhoneNumber string
	Data                                              map[string]any
	Roles                                             []string
}

// Register creates a user and registers it to the Heimdall application.
func (c *Client) Register(ctx context.Context, in RegisterInput) (User, error) {
	body := map[string]any{
		"user": User{
			Email: in.Email, Password: in.Password, FirstName: in.FirstName,
			LastName: in.LastName, PhoneNumber: in.PhoneNumber, Data: in.Data,
		},
		"registration":                 Registration{ApplicationID: c.applicationID, Roles: in.Roles},
		"skipVerification":             true,
		"skipRegistrationVerification": true,
	}
	st, b, err := c.do(ctx, "register", http.MethodPost, "/api/user/registration", body, true)
	if err != nil {
		return User{}, err
	}
	if st != http.StatusOK {
		return User{}, common("register", st, b)
	}
	var env userEnvelope
	if err := json.Unmarshal(b, &env); err != nil || env.User.ID == "" {
		return User{}, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", fmt.Errorf("fusionauth register: bad body: %v", err))
	}
	return env.User, nil
}

// LoginResult is a successful or two-factor login.
type LoginResult struct {
	User        User
	TwoFactorID string   // set when a second factor is required
	Methods     []string // two-factor methods
}

type loginBody struct {
	User        User   `json:"user"`
	TwoFactorID string `json:"twoFactorId"`
	Methods     []struct {
		ID     string `json:"id"`
		Method string `json:"method"`
	} `json:"methods"`
	Actions []struct {
		Expiry int64 `json:"expiry"`
	} `json:"actions"`
	ChangePasswordReason string `json:"changePasswordReason"`
}

// Login checks email and password against FusionAuth.
func (c *Client) Login(ctx context.Context, email, password, ip string) (LoginResult, error) {
	body := map[string]any{
		"loginId": email, "password": password, "applicationId": c.applicationID,
		"ipAddress": ip, "noJWT": true,
	}
	st, b, err := c.do(ctx, "login", http.MethodPost, "/api/login", body, true)
	if err != nil {
		return LoginResult{}, err
	}
	var lb loginBody
	if len(b) > 0 {
		_ = json.Unmarshal(b, &lb)
	}
	switch st {
	case http.StatusOK:
		if lb.User.ID == "" {
			return LoginResult{}, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", errors.New("fusionauth login: no user in body"))
		}
		return LoginResult{User: lb.User}, nil
	case 242:
		r := LoginResult{User: lb.User, TwoFactorID: lb.TwoFactorID}
		for _, m := range lb.Methods {
			r.Methods = append(r.Methods, m.Method)
		}
		return r, nil
	case http.StatusNotFound, http.StatusAccepted:
		// 404: unknown user or wrong password; 202: not registered for our app.
		return LoginResult{}, apperr.New(apperr.CodeInvalidCredentials, "invalid email or password")
	case http.StatusNonAuthoritativeInfo:
		e := apperr.New(apperr.CodeForbidden, "password change required")
		e.Details = map[string]any{"reason": lb.ChangePasswordReason}
		return LoginResult{}, e
	case 212, 213:
		return LoginResult{}, apperr.New(apperr.CodeEmailNotVerified, "email address not verified")
	case http.StatusConflict, http.StatusLocked:
		e := apperr.New(apperr.CodeAccountLocked, "account locked")
		retry := int64(0)
		for _, a := range lb.Actions {
			if a.Expiry > 0 {
				if s := (a.Expiry - time.Now().UnixMilli()) / 1000; s > retry {
					retry = s
				}
			}
		}
		e.Details = map[string]any{"retryAfterSeconds": retry}
		return LoginResult{}, e
	case http.StatusGone:
		return LoginResult{}, apperr.New(apperr.CodeForbidden, "account expired")
	case http.StatusBadRequest:
		return LoginResult{}, validation("login", b)
	}
	return LoginResult{}, common("login", st, b)
}

// GetUser fetches a user by id.
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	st, b, err := c.do(ctx, "get user", http.MethodGet, "/api/user/"+url.PathEscape(id), nil, true)
	if err != nil {
		return User{}, err
	}
	if st != http.StatusOK {
		return User{}, common("get user", st, b)
	}
	var env userEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return User{}, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", err)
	}
	return env.User, nil
}

// UpdateUser PATCHes the given user fields (nil values remove).
func (c *Client) UpdateUser(ctx context.Context, id string, fields map[string]any) (User, error) {
	st, b, err := c.do(ctx, "update user", http.MethodPatch, "/api/user/"+url.PathEscape(id), map[string]any{"user": fields}, true)
	if err != nil {
		return User{}, err
	}
	if st != http.StatusOK {
		return User{}, common("update user", st, b)
	}
	var env userEnvelope
	if err := json.Unmarshal(b, &env); err != nil {
		return User{}, apperr.Wrap(apperr.CodeUnavailable, "authentication service unavailable", err)
	}
	return env.User, nil
}

// DeleteUser hard-deletes a user; an already absent user is not an error.
func (c *Client) DeleteUser(ctx context.Context, id string) error {
	st, b, err := c.do(ctx, "delete user", http.MethodDelete, "/api/user/"+url.PathEscape(id)+"?hardDelete=true", nil, true)
	if err != nil {
		return err
	}
	if st == http.StatusOK || st == http.StatusNotFound {
		return nil
	}
	return common("delete user", st, b)
}

// ChangePassword changes a password after checking the current one.
func (c *Client) ChangePassword(ctx context.Context, loginID, current, next string) error {
	body := map[string]any{"loginId": loginID, "currentPassword": current, "password": next, "applicationId": c.applicationID}
	st, b, err := c.do(ctx, "change password", http.MethodPost, "/api/user/change-password", body, true)
	if err != nil {
		return err
	}
	switch st {
	case http.StatusOK:
		return nil
	case http.StatusBadRequest:
		var fe Errors
		_ = json.Unmarshal(b, &fe)
		if _, ok := fe.FieldErrors["currentPassword"]; ok {
			return apperr.New(apperr.CodeInvalidCredentials, "current password is incorrect")
		}
		return validation("change password", b)
	}
	return common("change password", st, b)
}

// Logout revokes a FusionAuth refresh token (global: all of the user's).
func (c *Client) Logout(ctx context.Context, refreshToken string, global bool) error {
	st, b, err := c.do(ctx, "logout", http.MethodPost, "/api/logout", map[string]any{"global": global, "refreshToken": refreshToken}, false)
	if err != nil {
		return err
	}
	if st == http.StatusOK {
		return nil
	}
	return common("logout", st, b)
}

// Health checks GET /api/health.
func (c *Client) Health(ctx context.Context) error {
	st, _, err := c.do(ctx, "health", http.MethodGet, "/api/health", nil, false)
	if err != nil {
		return err
	}
	if st != http.StatusOK {
		return &StatusError{"health", st}
	}
	return nil
}
