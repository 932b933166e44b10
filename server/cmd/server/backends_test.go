package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

// backends are what run() needs around it, real where they can be: a migrated PostgreSQL
// database, Redis, and the FusionAuth fake accepting API key "k". They stop when the test ends.
type backends struct{ dbURL, redisURL, fusionAuthURL string }

func startBackends(ctx context.Context, t *testing.T, database string) backends {
	t.Helper()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL is required: %v", err)
	}
	t.Cleanup(func() { _ = pg.Close() })
	rd, err := testenv.StartRedis(ctx)
	if err != nil {
		t.Fatalf("Redis is required: %v", err)
	}
	t.Cleanup(func() { _ = rd.Close() })
	dbURL, err := pg.CreateDatabase(ctx, database)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := migrations.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	fa := fusionauthfake.Start(fusionauthfake.Options{APIKey: "k"})
	t.Cleanup(fa.Close)
	return backends{dbURL: dbURL, redisURL: rd.URL(), fusionAuthURL: fa.URL}
}

// waitReady polls /health/ready until it answers 200, failing with the server's log after 20 s.
func waitReady(t *testing.T, base string, logs *testenv.SyncBuffer) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready: %v\n%s", err, logs.String())
		}
	}
}
