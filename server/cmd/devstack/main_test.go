package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/internal/testenv"
)

// `make run` end to end: the whole stack comes up ready and goes away on cancel.
func TestDevstackComesUpAndCleansUp(t *testing.T) {
	port, _ := testenv.FreePort()
	faPort, _ := testenv.FreePort()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	sctx, stop := context.WithCancel(ctx)
	var out testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(sctx, []string{"devstack", "-port", strconv.Itoa(port), "-fusionauth-addr", fmt.Sprintf("127.0.0.1:%d", faPort),
			"-keys-dir", t.TempDir()}, &out, &out)
	}()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("devstack not ready: %v\n%s", err, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("devstack exited: %v\n%s", err, out.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	resp, err := http.Post(base+"/v1/auth/register", "application/json",
		strings.NewReader(`{"email":"dev@example.com","password":"Passw0rd-dev","firstName":"D","lastName":"S"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("register: %v %v", err, resp)
	}
	resp.Body.Close()
	stop()
	if err := <-done; err != nil {
		t.Fatalf("devstack: %v", err)
	}
	for _, want := range []string{"PostgreSQL stopped and removed", "Redis stopped and removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}
