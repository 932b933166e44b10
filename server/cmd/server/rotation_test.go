package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

// The server as a pod of the operator's rotation "switched" phase: it signs with the new key
// and loads the old public key from JWT_ADDITIONAL_PUBLIC_KEYS_DIR at start. Over HTTP, its JWKS
// lists both, and an access token the old key signed for a live session is still accepted.
func TestRunLoadsAdditionalPublicKeysAtStart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	be := startBackends(ctx, t, "heimdall_rotation")

	newKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	oldKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	newKID, oldKID := tokens.Thumbprint(&newKey.PublicKey), tokens.Thumbprint(&oldKey.PublicKey)
	keys, extra := t.TempDir(), t.TempDir()
	write := func(path string, b []byte) {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(keys, "private.pem"), tokens.EncodePrivateKeyPEM(newKey))
	write(filepath.Join(keys, "public.pem"), tokens.EncodePublicKeyPEM(&newKey.PublicKey))
	write(filepath.Join(extra, oldKID+".pem"), tokens.EncodePublicKeyPEM(&oldKey.PublicKey))

	port, _ := testenv.FreePort()
	const issuer = "https://heimdall.test"
	env := map[string]string{
		"PORT": strconv.Itoa(port), "DATABASE_URL": be.dbURL, "REDIS_URL": be.redisURL, "FUSIONAUTH_URL": be.fusionAuthURL,
		"FUSIONAUTH_API_KEY": "k", "JWT_PRIVATE_KEY_PATH": filepath.Join(keys, "private.pem"),
		"JWT_PUBLIC_KEY_PATH": filepath.Join(keys, "public.pem"), "JWT_ADDITIONAL_PUBLIC_KEYS_DIR": extra,
		"JWT_ISSUER": issuer,
	}
	sctx, stop := context.WithCancel(ctx)
	var logs testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"server", "-env-file", filepath.Join(keys, "none")}, func(k string) string { return env[k] }, &logs, &logs)
	}()
	defer func() {
		stop()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("no shutdown within 30s")
		}
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitReady(t, base, &logs)

	// JWKS: the signing key first, then the additional one.
	resp, err := http.Get(base + "/v1/oauth/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	var jwks tokens.JWKS
	err = json.NewDecoder(resp.Body).Decode(&jwks)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range jwks.Keys {
		kids = append(kids, k.Kid)
	}
	if !slices.Equal(kids, []string{newKID, oldKID}) {
		t.Fatalf("JWKS kids %v, want [%s %s]", kids, newKID, oldKID)
	}

	// A live session: register, then re-sign its access token with the old key, as a pod of
	// the previous phase issued it before the switch.
	body := `{"email":"rot@example.com","password":"Passw0rd-rot","firstName":"R","lastName":"O"}`
	resp, err = http.Post(base+"/v1/auth/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		Data struct {
			AccessToken string `json:"accessToken"`
		} `json:"data"`
	}
	err = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated || reg.Data.AccessToken == "" {
		t.Fatalf("register: %d %v", resp.StatusCode, err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(reg.Data.AccessToken, claims); err != nil {
		t.Fatal(err)
	}
	old := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	old.Header["kid"] = oldKID
	oldToken, err := old.SignedString(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	me := func(token string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := me(reg.Data.AccessToken); code != http.StatusOK {
		t.Fatalf("new-key token: %d", code)
	}
	if code := me(oldToken); code != http.StatusOK {
		t.Fatalf("a token signed with the old key is refused after the switch: %d", code)
	}
	stranger, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	forged.Header["kid"] = tokens.Thumbprint(&stranger.PublicKey)
	forgedToken, _ := forged.SignedString(stranger)
	if code := me(forgedToken); code != http.StatusUnauthorized {
		t.Fatalf("a token of a key neither loaded nor published: %d, want 401", code)
	}
}
