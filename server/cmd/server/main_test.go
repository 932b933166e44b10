package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

func TestMissingConfigurationIsReportedAtOnce(t *testing.T) {
	var out, errb bytes.Buffer
	err := run(context.Background(), []string{"server", "-env-file", filepath.Join(t.TempDir(), "none")},
		func(string) string { return "" }, &out, &errb)
	if err == nil {
		t.Fatal("run succeeded without configuration")
	}
	for _, k := range []string{"DATABASE_URL", "REDIS_URL", "FUSIONAUTH_URL", "FUSIONAUTH_API_KEY", "JWT_PRIVATE_KEY_PATH", "JWT_PUBLIC_KEY_PATH", "JWT_ISSUER"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("%s not reported: %v", k, err)
		}
	}
	if !strings.Contains(err.Error(), "7 configuration problem(s)") {
		t.Errorf("count: %v", err)
	}
}

func TestVersionFlag(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"server", "-version"}, os.Getenv, &out, &out); err != nil || strings.TrimSpace(out.String()) != version {
		t.Fatalf("%v %q", err, out.String())
	}
}

// Starts the real binary's run() against real PostgreSQL, Redis and the
// FusionAuth fake, serves a request over TCP and shuts down on cancel.
func TestRunServesAndShutsDownGracefully(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	be := startBackends(ctx, t, "heimdall")

	dir := t.TempDir()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	os.WriteFile(filepath.Join(dir, "private.pem"), tokens.EncodePrivateKeyPEM(key), 0o600)
	os.WriteFile(filepath.Join(dir, "public.pem"), tokens.EncodePublicKeyPEM(&key.PublicKey), 0o644)
	port, _ := testenv.FreePort()
	env := map[string]string{
		"PORT": strconv.Itoa(port), "DATABASE_URL": be.dbURL, "REDIS_URL": be.redisURL, "FUSIONAUTH_URL": be.fusionAuthURL,
		"FUSIONAUTH_API_KEY": "k", "JWT_PRIVATE_KEY_PATH": filepath.Join(dir, "private.pem"),
		"JWT_PUBLIC_KEY_PATH": filepath.Join(dir, "public.pem"), "JWT_ISSUER": "https://heimdall.test", "LOG_LEVEL": "debug",
	}
	sctx, stop := context.WithCancel(ctx)
	var logs testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"server", "-env-file", filepath.Join(dir, "none")}, func(k string) string { return env[k] }, &logs, &logs)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base, &logs)
	body := `{"email":"run@example.com","password":"Passw0rd-run","firstName":"R","lastName":"U"}`
	resp, err := http.Post(base+"/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var env2 struct {
		Success bool `json:"success"`
	}
	json.NewDecoder(resp.Body).Decode(&env2)
	resp.Body.Close()
	if resp.StatusCode != 201 || !env2.Success {
		t.Fatalf("register over TCP: %d", resp.StatusCode)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no graceful shutdown within 30s")
	}
	for _, want := range []string{"server listening", "shutting down", "server stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs.String(), "Passw0rd-run") {
		t.Fatal("password in logs")
	}
}
