package httpapi

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

func readiness(t *testing.T, ts *testServer) (int, map[string]any) {
	t.Helper()
	r := ts.do(t, "GET", "/health/ready", nil)
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("ready body: %s", r.Body)
	}
	return r.Code, body
}

func failing(body map[string]any) string {
	f, _ := body["failing"].([]any)
	var out []string
	for _, v := range f {
		out = append(out, v.(string))
	}
	return strings.Join(out, ",")
}

// waitReady polls readiness until it answers want (dependencies take a moment).
func waitReady(t *testing.T, ts *testServer, want int, wantFailing string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := readiness(t, ts)
		if code == want && failing(body) == wantFailing {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness: want %d failing %q, got %d %v", want, wantFailing, code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthEndpoints(t *testing.T) {
	ts := newTestServer(t)
	for _, p := range []string{"/health", "/health/live"} {
		r := ts.do(t, "GET", p, nil)
		if r.Code != 200 || !strings.Contains(string(r.Body), `"status"`) || !strings.Contains(string(r.Body), `"timestamp"`) {
			t.Fatalf("%s: %d %s", p, r.Code, r.Body)
		}
	}
	body := waitReady(t, ts, 200, "")
	if c := body["checks"].(map[string]any); c["postgres"] != "ok" || c["redis"] != "ok" || c["fusionauth"] != "ok" {
		t.Fatalf("checks: %v", c)
	}
	ts.fa.SetUnhealthy(true)
	waitReady(t, ts, 503, "fusionauth")
	ts.fa.SetUnhealthy(false)
	waitReady(t, ts, 200, "")
}

// Stops the shared PostgreSQL: readiness must flip to 503 naming it, and back.
func TestReadinessFollowsPostgres(t *testing.T) {
	ts := newTestServer(t)
	waitReady(t, ts, 200, "")
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = pg.Start(context.Background())
		}
	}()
	waitReady(t, ts, 503, "postgres")
	expect(t, ts.do(t, "GET", "/health/live", nil), 200, "")
	// A request that needs the database answers SERVICE_UNAVAILABLE, not a 500.
	r := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": "rt_" + strings.Repeat("B", 43)})
	if r.Code != 503 {
		t.Log(ts.logs.String())
	}
	expect(t, r, 503, "SERVICE_UNAVAILABLE")
	if err := pg.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitReady(t, ts, 200, "")
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(ts.logs.String())
		}
	})
	ts.register(t)
}

// Stops Redis: readiness names it, but logins, refreshes and profile reads go
// on (rate limits and cache fail open, counted by a metric).
func TestRedisDownFailsOpen(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	waitReady(t, ts, 200, "")
	if err := rds.Stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = rds.Start(context.Background())
		}
	}()
	body := waitReady(t, ts, 503, "redis")
	if !strings.Contains(body["detail"].(string), "fail open") {
		t.Fatalf("readiness detail: %v", body)
	}
	l := ts.login(t, s.Email, goodPassword)
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(l.AccessToken)), 200, "")
	r := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": l.RefreshToken})
	expect(t, r, 200, "")
	m := string(ts.do(t, "GET", "/metrics", nil).Body)
	for _, name := range []string{`heimdall_redis_fail_open_total{component="ratelimit"}`, `heimdall_redis_fail_open_total{component="cache"}`} {
		if strings.Contains(m, name+" 0") || !strings.Contains(m, name) {
			t.Errorf("%s not counted", name)
		}
	}
	if err := rds.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	restarted = true
	waitReady(t, ts, 200, "")
	// The token pair issued while Redis was down still works (it lives in PostgreSQL).
	var p tokenPair
	r.data(t, &p)
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": p.RefreshToken}), 200, "")
}

func TestMetricsExposeEverySeedName(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken))
	ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken))
	r := ts.do(t, "GET", "/metrics", nil)
	if r.Code != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %v", r.Code, r.Header)
	}
	m := string(r.Body)
	for _, name := range []string{
		"heimdall_http_requests_total", "heimdall_http_request_duration_seconds", "heimdall_auth_login_attempts_total",
		"heimdall_auth_login_failures_total", "heimdall_token_generations_total", "heimdall_cache_hits_total", "heimdall_cache_misses_total",
	} {
		if !strings.Contains(m, "\n"+name) {
			t.Errorf("metric %s missing", name)
		}
	}
	for _, want := range []string{
		`heimdall_http_requests_total{method="POST",route="POST /v1/auth/register",status="201"} 1`,
		`heimdall_http_request_duration_seconds_count{method="GET",route="GET /v1/users/me",status="200"} 2`,
		`heimdall_token_generations_total{type="access"} 1`,
		`heimdall_cache_misses_total{cache="user"} 1`,
		`heimdall_cache_hits_total{cache="user"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	ts.do(t, "GET", "/v1/users/"+s.User.ID, nil)
	if m := string(ts.do(t, "GET", "/metrics", nil).Body); strings.Contains(m, s.User.ID) || !strings.Contains(m, `route="unmatched"`) {
		t.Error("raw paths leak into metric labels")
	}
}

// Passwords, tokens and keys never reach the logs; the seed's fields do.
func TestLogsCarrySeedFieldsAndNoSecrets(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	l := ts.login(t, s.Email, goodPassword)
	r := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": l.RefreshToken}, header("User-Agent", "probe-agent/1.0"))
	var p tokenPair
	r.data(t, &p)
	ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": "Wrong-secret-9"})
	ts.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": goodPassword, "newPassword": "An0ther-secret!"}, bearer(l.AccessToken))
	logs := ts.logs.String()
	for _, secret := range []string{goodPassword, "Wrong-secret-9", "An0ther-secret!", s.AccessToken, s.RefreshToken, l.AccessToken,
		l.RefreshToken, p.AccessToken, p.RefreshToken, testAPIKey} {
		if strings.Contains(logs, secret) {
			t.Fatalf("secret %.12s… found in logs", secret)
		}
	}
	var loggedIn map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		for _, k := range []string{"level", "timestamp", "message"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("log line lacks %s: %q", k, line)
			}
		}
		if _, ok := m["time"]; ok {
			t.Fatalf("slog's time key not renamed: %q", line)
		}
		if lv := m["level"].(string); lv != strings.ToLower(lv) {
			t.Fatalf("level not lowercase: %q", line)
		}
		if m["message"] == "User logged in" {
			loggedIn = m
		}
	}
	if loggedIn == nil {
		t.Fatal("no 'User logged in' line")
	}
	for _, k := range []string{"userId", "tenantId", "ipAddress", "userAgent", "requestId"} {
		if _, ok := loggedIn[k]; !ok {
			t.Errorf("login log lacks %s: %v", k, loggedIn)
		}
	}
	if loggedIn["userId"] != s.User.ID {
		t.Errorf("userId = %v", loggedIn["userId"])
	}
}

// The OpenAPI document must describe every Tier-1 route.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	b, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	for _, r := range []string{
		"POST /v1/auth/register", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/auth/logout",
		"POST /v1/auth/logout-all", "POST /v1/auth/password/change", "GET /v1/users/me", "PATCH /v1/users/me",
		"DELETE /v1/users/me", "GET /v1/oauth/.well-known/jwks.json", "GET /v1/.well-known/openid-configuration",
		"GET /health", "GET /health/live", "GET /health/ready", "GET /metrics",
	} {
		method, path, _ := strings.Cut(r, " ")
		i := strings.Index(doc, "\n  "+path+":\n")
		if i < 0 {
			t.Errorf("path %s missing from openapi.yaml", path)
			continue
		}
		rest := doc[i+len(path)+4:]
		if j := strings.Index(rest, "\n  /"); j >= 0 {
			rest = rest[:j]
		}
		if !strings.Contains(rest, "\n    "+strings.ToLower(method)+":") {
			t.Errorf("%s missing from openapi.yaml", r)
		}
	}
}

// A database the migrations have not reached yet: readiness names postgres until
// `heimdall-migrate up` has run, so an orchestrator sends no traffic to a pod that would fail.
func TestReadinessWaitsForTheSchema(t *testing.T) {
	ctx := context.Background()
	url, err := pg.CreateDatabase(ctx, "unmigrated")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts := newTestServer(t, func(d *Deps, _ *fusionauthfake.Options) { d.Store = st })
	body := waitReady(t, ts, 503, "postgres")
	if c := body["checks"].(map[string]any); c["redis"] != "ok" || c["fusionauth"] != "ok" {
		t.Fatalf("only postgres should fail: %v", c)
	}
	if !strings.Contains(ts.logs.String(), "schema not migrated") {
		t.Fatalf("the log should say why: %s", ts.logs.String())
	}

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ts, 200, "")

	// A schema newer than this binary's (the next version migrated while this one still
	// serves its rollout) keeps it ready.
	if _, err := conn.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES (999999)`); err != nil {
		t.Fatal(err)
	}
	waitReady(t, ts, 200, "")
}
