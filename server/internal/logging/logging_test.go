package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestJSONFieldsAndLevels(t *testing.T) {
	var b bytes.Buffer
	l := New(&b, "warn")
	l.Info("hidden")
	l.Warn("User logged in", "userId", "u1", "password", "hunter2", "refreshToken", "rt_x")
	var m map[string]any
	if err := json.Unmarshal(b.Bytes(), &m); err != nil {
		t.Fatalf("%q: %v", b.String(), err)
	}
	if m["level"] != "warn" || m["message"] != "User logged in" || m["timestamp"] == nil || m["userId"] != "u1" {
		t.Fatalf("fields: %v", m)
	}
	if m["password"] != "[REDACTED]" || m["refreshToken"] != "[REDACTED]" {
		t.Fatalf("secrets not redacted: %v", m)
	}
	if bytes.Contains(b.Bytes(), []byte("hidden")) {
		t.Fatal("LOG_LEVEL not honoured")
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn,
		"warning": slog.LevelWarn, "error": slog.LevelError, "": slog.LevelInfo, "bogus": slog.LevelInfo} {
		if got := ParseLevel(in); got != want {
			t.Errorf("ParseLevel(%q) = %v", in, got)
		}
	}
}
