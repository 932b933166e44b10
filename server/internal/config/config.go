// Package config reads the server configuration from the environment, using
// the variable names, defaults and required set of seed/DEPLOYMENT.md.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/joho/godotenv"
)

// DefaultFusionAuthApplicationID is the id the operator's FusionAuth kickstart
// creates the Heimdall application with.
const DefaultFusionAuthApplicationID = "7f3b2c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f"

// Config is the validated server configuration.
type Config struct {
	Port     int
	Env      string
	LogLevel string

	DatabaseURL string
	RedisURL    string

	FusionAuthURL           string
	FusionAuthAPIKey        string
	FusionAuthTenantID      string // empty means single-tenant FusionAuth: no tenant header
	FusionAuthApplicationID string

	JWTPrivateKeyPath           string
	JWTPublicKeyPath            string
	JWTAdditionalPublicKeysDir  string
	JWTIssuer                   string
	AccessTokenLifetimeSeconds  int
	RefreshTokenLifetimeSeconds int

	SMTPHost     string
	SMTPPort     int
	SMTPUsername string
	SMTPPassword string
	SMTPFrom     string

	CORSAllowedOrigins []string

	RateLimitPerHour          int
	RateLimitAnonymousPerHour int
}

// Names of every variable the server reads.
var Names = []string{
	"PORT", "ENV", "LOG_LEVEL", "DATABASE_URL", "REDIS_URL",
	"FUSIONAUTH_URL", "FUSIONAUTH_API_KEY", "FUSIONAUTH_TENANT_ID", "FUSIONAUTH_APPLICATION_ID",
	"JWT_PRIVATE_KEY_PATH", "JWT_PUBLIC_KEY_PATH", "JWT_ADDITIONAL_PUBLIC_KEYS_DIR", "JWT_ISSUER",
	"ACCESS_TOKEN_LIFETIME", "REFRESH_TOKEN_LIFETIME",
	"SMTP_HOST", "SMTP_PORT", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_FROM",
	"CORS_ALLOWED_ORIGINS", "RATE_LIMIT_REQUESTS_PER_HOUR", "RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR",
}

// WithDotEnv returns a getenv that answers from getenv first and falls back to
// the KEY=VALUE pairs of the file at path (missing file: no fallback).
// Real environment always wins over the file.
func WithDotEnv(getenv func(string) string, path string) (func(string) string, error) {
	vals, err := godotenv.Read(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return getenv, nil
		}
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return func(k string) string {
		if v := getenv(k); v != "" {
			return v
		}
		return vals[k]
	}, nil
}

// Problems lists every missing or invalid variable.
type Problems []string

func (p Problems) Error() string {
	return "invalid configuration:\n  - " + strings.Join(p, "\n  - ")
}

// Load reads and validates the configuration. The returned error is a
// Problems value naming every missing or invalid variable at once.
func Load(getenv func(string) string) (Config, error) {
	l := loader{getenv: getenv}
	c := Config{
		Port:                        l.intRange("PORT", 8080, 1, 65535),
		Env:                         l.oneOf("ENV", "development", "development", "test", "staging", "production"),
		LogLevel:                    l.oneOf("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		DatabaseURL:                 l.url("DATABASE_URL", "postgres", "postgresql"),
		RedisURL:                    l.url("REDIS_URL", "redis", "rediss"),
		FusionAuthURL:               l.url("FUSIONAUTH_URL", "http", "https"),
		FusionAuthAPIKey:            l.required("FUSIONAUTH_API_KEY"),
		FusionAuthTenantID:          l.tenantID("FUSIONAUTH_TENANT_ID"),
		FusionAuthApplicationID:     l.uuid("FUSIONAUTH_APPLICATION_ID", DefaultFusionAuthApplicationID),
		JWTPrivateKeyPath:           l.file("JWT_PRIVATE_KEY_PATH"),
		JWTPublicKeyPath:            l.file("JWT_PUBLIC_KEY_PATH"),
		JWTAdditionalPublicKeysDir:  l.dir("JWT_ADDITIONAL_PUBLIC_KEYS_DIR"),
		JWTIssuer:                   l.required("JWT_ISSUER"),
		AccessTokenLifetimeSeconds:  l.intRange("ACCESS_TOKEN_LIFETIME", 900, 1, 86400*365),
		RefreshTokenLifetimeSeconds: l.intRange("REFRESH_TOKEN_LIFETIME", 2592000, 1, 86400*3650),
		SMTPHost:                    l.get("SMTP_HOST"),
		SMTPPort:                    l.intRange("SMTP_PORT", 587, 1, 65535),
		SMTPUsername:                l.get("SMTP_USERNAME"),
		SMTPPassword:                l.get("SMTP_PASSWORD"),
		SMTPFrom:                    l.get("SMTP_FROM"),
		CORSAllowedOrigins:          l.list("CORS_ALLOWED_ORIGINS", "*"),
		RateLimitPerHour:            l.intRange("RATE_LIMIT_REQUESTS_PER_HOUR", 1000, 1, 1<<30),
		RateLimitAnonymousPerHour:   l.intRange("RATE_LIMIT_ANONYMOUS_REQUESTS_PER_HOUR", 100, 1, 1<<30),
	}
	if len(l.problems) > 0 {
		sort.Strings(l.problems)
		return c, l.problems
	}
	return c, nil
}

type loader struct {
	getenv   func(string) string
	problems Problems
}

func (l *loader) get(k string) string { return strings.TrimSpace(l.getenv(k)) }

func (l *loader) bad(k, format string, a ...any) {
	l.problems = append(l.problems, k+": "+fmt.Sprintf(format, a...))
}

func (l *loader) required(k string) string {
	v := l.get(k)
	if v == "" {
		l.bad(k, "required but not set")
	}
	return v
}

// file requires a path to a readable regular file.
func (l *loader) file(k string) string {
	v := l.required(k)
	if v == "" {
		return v
	}
	f, err := os.Open(v)
	if err != nil {
		l.bad(k, "cannot read %q: %v", v, errors.Unwrap(err))
		return v
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		l.bad(k, "%q is not a file", v)
	}
	return v
}

// dir accepts empty or a path to an existing directory.
func (l *loader) dir(k string) string {
	v := l.get(k)
	if v == "" {
		return v
	}
	if st, err := os.Stat(v); err != nil || !st.IsDir() {
		l.bad(k, "%q is not a directory", v)
	}
	return v
}

func (l *loader) intRange(k string, def, lo, hi int) int {
	v := l.get(k)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		l.bad(k, "must be an integer between %d and %d, got %q", lo, hi, v)
		return def
	}
	return n
}

func (l *loader) oneOf(k, def string, allowed ...string) string {
	v := strings.ToLower(l.get(k))
	if v == "" {
		return def
	}
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	l.bad(k, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

func (l *loader) url(k string, schemes ...string) string {
	v := l.required(k)
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		l.bad(k, "must be a URL with a host")
		return v
	}
	for _, s := range schemes {
		if strings.EqualFold(u.Scheme, s) {
			return v
		}
	}
	l.bad(k, "URL scheme must be one of %s", strings.Join(schemes, ", "))
	return v
}

func (l *loader) uuid(k, def string) string {
	v := l.get(k)
	if v == "" {
		return def
	}
	if _, err := uuid.Parse(v); err != nil {
		l.bad(k, "must be a UUID, got %q", v)
	}
	return v
}

// tenantID accepts empty or "default" (single-tenant FusionAuth, returned as
// "") or a UUID.
func (l *loader) tenantID(k string) string {
	v := l.get(k)
	if v == "" || strings.EqualFold(v, "default") {
		return ""
	}
	if _, err := uuid.Parse(v); err != nil {
		l.bad(k, `must be empty, "default" or a UUID, got %q`, v)
		return ""
	}
	return v
}

func (l *loader) list(k, def string) []string {
	v := l.get(k)
	if v == "" {
		v = def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		l.bad(k, "must list at least one origin")
	}
	return out
}
