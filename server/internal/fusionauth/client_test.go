package fusionauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
)

const appID = "7f3b2c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f"

func code(err error) string {
	if err == nil {
		return ""
	}
	return apperr.From(err).Code
}

func TestAgainstFake(t *testing.T) {
	fa := fusionauthfake.Start(fusionauthfake.Options{APIKey: "k", LockAfter: 2})
	defer fa.Close()
	c := fusionauth.New(fusionauth.Options{BaseURL: fa.URL, APIKey: "k", ApplicationID: appID, TenantID: "default"})
	ctx := context.Background()

	u, err := c.Register(ctx, fusionauth.RegisterInput{Email: "a@example.com", Password: "passw0rd!", FirstName: "A", LastName: "B", Roles: []string{"user"}})
	if err != nil || u.ID == "" {
		t.Fatalf("register: %v %+v", err, u)
	}
	_, err = c.Register(ctx, fusionauth.RegisterInput{Email: "a@example.com", Password: "passw0rd!"})
	if code(err) != apperr.CodeConflict {
		t.Fatalf("duplicate: %v", err)
	}
	_, err = c.Register(ctx, fusionauth.RegisterInput{Email: "b@example.com", Password: "short"})
	if e := apperr.From(err); e.Code != apperr.CodeValidation || e.Details["fields"].(map[string]string)["password"] == "" {
		t.Fatalf("short password: %v", err)
	}
	res, err := c.Login(ctx, "a@example.com", "passw0rd!", "127.0.0.1")
	if err != nil || res.User.ID != u.ID {
		t.Fatalf("login: %v", err)
	}
	if _, err := c.Login(ctx, "nobody@example.com", "x", ""); code(err) != apperr.CodeInvalidCredentials {
		t.Fatalf("unknown: %v", err)
	}
	c.Login(ctx, "a@example.com", "wrong", "")
	c.Login(ctx, "a@example.com", "wrong", "")
	if _, err := c.Login(ctx, "a@example.com", "passw0rd!", ""); code(err) != apperr.CodeAccountLocked {
		t.Fatalf("locked: %v", err)
	}
	fa.Unlock("a@example.com")
	if got, err := c.GetUser(ctx, u.ID); err != nil || got.Email != "a@example.com" {
		t.Fatalf("get: %v", err)
	}
	if got, err := c.UpdateUser(ctx, u.ID, map[string]any{"firstName": "Z"}); err != nil || got.FirstName != "Z" {
		t.Fatalf("update: %v %+v", err, got)
	}
	if err := c.ChangePassword(ctx, "a@example.com", "bad", "newpassw0rd"); code(err) != apperr.CodeInvalidCredentials {
		t.Fatalf("change wrong current: %v", err)
	}
	if err := c.ChangePassword(ctx, "a@example.com", "passw0rd!", "newpassw0rd"); err != nil {
		t.Fatalf("change: %v", err)
	}
	if _, err := c.Login(ctx, "a@example.com", "newpassw0rd", ""); err != nil {
		t.Fatalf("login new pw: %v", err)
	}
	if err := c.Logout(ctx, "whatever", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteUser(ctx, u.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(ctx, u.ID); code(err) != apperr.CodeNotFound {
		t.Fatalf("get deleted: %v", err)
	}
	for _, h := range fa.TenantHeaders() {
		if h != "" {
			t.Fatalf("single-tenant client sent X-FusionAuth-TenantId %q", h)
		}
	}

	// Wrong API key: the fake answers 401 like FusionAuth; for our clients it is an outage.
	bad := fusionauth.New(fusionauth.Options{BaseURL: fa.URL, APIKey: "wrong", ApplicationID: appID})
	if _, err := bad.GetUser(ctx, u.ID); code(err) != apperr.CodeUnavailable {
		t.Fatalf("wrong key: %v", err)
	}

	tenant := "3f1c9a52-8d2e-4c3b-9a8f-6b2d1e0c4f7a"
	mt := fusionauth.New(fusionauth.Options{BaseURL: fa.URL, APIKey: "k", ApplicationID: appID, TenantID: tenant})
	mt.Health(ctx)
	if hs := fa.TenantHeaders(); hs[len(hs)-1] != tenant {
		t.Fatalf("tenant header not sent: %v", hs[len(hs)-1])
	}
}

func TestStatusMapping(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string
	}{
		{404, "", apperr.CodeInvalidCredentials},
		{202, `{"user":{"id":"x"}}`, apperr.CodeInvalidCredentials},
		{203, `{"changePasswordId":"c","changePasswordReason":"Expired"}`, apperr.CodeForbidden},
		{212, `{"user":{"id":"x"}}`, apperr.CodeEmailNotVerified},
		{409, `{"actions":[{"reason":"r","expiry":` + itoa(time.Now().Add(time.Minute).UnixMilli()) + `}]}`, apperr.CodeAccountLocked},
		{423, "", apperr.CodeAccountLocked},
		{410, "", apperr.CodeForbidden},
		{400, `{"fieldErrors":{"loginId":[{"code":"[blank]loginId","message":"required"}]}}`, apperr.CodeValidation},
		{401, "", apperr.CodeUnavailable},
		{500, "", apperr.CodeUnavailable},
		{503, `{"generalErrors":[{"code":"x","message":"y"}]}`, apperr.CodeUnavailable},
		{504, "", apperr.CodeUnavailable},
	}
	for _, c := range cases {
		t.Run(http.StatusText(c.status)+itoa(int64(c.status)), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "k" {
					t.Errorf("API key header: %q", r.Header.Get("Authorization"))
				}
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
			}))
			defer srv.Close()
			cl := fusionauth.New(fusionauth.Options{BaseURL: srv.URL, APIKey: "k", ApplicationID: appID})
			_, err := cl.Login(context.Background(), "a@b.c", "pw", "")
			if code(err) != c.want {
				t.Fatalf("status %d: got %v, want %s", c.status, err, c.want)
			}
			if c.status == 409 {
				if s := apperr.From(err).Details["retryAfterSeconds"].(int64); s < 50 || s > 60 {
					t.Fatalf("retryAfterSeconds %d", s)
				}
			}
		})
	}
	t.Run("two-factor", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(242)
			w.Write([]byte(`{"twoFactorId":"tf-1","methods":[{"id":"m","method":"authenticator"}]}`))
		}))
		defer srv.Close()
		res, err := fusionauth.New(fusionauth.Options{BaseURL: srv.URL, APIKey: "k"}).Login(context.Background(), "a@b.c", "pw", "")
		if err != nil || res.TwoFactorID != "tf-1" || len(res.Methods) != 1 || res.Methods[0] != "authenticator" {
			t.Fatalf("%v %+v", err, res)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		cl := fusionauth.New(fusionauth.Options{BaseURL: srv.URL, APIKey: "k", Timeout: 100 * time.Millisecond})
		start := time.Now()
		_, err := cl.Login(context.Background(), "a@b.c", "pw", "")
		if code(err) != apperr.CodeUnavailable || time.Since(start) > 2*time.Second {
			t.Fatalf("timeout: %v after %v", err, time.Since(start))
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		cl := fusionauth.New(fusionauth.Options{BaseURL: "http://127.0.0.1:1", APIKey: "k"})
		if err := cl.Health(context.Background()); code(err) != apperr.CodeUnavailable {
			t.Fatalf("%v", err)
		}
	})
}

func itoa(n int64) string {
	const digits = "0123456789"
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{digits[n%10]}, b...)
		n /= 10
	}
	return string(b)
}
