// Command devstack runs a complete throw-away local Heimdall for newcomers:
// a temporary PostgreSQL and Redis (as the tests start them), the FusionAuth
// fake (NOT real FusionAuth), JWT keys generated into a temp dir when absent,
// migrations, and the API server on :8080. Ctrl-C stops and removes it all.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
	"github.com/heimdall-io/heimdall-operator/server/internal/app"
	"github.com/heimdall-io/heimdall-operator/server/internal/config"
	"github.com/heimdall-io/heimdall-operator/server/internal/logging"
	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devstack:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 8080, "API port")
	faAddr := fs.String("fusionauth-addr", "127.0.0.1:9011", "address of the FusionAuth fake")
	keysDir := fs.String("keys-dir", filepath.Join(os.TempDir(), "heimdall-dev-keys"), "JWT key directory (keys generated when absent)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "devstack: "+format+"\n", a...) }

	priv, pub, err := ensureKeys(*keysDir)
	if err != nil {
		return err
	}
	say("JWT keys in %s", *keysDir)

	say("starting throw-away PostgreSQL…")
	pg, err := testenv.StartPostgres(ctx)
	if err != nil {
		return err
	}
	defer func() { pg.Close(); say("PostgreSQL stopped and removed") }()
	dbURL, err := pg.CreateDatabase(ctx, "heimdall")
	if err != nil {
		return err
	}
	say("starting throw-away Redis…")
	rd, err := testenv.StartRedis(ctx)
	if err != nil {
		return err
	}
	defer func() { rd.Close(); say("Redis stopped and removed") }()

	if err := migrate(ctx, dbURL); err != nil {
		return err
	}

	const apiKey = "devstack-fusionauth-key"
	ln, err := net.Listen("tcp", *faAddr)
	if err != nil {
		return fmt.Errorf("FusionAuth fake: %w", err)
	}
	faSrv := &http.Server{Handler: fusionauthfake.New(fusionauthfake.Options{APIKey: apiKey, LockAfter: 5}), ReadHeaderTimeout: 5 * time.Second}
	go faSrv.Serve(ln) //nolint:errcheck
	defer faSrv.Close()
	say("FusionAuth fake (in-memory, not real FusionAuth) on http://%s", ln.Addr())

	env := map[string]string{
		"PORT": strconv.Itoa(*port), "ENV": "development", "LOG_LEVEL": "info",
		"DATABASE_URL": dbURL, "REDIS_URL": rd.URL(),
		"FUSIONAUTH_URL": "http://" + ln.Addr().String(), "FUSIONAUTH_API_KEY": apiKey,
		"JWT_PRIVATE_KEY_PATH": priv, "JWT_PUBLIC_KEY_PATH": pub, "JWT_ISSUER": fmt.Sprintf("http://localhost:%d", *port),
	}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	say("PostgreSQL: %s", dbURL)
	say("Redis:      %s", rd.URL())
	say("API:        http://localhost:%d  (Ctrl-C stops and cleans up everything)", *port)
	say("try: curl -s localhost:%d/health/ready", *port)
	err = app.Run(ctx, cfg, logging.New(stdout, cfg.LogLevel), "devstack")
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func migrate(ctx context.Context, url string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = migrations.Up(ctx, conn)
	return err
}

func ensureKeys(dir string) (string, string, error) {
	priv, pub := filepath.Join(dir, "private.pem"), filepath.Join(dir, "public.pem")
	if _, err := os.Stat(priv); err == nil {
		if _, err := os.Stat(pub); err == nil {
			return priv, pub, nil
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", err
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", err
	}
	if err := os.WriteFile(priv, tokens.EncodePrivateKeyPEM(k), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pub, tokens.EncodePublicKeyPEM(&k.PublicKey), 0o644); err != nil {
		return "", "", err
	}
	return priv, pub, nil
}
