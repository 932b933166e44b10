package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
)

// Racing refreshes of one token: exactly one wins; the others count as reuse.
func TestConcurrentRefreshOfOneToken(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	const n = 6
	var wg sync.WaitGroup
	codes := make([]int, n)
	for i := range n {
		wg.Go(func() {
			codes[i] = ts.do(t, "POST", "/v1/auth/refresh", map[string]string{"refreshToken": s.RefreshToken}).Code
		})
	}
	wg.Wait()
	ok := 0
	for _, c := range codes {
		switch c {
		case 200:
			ok++
		case 401:
		default:
			t.Fatalf("unexpected status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d refreshes of one token succeeded: %v", ok, codes)
	}
	var live int
	if err := testStore.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM refresh_tokens WHERE user_id = $1 AND revoked_at IS NULL AND used_at IS NULL`, s.User.ID).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if live != 0 {
		t.Fatalf("reuse left %d live tokens in the family", live)
	}
}

func TestTenants(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	id, slug := uuid.NewString(), "acme-"+uuid.NewString()[:8]
	if _, err := testStore.Pool.Exec(ctx, `INSERT INTO tenants (id, slug, name) VALUES ($1, $2, 'Acme')`, id, slug); err != nil {
		t.Fatal(err)
	}
	body := func() map[string]any {
		return map[string]any{"email": uniqueEmail(), "password": goodPassword, "firstName": "A", "lastName": "B"}
	}
	for _, key := range []string{id, slug} {
		r := ts.do(t, "POST", "/v1/auth/register", body(), header("X-Tenant-ID", key))
		expect(t, r, 201, "")
		var p tokenPair
		r.data(t, &p)
		if p.User.TenantID != id {
			t.Fatalf("tenant %s: got %s", key, p.User.TenantID)
		}
		c, err := ts.srv.issuer.Verify(p.AccessToken)
		if err != nil || c.TenantID != id {
			t.Fatalf("tenantId claim: %v %v", c, err)
		}
	}
	if _, err := testStore.Pool.Exec(ctx, `UPDATE tenants SET status = 'suspended' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	expect(t, ts.do(t, "POST", "/v1/auth/register", body(), header("X-Tenant-ID", slug)), 403, "FORBIDDEN")
}

// A user made directly in FusionAuth gets a local profile at first login.
func TestLoginProvisionsProfileForFusionAuthOnlyUser(t *testing.T) {
	ts := newTestServer(t)
	email := uniqueEmail()
	fa := fusionauth.New(fusionauth.Options{BaseURL: ts.fa.URL, APIKey: testAPIKey, ApplicationID: testAppID})
	u, err := fa.Register(context.Background(), fusionauth.RegisterInput{Email: email, Password: goodPassword, FirstName: "F", LastName: "A"})
	if err != nil {
		t.Fatal(err)
	}
	s := ts.login(t, email, goodPassword)
	if s.User.ID != u.ID || s.User.FirstName != "F" || s.User.TenantID != "00000000-0000-0000-0000-000000000001" {
		t.Fatalf("provisioned: %+v", s.User)
	}
}

func TestLogoutBodyVariants(t *testing.T) {
	ts := newTestServer(t)
	s := ts.register(t)
	// empty chunked body, JSON content type
	req := httptest.NewRequest("POST", "/v1/auth/logout", strings.NewReader(""))
	req.ContentLength = -1
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.AccessToken)
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("empty body logout: %d %s", rec.Code, rec.Body)
	}
	expect(t, ts.do(t, "POST", "/v1/auth/logout", `{"refreshToken":`, bearer(s.AccessToken)), 400, "VALIDATION_ERROR")
	expect(t, ts.do(t, "POST", "/v1/auth/logout", "x", bearer(s.AccessToken), header("Content-Type", "text/plain")), 415, "UNSUPPORTED_MEDIA_TYPE")
	// someone else's or unknown refresh token: nothing to revoke, still 204
	if r := ts.do(t, "POST", "/v1/auth/logout", map[string]string{"refreshToken": "rt_unknown"}, bearer(s.AccessToken)); r.Code != 204 {
		t.Fatalf("unknown token logout: %d", r.Code)
	}
}

func TestAccessTokenLifetimeAndExpiresIn(t *testing.T) {
	ts := newTestServer(t, func(d *Deps, _ *fusionauthOpts) { d.Config.AccessTTL = 60 * time.Second })
	s := ts.register(t)
	c, err := ts.srv.issuer.Verify(s.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.ExpiresAt.Sub(c.IssuedAt.Time); d != time.Minute {
		t.Fatalf("lifetime %v", d)
	}
}
