package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
)

func TestUpStatusDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		t.Fatalf("PostgreSQL is required: %v", err)
	}
	defer pg.Close()
	url, err := pg.CreateDatabase(ctx, "heimdall")
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	cmd := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append([]string{"migrate"}, args...), env, &out, &out); err != nil {
			t.Fatalf("migrate %v: %v\n%s", args, err, out.String())
		}
		return out.String()
	}
	if out := cmd("status"); !strings.Contains(out, "pending") {
		t.Fatalf("status before up: %s", out)
	}
	if out := cmd("up"); !strings.Contains(out, "applied 0001") {
		t.Fatalf("up: %s", out)
	}
	if out := cmd("up"); !strings.Contains(out, "no pending") {
		t.Fatalf("second up: %s", out)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var idx []string
	rows, _ := conn.Query(ctx, `SELECT indexname FROM pg_indexes WHERE indexname IN ('idx_users_email', 'idx_audit_logs_tenant_time') ORDER BY 1`)
	for rows.Next() {
		var s string
		rows.Scan(&s)
		idx = append(idx, s)
	}
	if strings.Join(idx, ",") != "idx_audit_logs_tenant_time,idx_users_email" {
		t.Fatalf("seed indexes: %v", idx)
	}
	var slug string
	if err := conn.QueryRow(ctx, `SELECT slug FROM tenants WHERE slug = 'default'`).Scan(&slug); err != nil {
		t.Fatalf("default tenant: %v", err)
	}
	if out := cmd("status"); strings.Contains(out, "pending") {
		t.Fatalf("status after up: %s", out)
	}
	if out := cmd("down"); !strings.Contains(out, "reverted 0001") {
		t.Fatalf("down: %s", out)
	}
	var n int
	conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name IN ('users','tenants','refresh_tokens','audit_logs','roles','user_roles')`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d tables left after down", n)
	}
	cmd("up")

	var out bytes.Buffer
	if err := run(ctx, []string{"migrate", "sideways"}, env, &out, &out); err == nil {
		t.Fatal("unknown command accepted")
	}
	if err := run(ctx, []string{"migrate", "up"}, func(string) string { return "" }, &out, &out); err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("missing DATABASE_URL: %v", err)
	}
}
