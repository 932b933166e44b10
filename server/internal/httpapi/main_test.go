package httpapi

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
	"github.com/heimdall-io/heimdall-operator/server/internal/logging"
	"github.com/heimdall-io/heimdall-operator/server/internal/rediscli"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

// Shared by every test of the package: real PostgreSQL and Redis.
var (
	pg        *testenv.Postgres
	rds       *testenv.Redis
	dbURL     string
	testStore *store.Store
	signKey   *rsa.PrivateKey
	otherKey  *rsa.PrivateKey
)

const (
	testIssuer = "https://heimdall.test"
	testAPIKey = "fa-test-key"
	testAppID  = "7f3b2c1e-5d4a-4e8b-9c6f-0a1b2c3d4e5f"
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var err error
	if pg, err = testenv.StartPostgres(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: integration tests need PostgreSQL (run hack/install-test-deps.sh):", err)
		return 1
	}
	defer pg.Close()
	if rds, err = testenv.StartRedis(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: integration tests need Redis (run hack/install-test-deps.sh):", err)
		return 1
	}
	defer rds.Close()
	if dbURL, err = pg.CreateDatabase(ctx, "heimdall"); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL:", err)
		return 1
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "FATAL:", err)
		return 1
	}
	if _, err := migrations.Up(ctx, conn); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL: migrations:", err)
		return 1
	}
	conn.Close(ctx)
	if testStore, err = store.Open(ctx, dbURL); err != nil {
		fmt.Fprintln(os.Stderr, "FATAL:", err)
		return 1
	}
	defer testStore.Close()
	signKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	otherKey, _ = rsa.GenerateKey(rand.Reader, 2048)
	return m.Run()
}

// clock is an adjustable time source.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

type testServer struct {
	h     http.Handler
	fa    *fusionauthfake.Server
	logs  *testenv.SyncBuffer
	clock *clock
	srv   *Server
	ip    string // default client address of this server's requests
}

var ipCounter atomic.Int64

// newTestServer builds a server over the shared PostgreSQL and Redis, a
// fresh FusionAuth fake, and generous rate limits unless mod changes them.
func newTestServer(t *testing.T, mod ...func(*Deps, *fusionauthfake.Options)) *testServer {
	t.Helper()
	fo := fusionauthfake.Options{APIKey: testAPIKey}
	logs := &testenv.SyncBuffer{}
	clk := &clock{}
	rdb, err := rediscli.New(rds.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	d := Deps{
		Config: Config{
			Issuer: testIssuer, AccessTTL: 15 * time.Minute, RefreshTTL: 24 * time.Hour,
			RateLimitPerHour: 100000, RateLimitAnonymousPerHour: 100000,
			CORSAllowedOrigins: []string{"https://app.example.com"}, Version: "test",
		},
		Logger: logging.New(logs, "debug"),
		Store:  testStore,
		Redis:  rdb,
		Keys:   tokens.NewKeySet(signKey),
		Now:    clk.Now,
	}
	for _, f := range mod {
		f(&d, &fo)
	}
	fa := fusionauthfake.Start(fo)
	t.Cleanup(fa.Close)
	d.FusionAuth = fusionauth.New(fusionauth.Options{BaseURL: fa.URL, APIKey: testAPIKey, ApplicationID: testAppID, Timeout: 2 * time.Second})
	s := newServer(d)
	n := ipCounter.Add(1)
	ip := fmt.Sprintf("10.%d.%d.%d:40000", n/62500%250, n/250%250, n%250+1)
	return &testServer{h: s.handler(), fa: fa, logs: logs, clock: clk, srv: s, ip: ip}
}

type resp struct {
	Code   int
	Header http.Header
	Body   []byte
	Env    struct {
		Success bool            `json:"success"`
		Data    json.RawMessage `json:"data"`
		Error   *struct {
			Code    string         `json:"code"`
			Message string         `json:"message"`
			Details map[string]any `json:"details"`
		} `json:"error"`
		Meta struct {
			RequestID string `json:"requestId"`
			Timestamp string `json:"timestamp"`
		} `json:"meta"`
	}
}

func (r *resp) errCode() string {
	if r.Env.Error == nil {
		return ""
	}
	return r.Env.Error.Code
}

func (r *resp) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Env.Data, v); err != nil {
		t.Fatalf("decoding data %s: %v", r.Env.Data, err)
	}
}

type reqOpt func(*http.Request)

func bearer(tok string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func fromIP(ip string) reqOpt { return func(r *http.Request) { r.RemoteAddr = ip + ":40000" } }

// do sends a request; body may be nil, a string (sent raw) or a value (JSON).
func (ts *testServer) do(t *testing.T, method, path string, body any, opts ...reqOpt) *resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.RemoteAddr = ts.ip
	for _, o := range opts {
		o(req)
	}
	rec := httptest.NewRecorder()
	ts.h.ServeHTTP(rec, req)
	out := &resp{Code: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(out.Body, &out.Env)
	}
	return out
}

func expect(t *testing.T, r *resp, status int, code string) {
	t.Helper()
	if r.Code != status || r.errCode() != code {
		t.Fatalf("want %d %q, got %d %q: %s", status, code, r.Code, r.errCode(), r.Body)
	}
}

var userSeq atomic.Int64

func uniqueEmail() string {
	return fmt.Sprintf("user%d-%d@example.com", time.Now().UnixNano(), userSeq.Add(1))
}

const goodPassword = "Sup3r-secret-pw"

type session struct {
	Email        string
	AccessToken  string
	RefreshToken string
	User         store.User
}

func (ts *testServer) register(t *testing.T) session {
	t.Helper()
	email := uniqueEmail()
	r := ts.do(t, "POST", "/v1/auth/register", map[string]any{
		"email": email, "password": goodPassword, "firstName": "Ada", "lastName": "Lovelace",
	})
	expect(t, r, http.StatusCreated, "")
	var p tokenPair
	r.data(t, &p)
	return session{Email: email, AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, User: *p.User}
}

func (ts *testServer) login(t *testing.T, email, pw string) session {
	t.Helper()
	r := ts.do(t, "POST", "/v1/auth/login", map[string]any{"email": email, "password": pw})
	expect(t, r, http.StatusOK, "")
	var p tokenPair
	r.data(t, &p)
	return session{Email: email, AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, User: *p.User}
}

type fusionauthOpts = fusionauthfake.Options

var cryptoSHA256 = crypto.SHA256

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
