// Command e2e-backends starts the backing services of one Heimdall installation on loopback for
// the operator's end-to-end suite (test/e2e, scenario 10): a throw-away PostgreSQL with the
// server's database user, a Redis that requires the given password, and the FusionAuth fake
// accepting the given API key. The credentials come from the environment (E2E_DB_USERNAME,
// E2E_DB_PASSWORD, E2E_DB_NAME, E2E_REDIS_PASSWORD, E2E_FUSIONAUTH_API_KEY), read by the suite
// from the Secrets the operator generated, so they never appear in a process listing.
//
// It prints one JSON line with the addresses, then runs until SIGTERM or SIGINT and removes
// everything. The suite cannot import server/internal (another module), hence a
// command.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
)

// Addresses is the line printed once everything is up.
type Addresses struct {
	Postgres   string `json:"postgres"`
	Redis      string `json:"redis"`
	FusionAuth string `json:"fusionauth"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "e2e-backends:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	want := map[string]string{}
	var missing []string
	for _, k := range []string{"E2E_DB_USERNAME", "E2E_DB_PASSWORD", "E2E_DB_NAME", "E2E_REDIS_PASSWORD", "E2E_FUSIONAUTH_API_KEY"} {
		if want[k] = getenv(k); want[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}

	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		return err
	}
	defer pg.Close()
	if err := createDatabase(ctx, pg.URL("postgres"), want["E2E_DB_NAME"], want["E2E_DB_USERNAME"], want["E2E_DB_PASSWORD"]); err != nil {
		return err
	}
	rd, err := testenv.StartRedis(ctx)
	if err != nil {
		return err
	}
	defer rd.Close()
	redisAddr := fmt.Sprintf("127.0.0.1:%d", rd.Port)
	if err := requirePass(redisAddr, want["E2E_REDIS_PASSWORD"]); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fa := &http.Server{Handler: fusionauthfake.New(fusionauthfake.Options{APIKey: want["E2E_FUSIONAUTH_API_KEY"]}), ReadHeaderTimeout: 5 * time.Second}
	go fa.Serve(ln) //nolint:errcheck // ends with Close below
	defer fa.Close()

	if err := json.NewEncoder(stdout).Encode(Addresses{Postgres: fmt.Sprintf("127.0.0.1:%d", pg.Port), Redis: redisAddr, FusionAuth: ln.Addr().String()}); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// createDatabase makes the server's role and database, as the operator's PostgreSQL first-start
// script does in the cluster.
func createDatabase(ctx context.Context, superuserURL, db, user, password string) error {
	conn, err := pgx.Connect(ctx, superuserURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	role := pgx.Identifier{user}.Sanitize()
	// CREATE ROLE takes no bind parameters; the password is quoted as a SQL literal.
	if _, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD '"+strings.ReplaceAll(password, "'", "''")+"'"); err != nil {
		return errors.New("create role: " + err.Error())
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()+" OWNER "+role); err != nil {
		return fmt.Errorf("create database: %w", err)
	}
	return nil
}

// requirePass turns on Redis AUTH, so a wrong password in the rendered REDIS_URL fails.
func requirePass(addr, password string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to Redis: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	cmd := []string{"CONFIG", "SET", "requirepass", password}
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(cmd))
	for _, a := range cmd {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return fmt.Errorf("redis CONFIG SET: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "+OK") {
		return fmt.Errorf("redis CONFIG SET requirepass: %q %v", strings.TrimSpace(line), err)
	}
	return nil
}
