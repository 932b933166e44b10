package httpapi

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

func TestRegisterErrors(t *testing.T) {
	ts := newTestServer(t)
	valid := func() map[string]any {
		return map[string]any{"email": uniqueEmail(), "password": goodPassword, "firstName": "A", "lastName": "B"}
	}
	with := func(k string, v any) map[string]any { m := valid(); m[k] = v; return m }
	without := func(k string) map[string]any { m := valid(); delete(m, k); return m }
	cases := []struct {
		name   string
		body   any
		opts   []reqOpt
		status int
		code   string
		field  string
	}{
		{"malformed JSON", `{"email": "a@b.c",`, nil, 400, "VALIDATION_ERROR", "body"},
		{"trailing garbage", `{"email":"a@b.c"} {}`, nil, 400, "VALIDATION_ERROR", "body"},
		{"empty body", "", nil, 400, "VALIDATION_ERROR", "body"},
		{"array body", `[]`, nil, 400, "VALIDATION_ERROR", "body"},
		{"email wrong type", with("email", 42), nil, 400, "VALIDATION_ERROR", "email"},
		{"metadata wrong type", with("metadata", []int{1}), nil, 400, "VALIDATION_ERROR", "metadata"},
		{"missing email", without("email"), nil, 400, "VALIDATION_ERROR", "email"},
		{"invalid email", with("email", "not-an-email"), nil, 400, "VALIDATION_ERROR", "email"},
		{"missing password", without("password"), nil, 400, "VALIDATION_ERROR", "password"},
		{"weak password", with("password", "password"), nil, 400, "VALIDATION_ERROR", "password"},
		{"short password", with("password", "a1"), nil, 400, "VALIDATION_ERROR", "password"},
		{"missing first name", without("firstName"), nil, 400, "VALIDATION_ERROR", "firstName"},
		{"missing last name", without("lastName"), nil, 400, "VALIDATION_ERROR", "lastName"},
		{"unknown tenant", with("tenantId", "no-such-tenant"), nil, 400, "VALIDATION_ERROR", "tenantId"},
		{"unknown tenant header", valid(), []reqOpt{header("X-Tenant-ID", uuid.NewString())}, 400, "VALIDATION_ERROR", "tenantId"},
		{"not JSON", valid(), []reqOpt{header("Content-Type", "text/plain")}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"form body", "a=b", []reqOpt{header("Content-Type", "application/x-www-form-urlencoded")}, 415, "UNSUPPORTED_MEDIA_TYPE", ""},
		{"oversized", `{"email":"` + strings.Repeat("a", 1<<20) + `"}`, nil, 413, "PAYLOAD_TOO_LARGE", ""},
	}
	before := ts.fa.UserCount()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := ts.do(t, "POST", "/v1/auth/register", c.body, c.opts...)
			expect(t, r, c.status, c.code)
			if r.Env.Success || r.Env.Meta.RequestID == "" || r.Env.Meta.RequestID != r.Header.Get("X-Request-ID") {
				t.Fatalf("envelope: %s", r.Body)
			}
			if c.field != "" {
				fields, _ := r.Env.Error.Details["fields"].(map[string]any)
				if _, ok := fields[c.field]; !ok {
					t.Fatalf("details.fields lacks %q: %s", c.field, r.Body)
				}
			}
		})
	}
	if ts.fa.UserCount() != before {
		t.Fatal("rejected registrations created FusionAuth users")
	}

	t.Run("oversized chunked body", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/v1/auth/register", strings.NewReader(`{"email":"`+strings.Repeat("a", 1<<20+10)+`"}`))
		req.ContentLength = -1
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		ts.h.ServeHTTP(rec, req)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "PAYLOAD_TOO_LARGE") {
			t.Fatalf("got %d %s", rec.Code, rec.Body)
		}
	})

	t.Run("duplicate email is CONFLICT", func(t *testing.T) {
		s := ts.register(t)
		r := ts.do(t, "POST", "/v1/auth/register", map[string]any{"email": s.Email, "password": goodPassword, "firstName": "A", "lastName": "B"})
		expect(t, r, 409, "CONFLICT")
	})

	t.Run("tenant by slug", func(t *testing.T) {
		r := ts.do(t, "POST", "/v1/auth/register", with("tenantId", "default"))
		expect(t, r, 201, "")
	})

	t.Run("FusionAuth down is SERVICE_UNAVAILABLE", func(t *testing.T) {
		ts.fa.SetDown(true)
		defer ts.fa.SetDown(false)
		expect(t, ts.do(t, "POST", "/v1/auth/register", valid()), 503, "SERVICE_UNAVAILABLE")
	})
}

// A local write that fails after FusionAuth created the user must leave
// nothing behind: the FusionAuth user is deleted again.
func TestRegisterRollsBackFusionAuthUser(t *testing.T) {
	ts := newTestServer(t)
	email := uniqueEmail()
	// A local profile with this email but another id: FusionAuth accepts the
	// registration, the local insert then violates the unique index.
	if _, err := testStore.Pool.Exec(context.Background(),
		`INSERT INTO users (id, tenant_id, email) VALUES ($1, '00000000-0000-0000-0000-000000000001', $2)`,
		uuid.NewString(), email); err != nil {
		t.Fatal(err)
	}
	before := ts.fa.UserCount()
	r := ts.do(t, "POST", "/v1/auth/register", map[string]any{"email": email, "password": goodPassword, "firstName": "A", "lastName": "B"})
	expect(t, r, 409, "CONFLICT")
	if ts.fa.UserCount() != before {
		t.Fatal("FusionAuth user left behind after the local write failed")
	}
	if !strings.Contains(ts.logs.String(), "registration rolled back") {
		t.Fatal("rollback not logged")
	}
}

func TestLoginErrors(t *testing.T) {
	ts := newTestServer(t, func(_ *Deps, o *fusionauthOpts) { o.LockAfter = 3 })
	s := ts.register(t)
	wrong := ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": "Wrong-pass-1"})
	expect(t, wrong, 401, "INVALID_CREDENTIALS")
	unknown := ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": uniqueEmail(), "password": "Wrong-pass-1"})
	expect(t, unknown, 401, "INVALID_CREDENTIALS")
	if wrong.Env.Error.Message != unknown.Env.Error.Message {
		t.Fatal("unknown email and wrong password answer differently (user enumeration)")
	}
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email}), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]any{"email": s.Email, "password": 123}), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/login", `{"email"`), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/login", "x", header("Content-Type", "text/plain")), 415, "UNSUPPORTED_MEDIA_TYPE")

	// Third failure locks the account in the fake (423 → ACCOUNT_LOCKED).
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": "Wrong-pass-2"}), 401, "INVALID_CREDENTIALS")
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": "Wrong-pass-3"}), 401, "INVALID_CREDENTIALS")
	locked := ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": goodPassword})
	expect(t, locked, 423, "ACCOUNT_LOCKED")
	if _, ok := locked.Env.Error.Details["retryAfterSeconds"]; !ok {
		t.Fatalf("no retryAfterSeconds: %s", locked.Body)
	}
	ts.fa.Unlock(s.Email)
	ts.login(t, s.Email, goodPassword)

	ts.fa.SetDown(true)
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": goodPassword}), 503, "SERVICE_UNAVAILABLE")
	ts.fa.SetDown(false)

	m := string(ts.do(t, "GET", "/metrics", nil).Body)
	for _, want := range []string{
		"heimdall_auth_login_attempts_total 7",
		`heimdall_auth_login_failures_total{reason="INVALID_CREDENTIALS"} 4`,
		`heimdall_auth_login_failures_total{reason="ACCOUNT_LOCKED"} 1`,
		`heimdall_auth_login_failures_total{reason="SERVICE_UNAVAILABLE"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	var n int
	_ = testStore.Pool.QueryRow(context.Background(), `SELECT count(*) FROM audit_logs WHERE action = 'user.login_failed'`).Scan(&n)
	if n < 6 {
		t.Fatalf("failed logins audited: %d", n)
	}
}

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.Claims, kid string) string {
	t.Helper()
	tk := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tk.Header["kid"] = kid
	}
	s, err := tk.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestForgedAndExpiredTokensAreRejected(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	kid := tokens.Thumbprint(&signKey.PublicKey)
	good := func() jwt.MapClaims {
		now := time.Now()
		return jwt.MapClaims{"iss": testIssuer, "aud": testIssuer, "sub": s.User.ID, "exp": now.Add(time.Minute).Unix(),
			"iat": now.Unix(), "nbf": now.Unix(), "jti": uuid.NewString(), "email": s.Email, "tenantId": s.User.TenantID, "roles": []string{"user"}}
	}
	with := func(k string, v any) jwt.MapClaims { c := good(); c[k] = v; return c }
	pubDER, _ := x509.MarshalPKIXPublicKey(&signKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)

	// sanity: a well-formed token signed by our key passes.
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(sign(t, jwt.SigningMethodRS256, signKey, good(), kid))), 200, "")

	cases := map[string][]reqOpt{
		"missing":                {},
		"not bearer":             {header("Authorization", "Basic Zm9vOmJhcg==")},
		"garbage":                {bearer("not.a.jwt")},
		"expired":                {bearer(sign(t, jwt.SigningMethodRS256, signKey, with("exp", time.Now().Add(-time.Hour).Unix()), kid))},
		"not yet valid":          {bearer(sign(t, jwt.SigningMethodRS256, signKey, with("nbf", time.Now().Add(time.Hour).Unix()), kid))},
		"wrong issuer":           {bearer(sign(t, jwt.SigningMethodRS256, signKey, with("iss", "https://evil.test"), kid))},
		"wrong audience":         {bearer(sign(t, jwt.SigningMethodRS256, signKey, with("aud", "someone-else"), kid))},
		"no exp":                 {bearer(sign(t, jwt.SigningMethodRS256, signKey, func() jwt.MapClaims { c := good(); delete(c, "exp"); return c }(), kid))},
		"wrong key, our kid":     {bearer(sign(t, jwt.SigningMethodRS256, otherKey, good(), kid))},
		"wrong key, its own kid": {bearer(sign(t, jwt.SigningMethodRS256, otherKey, good(), tokens.Thumbprint(&otherKey.PublicKey)))},
		"no kid":                 {bearer(sign(t, jwt.SigningMethodRS256, signKey, good(), ""))},
		"alg none":               {bearer(none)},
		"HS256 with public key":  {bearer(sign(t, jwt.SigningMethodHS256, pubPEM, good(), kid))},
		"HS256 with DER key":     {bearer(sign(t, jwt.SigningMethodHS256, pubDER, good(), kid))},
		"tampered payload":       {bearer(tamper(ts.login(t, s.Email, goodPassword).AccessToken))},
	}
	for name, opts := range cases {
		t.Run(name, func(t *testing.T) {
			expect(t, ts.do(t, "GET", "/v1/users/me", nil, opts...), 401, "UNAUTHORIZED")
		})
	}
	// Expired through the server's own clock.
	tok := ts.login(t, s.Email, goodPassword).AccessToken
	ts.clock.Advance(16 * time.Minute)
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(tok)), 401, "UNAUTHORIZED")
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	p := []byte(parts[1])
	if p[5] == 'A' {
		p[5] = 'B'
	} else {
		p[5] = 'A'
	}
	return parts[0] + "." + string(p) + "." + parts[2]
}

func TestRateLimits(t *testing.T) {
	ts := newTestServer(t, func(d *Deps, _ *fusionauthOpts) {
		d.Config.RateLimitAnonymousPerHour = 3
		d.Config.RateLimitPerHour = 2
	})
	ip := fromIP("2001:db8::" + strings.ReplaceAll(uuid.NewString()[:4], "-", ""))
	body := map[string]string{"email": uniqueEmail(), "password": "Wrong-pass-1"}
	for i := 3; i >= 1; i-- {
		r := ts.do(t, "POST", "/v1/auth/login", body, ip)
		if r.Code != 401 || r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != itoa(i-1) || r.Header.Get("X-RateLimit-Reset") == "" {
			t.Fatalf("request %d: %d %v", 4-i, r.Code, r.Header)
		}
	}
	r := ts.do(t, "POST", "/v1/auth/login", body, ip)
	expect(t, r, 429, "RATE_LIMIT_EXCEEDED")
	if r.Header.Get("Retry-After") == "" || r.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("429 headers: %v", r.Header)
	}
	// Another client is not affected.
	expect(t, ts.do(t, "POST", "/v1/auth/login", body, fromIP("203.0.113.77")), 401, "INVALID_CREDENTIALS")

	// Per user: the budget follows the token, not the IP.
	s := ts.register(t)
	for i := 0; i < 2; i++ {
		r := ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken), fromIP("192.0.2."+itoa(10+i)))
		if r.Code != 200 || r.Header.Get("X-RateLimit-Limit") != "2" {
			t.Fatalf("user request %d: %d %v", i, r.Code, r.Header)
		}
	}
	r = ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken), fromIP("192.0.2.99"))
	expect(t, r, 429, "RATE_LIMIT_EXCEEDED")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}

func TestCORS(t *testing.T) {
	ts := newTestServer(t)
	pre := func(origin string) *resp {
		return ts.do(t, "OPTIONS", "/v1/auth/login", nil, header("Origin", origin),
			header("Access-Control-Request-Method", "POST"), header("Access-Control-Request-Headers", "authorization,content-type")) // browsers send a sorted, lowercased list
	}
	ok := pre("https://app.example.com")
	if ok.Code >= 300 || ok.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(strings.ToLower(ok.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("allowed preflight: %d %v", ok.Code, ok.Header)
	}
	denied := pre("https://evil.example.com")
	if denied.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("denied preflight got ACAO: %v", denied.Header)
	}
	// Simple request from an allowed origin exposes our headers.
	r := ts.do(t, "GET", "/health", nil, header("Origin", "https://app.example.com"))
	if r.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "X-Request-Id") {
		t.Fatalf("simple CORS request: %v", r.Header)
	}
}

func TestRequestID(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, "GET", "/v1/users/me", nil, header("X-Request-ID", "req-abc123"))
	if r.Header.Get("X-Request-ID") != "req-abc123" || r.Env.Meta.RequestID != "req-abc123" {
		t.Fatalf("sane id not reused: %v %s", r.Header, r.Body)
	}
	for _, bad := range []string{strings.Repeat("x", 129), "has space", "tab\tchar", "é"} {
		r := ts.do(t, "GET", "/v1/users/me", nil, header("X-Request-ID", bad))
		got := r.Header.Get("X-Request-ID")
		if _, err := uuid.Parse(got); err != nil || r.Env.Meta.RequestID != got {
			t.Fatalf("%q: got id %q / meta %q", bad, got, r.Env.Meta.RequestID)
		}
	}
	nf := ts.do(t, "GET", "/v1/nope", nil)
	expect(t, nf, 404, "NOT_FOUND")
}

func TestValidRequestID(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{"", false}, {"a", true}, {"req-abc123", true}, {strings.Repeat("a", 128), true},
		{strings.Repeat("a", 129), false}, {"a b", false}, {"a\nb", false}, {"ü", false}, {"~!@#$%^&*()", true},
	} {
		if got := validRequestID(c.in); got != c.want {
			t.Errorf("validRequestID(%q) = %v", c.in, got)
		}
	}
}

func TestPasswordAndEmailRules(t *testing.T) {
	for _, c := range []struct {
		pw string
		ok bool
	}{
		{"", false}, {"abc12", false}, {"abcdefgh", false}, {"12345678", false}, {"abcdefg1", true},
		{goodPassword, true}, {strings.Repeat("a1", 128), true}, {strings.Repeat("a1", 129), false},
	} {
		if got := passwordProblem(c.pw) == ""; got != c.ok {
			t.Errorf("passwordProblem(%q) ok=%v", c.pw, got)
		}
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"a@b.c", true}, {"first.last+tag@example.com", true}, {"", false}, {"no-at", false},
		{"Name <a@b.c>", false}, {"a@b.c ", false}, {strings.Repeat("a", 250) + "@b.cd", false},
	} {
		if got := validEmail(c.in); got != c.ok {
			t.Errorf("validEmail(%q) = %v", c.in, got)
		}
	}
}

func TestErrorCodesMapToContractStatuses(t *testing.T) {
	want := map[string]int{
		"VALIDATION_ERROR": 400, "UNAUTHORIZED": 401, "INVALID_CREDENTIALS": 401, "INVALID_TOKEN": 401,
		"FORBIDDEN": 403, "NOT_FOUND": 404, "CONFLICT": 409, "PAYLOAD_TOO_LARGE": 413, "UNSUPPORTED_MEDIA_TYPE": 415,
		"ACCOUNT_LOCKED": 423, "EMAIL_NOT_VERIFIED": 403, "RATE_LIMIT_EXCEEDED": 429, "INTERNAL_ERROR": 500,
		"SERVICE_UNAVAILABLE": 503, "SOMETHING_ELSE": 500,
	}
	for code, st := range want {
		if got := apperr.HTTPStatus(code); got != st {
			t.Errorf("%s → %d, want %d", code, got, st)
		}
	}
}

func TestRecoveryAnswers500WithoutInternals(t *testing.T) {
	ts := newTestServer(t)
	h := ts.srv.requestID(ts.srv.observe(ts.srv.recovery(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret internal detail")
	}))))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "INTERNAL_ERROR") || strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(ts.logs.String(), "secret internal detail") || !strings.Contains(ts.logs.String(), "goroutine") {
		t.Fatal("panic and stack not logged")
	}
}
