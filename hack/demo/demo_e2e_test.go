//go:build e2e

package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/heimdall-io/heimdall-operator/hack/simcluster"
)

// TestMain lets the test binary act as the demo command itself (DEMO_CHILD=1), so the test
// below can drive a real demo process with a real signal.
func TestMain(m *testing.M) {
	if os.Getenv("DEMO_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestDemoReadyThenCtrlC runs `make demo` as a user does: it must reach Ready=True, wait, and on
// SIGINT tear everything down. This test process is made a child subreaper, so anything the demo
// leaves behind becomes our child and fails the test.
func TestDemoReadyThenCtrlC(t *testing.T) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Fatal("KUBEBUILDER_ASSETS is not set: run `make test-e2e`")
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("become subreaper: %v", err)
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-namespace", "demo-signal")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DEMO_CHILD=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen strings.Builder
	lines := bufio.NewScanner(out)
	waiting := false
	for !waiting && lines.Scan() {
		seen.WriteString(lines.Text() + "\n")
		waiting = strings.HasPrefix(lines.Text(), "Press Ctrl-C")
	}
	if !waiting {
		_ = cmd.Process.Kill()
		t.Fatalf("demo did not reach its prompt:\n%s", seen.String())
	}
	t.Logf("demo ready and waiting after %s", time.Since(start).Round(100*time.Millisecond))
	for _, want := range []string{"Ready=True (AllComponentsReady)", "deployment.apps/heimdall ", "statefulset.apps/heimdall-postgres"} {
		if !strings.Contains(seen.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, seen.String())
		}
	}

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	go func() {
		for lines.Scan() {
			seen.WriteString(lines.Text() + "\n")
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v after Ctrl-C", err)
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("demo did not stop within 60s of Ctrl-C")
	}
	// Orphans of the demo were re-parented to this subreaper; none may be alive.
	left, err := simcluster.ChildPIDs()
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL) // do not leak them past the test
		}
		t.Fatalf("processes survived the demo's teardown: %v", left)
	}
}
