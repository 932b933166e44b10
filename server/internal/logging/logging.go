// Package logging builds the JSON slog logger with the field names of the
// seed's log sample: level, timestamp, message, userId, tenantId, ipAddress,
// userAgent, requestId.
package logging

import (
	"io"
	"log/slog"
	"strings"
	"time"
)

// ParseLevel maps LOG_LEVEL values to slog levels (unknown → info).
func ParseLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// redactedKeys are attribute keys whose values never reach the logs.
var redactedKeys = map[string]bool{
	"password": true, "currentpassword": true, "newpassword": true,
	"token": true, "accesstoken": true, "refreshtoken": true, "authorization": true,
	"apikey": true, "privatekey": true, "secret": true,
}

// ReplaceAttr renames slog's built-in keys to the seed's names, lowercases the
// level and redacts secrets by key.
func ReplaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			a.Key = "timestamp"
			if t, ok := a.Value.Any().(time.Time); ok {
				a.Value = slog.StringValue(t.UTC().Format(time.RFC3339Nano))
			}
			return a
		case slog.MessageKey:
			a.Key = "message"
			return a
		case slog.LevelKey:
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
			return a
		}
	}
	if redactedKeys[strings.ToLower(a.Key)] {
		a.Value = slog.StringValue("[REDACTED]")
	}
	return a
}

// New returns a JSON logger writing to w at the given LOG_LEVEL.
func New(w io.Writer, level string) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       ParseLevel(level),
		ReplaceAttr: ReplaceAttr,
	}))
}
