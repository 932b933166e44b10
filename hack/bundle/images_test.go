package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

// pinned: a tag other than latest, or a digest.
func pinned(image string) bool {
	if strings.Contains(image, "@sha256:") {
		return true
	}
	i := strings.LastIndex(image, ":")
	return i > strings.LastIndex(image, "/") && image[i+1:] != "" && image[i+1:] != "latest"
}

func base64Of(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func TestPinned(t *testing.T) {
	for image, want := range map[string]bool{
		"ghcr.io/heimdall-io/heimdall-operator:v0.1.0": true,
		"docker.io/library/postgres@sha256:0123abcd":   true,
		"docker.io/library/redis:latest":               false,
		"docker.io/library/redis":                      false,
		"localhost:5000/redis":                         false,
		"localhost:5000/redis:7":                       true,
	} {
		if got := pinned(image); got != want {
			t.Errorf("pinned(%q) = %v, want %v", image, got, want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	for in, want := range map[string]string{
		"pvcRetentionPolicy": "PVC Retention Policy",
		"corsAllowedOrigins": "CORS Allowed Origins",
		"version":            "Version",
		"jwt":                "JWT",
		"podTemplate":        "Pod Template",
	} {
		if got := displayName(in); got != want {
			t.Errorf("displayName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFirstSentence(t *testing.T) {
	for in, want := range map[string]string{
		"Version is the tag. It defaults to x.":  "Version is the tag.",
		"One line\nwrapped  here":                "One line wrapped here",
		"Image overrides (repo[:tag][@digest]).": "Image overrides (repo[:tag][@digest]).",
		strings.Repeat("é", 250):                 strings.Repeat("é", 197) + "...",
	} {
		if got := firstSentence(in); got != want {
			t.Errorf("firstSentence(%q) = %q, want %q", in, got, want)
		}
	}
}
