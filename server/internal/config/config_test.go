package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

var keyDir string

func TestMain(m *testing.M) {
	keyDir, _ = os.MkdirTemp("", "config-test-")
	os.WriteFile(filepath.Join(keyDir, "private.pem"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(keyDir, "public.pem"), []byte("x"), 0o600)
	code := m.Run()
	os.RemoveAll(keyDir)
	os.Exit(code)
}

func required() map[string]string {
	return map[string]string{
		"DATABASE_URL":         "postgresql://heimdall:pw@localhost:5432/heimdall?sslmode=disable",
		"REDIS_URL":            "redis://localhost:6379/0",
		"FUSIONAUTH_URL":       "http://localhost:9011",
		"FUSIONAUTH_API_KEY":   "key",
		"JWT_PRIVATE_KEY_PATH": filepath.Join(keyDir, "private.pem"),
		"JWT_PUBLIC_KEY_PATH":  filepath.Join(keyDir, "public.pem"),
		"JWT_ISSUER":           "https://heimdall.localhost",
	}
}

func TestDefaults(t *testing.T) {
	c, err := Load(env(required()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.Env != "development" || c.LogLevel != "info" || c.AccessTokenLifetimeSeconds != 900 ||
		c.RefreshTokenLifetimeSeconds != 2592000 || c.SMTPPort != 587 || len(c.CORSAllowedOrigins) != 1 ||
		c.CORSAllowedOrigins[0] != "*" || c.RateLimitPerHour != 1000 || c.RateLimitAnonymousPerHour != 100 ||
		c.FusionAuthApplicationID != DefaultFusionAuthApplicationID || c.FusionAuthTenantID != "" {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestEveryMissingVariableReportedAtOnce(t *testing.T) {
	_, err := Load(env(nil))
	var p Problems
	if !errors.As(err, &p) {
		t.Fatalf("want Problems, got %v", err)
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "FUSIONAUTH_URL", "FUSIONAUTH_API_KEY", "JWT_PRIVATE_KEY_PATH", "JWT_PUBLIC_KEY_PATH", "JWT_ISSUER"} {
		if !strings.Contains(err.Error(), k+": required") {
			t.Errorf("%s not reported: %v", k, err)
		}
	}
	if len(p) != 7 {
		t.Fatalf("want 7 problems, got %d: %v", len(p), p)
	}
}

func TestInvalidValues(t *testing.T) {
	cases := []struct{ key, val string }{
		{"PORT", "abc"}, {"PORT", "70000"}, {"ENV", "prod-ish"}, {"LOG_LEVEL", "loud"},
		{"DATABASE_URL", "mysql://x/y"}, {"REDIS_URL", "localhost:6379"}, {"FUSIONAUTH_URL", "ftp://fa"},
		{"FUSIONAUTH_TENANT_ID", "acme"}, {"FUSIONAUTH_APPLICATION_ID", "app"},
		{"ACCESS_TOKEN_LIFETIME", "0"}, {"REFRESH_TOKEN_LIFETIME", "-5"}, {"SMTP_PORT", "x"},
		{"JWT_PRIVATE_KEY_PATH", "/nonexistent/private.pem"}, {"JWT_PUBLIC_KEY_PATH", "/"},
		{"JWT_ADDITIONAL_PUBLIC_KEYS_DIR", "/nonexistent"},
		{"RATE_LIMIT_REQUESTS_PER_HOUR", "many"}, {"RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR", "0"}, {"CORS_ALLOWED_ORIGINS", " , "},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.val, func(t *testing.T) {
			m := required()
			m[c.key] = c.val
			_, err := Load(env(m))
			if err == nil || !strings.Contains(err.Error(), c.key+":") {
				t.Fatalf("want problem for %s, got %v", c.key, err)
			}
		})
	}
	// several at once
	m := required()
	m["PORT"], m["LOG_LEVEL"] = "x", "y"
	delete(m, "JWT_ISSUER")
	_, err := Load(env(m))
	var p Problems
	if !errors.As(err, &p) || len(p) != 3 {
		t.Fatalf("want 3 problems, got %v", err)
	}
}

func TestTenantID(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "default": "", "DEFAULT": "", "3f1c9a52-8d2e-4c3b-9a8f-6b2d1e0c4f7a": "3f1c9a52-8d2e-4c3b-9a8f-6b2d1e0c4f7a",
	} {
		m := required()
		m["FUSIONAUTH_TENANT_ID"] = in
		c, err := Load(env(m))
		if err != nil || c.FusionAuthTenantID != want {
			t.Errorf("%q: got %q, %v", in, c.FusionAuthTenantID, err)
		}
	}
}

func TestDotEnvRealEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, ".env")
	if err := os.WriteFile(p, []byte("PORT=9090\nJWT_ISSUER=https://from-file\n# comment\nLOG_LEVEL=debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m := required()
	m["JWT_ISSUER"] = "https://from-env"
	get, err := WithDotEnv(env(m), p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(get)
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 9090 || c.JWTIssuer != "https://from-env" || c.LogLevel != "debug" {
		t.Fatalf("got %+v", c)
	}
	if _, err := WithDotEnv(env(m), filepath.Join(dir, "missing.env")); err != nil {
		t.Fatalf("missing .env must be fine: %v", err)
	}
}
