package server_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Dockerfile.server must build exactly as `make build` does.
func TestDockerfileBuildsLikeMakefile(t *testing.T) {
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	df, err := os.ReadFile("../Dockerfile.server")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`CGO_ENABLED=0 .*go build .*`)
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "$(GO)", "go")
		s = strings.ReplaceAll(s, "$(VERSION)", "VERSION")
		return strings.TrimSpace(strings.ReplaceAll(s, "${VERSION}", "VERSION"))
	}
	var want, got []string
	for _, l := range re.FindAllString(norm(string(mk)), -1) {
		want = append(want, norm(l))
	}
	for _, l := range re.FindAllString(norm(string(df)), -1) {
		got = append(got, norm(l))
	}
	if len(want) != 2 || strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Fatalf("Makefile build:\n%s\nDockerfile.server build:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
	}
	for _, must := range []string{"FROM golang:1.26 AS build", "FROM gcr.io/distroless/static-debian12:nonroot", "USER 65532", "/heimdall-migrate", "org.opencontainers.image."} {
		if !strings.Contains(string(df), must) {
			t.Errorf("Dockerfile.server lacks %q", must)
		}
	}
}

// The image is built with server/ as context, so nothing may refer to server/ paths.
func TestDockerfileUsesServerContext(t *testing.T) {
	df, _ := os.ReadFile("../Dockerfile.server")
	if strings.Contains(string(df), "COPY server/") {
		t.Fatal("Dockerfile.server copies server/ paths but its context is server/")
	}
	for _, f := range []string{"go.mod", "go.sum", "cmd/server/main.go", "cmd/migrate/main.go", "migrations/0001_init.up.sql"} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s missing from the build context: %v", f, err)
		}
	}
}
