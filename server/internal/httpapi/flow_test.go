package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// verifyWithJWKS checks an access token the way a resource server would:
// fetch the JWKS document and let go-jose and golang-jwt verify with it.
func verifyWithJWKS(t *testing.T, ts *testServer, token string) jwt.MapClaims {
	t.Helper()
	r := ts.do(t, "GET", "/v1/oauth/.well-known/jwks.json", nil)
	if r.Code != 200 {
		t.Fatalf("jwks: %d", r.Code)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(r.Body, &set); err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(tk *jwt.Token) (any, error) {
		kid, _ := tk.Header["kid"].(string)
		keys := set.Key(kid)
		if len(keys) != 1 {
			t.Fatalf("kid %q not in JWKS", kid)
		}
		tp, _ := keys[0].Thumbprint(cryptoSHA256)
		if b64url(tp) != kid {
			t.Fatalf("kid %q is not the RFC 7638 thumbprint %q", kid, b64url(tp))
		}
		return keys[0].Key, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(testIssuer), jwt.WithAudience(testIssuer))
	if err != nil {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	return claims
}

func TestRegisterLoginMeRefreshLogout(t *testing.T) {
	ts := newTestServer(t)
	reg := ts.register(t)
	if !strings.HasPrefix(reg.RefreshToken, "rt_") || len(reg.RefreshToken) < 46 {
		t.Fatalf("refresh token shape: %q", reg.RefreshToken)
	}
	if reg.User.TenantID != "00000000-0000-0000-0000-000000000001" || reg.User.Email != reg.Email {
		t.Fatalf("user: %+v", reg.User)
	}
	if !ts.fa.HasUser(reg.User.ID) {
		t.Fatal("FusionAuth user not created")
	}

	s := ts.login(t, reg.Email, goodPassword)
	claims := verifyWithJWKS(t, ts, s.AccessToken)
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "email", "tenantId", "roles"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %s missing: %v", c, claims)
		}
	}
	if claims["sub"] != reg.User.ID || claims["email"] != reg.Email {
		t.Fatalf("claims: %v", claims)
	}
	if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "user" {
		t.Fatalf("roles: %v", claims["roles"])
	}
	if s.User.LastLoginAt == nil {
		t.Fatal("lastLoginAt not set by login")
	}
	var n int
	if err := testStore.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM audit_logs WHERE actor = $1 AND action = 'user.login'`, reg.User.ID).Scan(&n); err != nil || n != 1 {
		t.Fatalf("audit rows for login: %d %v", n, err)
	}
	var stored []byte
	if err := testStore.Pool.QueryRow(context.Background(),
		`SELECT token_hash FROM refresh_tokens WHERE user_id = $1 LIMIT 1`, reg.User.ID).Scan(&stored); err != nil || len(stored) != 32 {
		t.Fatalf("stored hash: %x %v", stored, err)
	}
	if strings.Contains(string(stored), "rt_") {
		t.Fatal("refresh token stored in clear")
	}

	// /v1/users/me: miss then hit in the cache.
	me := ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken))
	expect(t, me, 200, "")
	var prof map[string]any
	me.data(t, &prof)
	for _, f := range []string{"id", "email", "emailVerified", "firstName", "lastName", "phoneNumber", "profilePicture",
		"roles", "permissions", "metadata", "tenantId", "createdAt", "updatedAt", "lastLoginAt"} {
		if _, ok := prof[f]; !ok {
			t.Errorf("profile field %s missing", f)
		}
	}
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken)), 200, "")

	// refresh rotates.
	r := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken})
	expect(t, r, 200, "")
	var p tokenPair
	r.data(t, &p)
	if p.RefreshToken == s.RefreshToken || p.TokenType != "Bearer" || p.ExpiresIn != 900 {
		t.Fatalf("refresh pair: %+v", p)
	}
	verifyWithJWKS(t, ts, p.AccessToken)

	// logout with the new access token kills the session.
	lo := ts.do(t, "POST", "/v1/auth/logout", nil, bearer(p.AccessToken))
	if lo.Code != 204 {
		t.Fatalf("logout: %d %s", lo.Code, lo.Body)
	}
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": p.RefreshToken}), 401, "INVALID_TOKEN")
	// the registration session is still alive.
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": reg.RefreshToken}), 200, "")

	m := ts.do(t, "GET", "/metrics", nil)
	body := string(m.Body)
	for _, want := range []string{
		`heimdall_auth_login_attempts_total 1`,
		`heimdall_cache_hits_total{cache="user"}`,
		`heimdall_http_requests_total{method="GET",route="GET /v1/users/me",status="200"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	r1 := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken})
	expect(t, r1, 200, "")
	var p1 tokenPair
	r1.data(t, &p1)
	// Presenting the spent token again is reuse: INVALID_TOKEN and the family dies.
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}), 401, "INVALID_TOKEN")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": p1.RefreshToken}), 401, "INVALID_TOKEN")

	for name, body := range map[string]any{
		"unknown":   map[string]string{"refreshToken": "rt_" + strings.Repeat("A", 43)},
		"malformed": map[string]string{"refreshToken": "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, ts.do(t, "POST", "/v1/auth/refresh", body), 401, "INVALID_TOKEN")
		})
	}
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{}), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]any{"refreshToken": 12}), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", `{"refreshToken":`), 400, "VALIDATION_ERROR")
}

func TestRefreshTokenExpires(t *testing.T) {
	ts := newTestServer(t, func(d *Deps, _ *fusionauthOpts) { d.Config.RefreshTTL = time.Hour })
	s := ts.register(t)
	ts.clock.Advance(2 * time.Hour)
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}), 401, "INVALID_TOKEN")
}

func TestLogoutAllAndPasswordChange(t *testing.T) {
	ts := newTestServer(t)
	a := ts.register(t)
	b := ts.login(t, a.Email, goodPassword)
	c := ts.login(t, a.Email, goodPassword)

	// password change: errors first.
	expect(t, ts.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": "Wrong-pass-1", "newPassword": "N3w-password!"}, bearer(b.AccessToken)), 401, "INVALID_CREDENTIALS")
	expect(t, ts.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": goodPassword, "newPassword": "short"}, bearer(b.AccessToken)), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": goodPassword, "newPassword": "N3w-password!"}), 401, "UNAUTHORIZED")

	r := ts.do(t, "POST", "/v1/auth/password/change", map[string]string{"currentPassword": goodPassword, "newPassword": "N3w-password!"}, bearer(b.AccessToken))
	expect(t, r, 200, "")
	var msg map[string]string
	r.data(t, &msg)
	if msg["message"] == "" {
		t.Fatal("no message")
	}
	// Other sessions revoked, the caller's kept.
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": a.RefreshToken}), 401, "INVALID_TOKEN")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": c.RefreshToken}), 401, "INVALID_TOKEN")
	rb := ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": b.RefreshToken})
	expect(t, rb, 200, "")
	// Old password no longer works, the new one does.
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": a.Email, "password": goodPassword}), 401, "INVALID_CREDENTIALS")
	d := ts.login(t, a.Email, "N3w-password!")

	// logout with an explicit refresh token.
	lo := ts.do(t, "POST", "/v1/auth/logout", map[string]string{"refreshToken": d.RefreshToken}, bearer(d.AccessToken))
	if lo.Code != 204 {
		t.Fatalf("logout: %d", lo.Code)
	}
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": d.RefreshToken}), 401, "INVALID_TOKEN")

	// logout-all kills everything.
	var pb tokenPair
	rb.data(t, &pb)
	e := ts.login(t, a.Email, "N3w-password!")
	if r := ts.do(t, "POST", "/v1/auth/logout-all", nil, bearer(e.AccessToken)); r.Code != 204 {
		t.Fatalf("logout-all: %d %s", r.Code, r.Body)
	}
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": pb.RefreshToken}), 401, "INVALID_TOKEN")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": e.RefreshToken}), 401, "INVALID_TOKEN")
	expect(t, ts.do(t, "POST", "/v1/auth/logout-all", nil), 401, "UNAUTHORIZED")
	expect(t, ts.do(t, "POST", "/v1/auth/logout", nil), 401, "UNAUTHORIZED")
}

func TestPatchAndDeleteMe(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	r := ts.do(t, "PATCH", "/v1/users/me", map[string]any{
		"firstName": "Grace", "phoneNumber": "+15550100", "profilePicture": "https://img.example.com/g.png",
		"metadata": map[string]any{"theme": "dark"},
	}, bearer(s.AccessToken))
	expect(t, r, 200, "")
	var u map[string]any
	r.data(t, &u)
	if u["firstName"] != "Grace" || u["lastName"] != "Lovelace" || u["phoneNumber"] != "+15550100" ||
		u["metadata"].(map[string]any)["theme"] != "dark" {
		t.Fatalf("patched profile: %v", u)
	}
	// the cache was dropped: GET sees the change.
	g := ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken))
	g.data(t, &u)
	if u["firstName"] != "Grace" {
		t.Fatalf("stale profile after patch: %v", u)
	}
	for name, body := range map[string]any{
		"empty first name": map[string]any{"firstName": ""},
		"bad picture":      map[string]any{"profilePicture": "javascript:alert(1)"},
		"wrong type":       map[string]any{"metadata": "x"},
		"malformed":        `{"firstName":}`,
	} {
		t.Run(name, func(t *testing.T) {
			expect(t, ts.do(t, "PATCH", "/v1/users/me", body, bearer(s.AccessToken)), 400, "VALIDATION_ERROR")
		})
	}
	expect(t, ts.do(t, "PATCH", "/v1/users/me", map[string]any{"firstName": "X"}), 401, "UNAUTHORIZED")

	d := ts.do(t, "DELETE", "/v1/users/me", nil, bearer(s.AccessToken))
	if d.Code != 204 {
		t.Fatalf("delete: %d %s", d.Code, d.Body)
	}
	if ts.fa.HasUser(s.User.ID) {
		t.Fatal("FusionAuth user survived DELETE /v1/users/me")
	}
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken)), 404, "NOT_FOUND")
	expect(t, ts.do(t, "DELETE", "/v1/users/me", nil, bearer(s.AccessToken)), 404, "NOT_FOUND")
	expect(t, ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}), 401, "INVALID_TOKEN")
	expect(t, ts.do(t, "POST", "/v1/auth/login", map[string]string{"email": s.Email, "password": goodPassword}), 401, "INVALID_CREDENTIALS")
}

func TestDeleteMeKeepsProfileWhenFusionAuthFails(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	ts.fa.SetDown(true)
	expect(t, ts.do(t, "DELETE", "/v1/users/me", nil, bearer(s.AccessToken)), 503, "SERVICE_UNAVAILABLE")
	ts.fa.SetDown(false)
	expect(t, ts.do(t, "GET", "/v1/users/me", nil, bearer(s.AccessToken)), 200, "")
}

func TestDiscoveryAdvertisesOnlyExistingEndpoints(t *testing.T) {
	ts := newTestServer(t)
	r := ts.do(t, "GET", "/v1/.well-known/openid-configuration", nil)
	if r.Code != 200 {
		t.Fatalf("discovery: %d", r.Code)
	}
	var doc map[string]any
	if err := json.Unmarshal(r.Body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["issuer"] != testIssuer {
		t.Fatalf("issuer: %v", doc["issuer"])
	}
	found := 0
	for k, v := range doc {
		if !strings.HasSuffix(k, "_endpoint") && !strings.HasSuffix(k, "_uri") {
			continue
		}
		found++
		u, _ := v.(string)
		if !strings.HasPrefix(u, testIssuer+"/") {
			t.Fatalf("%s = %q not under the issuer", k, u)
		}
		if got := ts.do(t, "GET", strings.TrimPrefix(u, testIssuer), nil); got.Code != http.StatusOK {
			t.Errorf("%s = %s answers %d", k, u, got.Code)
		}
	}
	if found == 0 {
		t.Fatal("no endpoints advertised")
	}
}
