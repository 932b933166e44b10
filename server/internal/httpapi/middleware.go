package httpapi

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/heimdall-io/heimdall-operator/server/internal/apperr"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

type ctxKey struct{}

// reqInfo is per-request state shared by the middleware, the handlers and the logs.
type reqInfo struct {
	RequestID string
	Route     string
	IP        string
	UserAgent string
	UserID    string
	TenantID  string
	ErrorCode string
	Claims    *tokens.Claims
}

func (ri *reqInfo) attrs() []any {
	a := []any{"requestId", ri.RequestID, "ipAddress", ri.IP, "userAgent", ri.UserAgent}
	if ri.UserID != "" {
		a = append(a, "userId", ri.UserID)
	}
	if ri.TenantID != "" {
		a = append(a, "tenantId", ri.TenantID)
	}
	return a
}

func info(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(ctxKey{}).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

// validRequestID accepts ≤128 printable ASCII characters without spaces.
func validRequestID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// requestID reuses a sane incoming X-Request-ID or makes a UUID, and starts
// the per-request state.
func (s *Server) requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set("X-Request-ID", id)
		ri := &reqInfo{RequestID: id, Route: "unmatched", IP: clientIP(r), UserAgent: r.UserAgent()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, ri)))
	})
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (sw *statusWriter) WriteHeader(code int) {
	if !sw.wrote {
		sw.status, sw.wrote = code, true
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if !sw.wrote {
		sw.status, sw.wrote = http.StatusOK, true
	}
	return sw.ResponseWriter.Write(b)
}

func (sw *statusWriter) Unwrap() http.ResponseWriter { return sw.ResponseWriter }

// observe logs every request and records the HTTP metrics by route pattern.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		ri := info(r.Context())
		d := time.Since(start)
		status := strconv.Itoa(sw.status)
		s.metrics.httpRequests.WithLabelValues(ri.Route, r.Method, status).Inc()
		s.metrics.httpDuration.WithLabelValues(ri.Route, r.Method, status).Observe(d.Seconds())
		level := s.log.Info
		if !isAPIPath(r.URL.Path) {
			level = s.log.Debug
		}
		args := append(ri.attrs(), "method", r.Method, "route", ri.Route, "status", sw.status, "durationMs", d.Milliseconds())
		if ri.ErrorCode != "" {
			args = append(args, "errorCode", ri.ErrorCode)
		}
		level("request completed", args...)
	})
}

// recovery turns a panic into a 500 INTERNAL_ERROR; the stack goes only to the logs.
func (s *Server) recovery(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", append(info(r.Context()).attrs(), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))...)
				s.writeError(w, r, apperr.New(apperr.CodeInternal, "internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// named records the route pattern for metrics and logs.
func (s *Server) named(pattern string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).Route = pattern
		next.ServeHTTP(w, r)
	})
}

// plain runs h with the per-request timeout and the body rules.
func (s *Server) plain(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		if err := s.checkBody(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// limited authenticates a bearer token when present (required when
// needAuth), applies the per-user or per-IP rate limit, then runs h.
func (s *Server) limited(needAuth bool, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.RequestTimeout)
		defer cancel()
		r = r.WithContext(ctx)
		ri := info(ctx)
		if raw, ok := tokens.BearerToken(r.Header.Get("Authorization")); ok {
			if c, err := s.issuer.Verify(raw); err == nil {
				ri.Claims, ri.UserID, ri.TenantID = c, c.Subject, c.TenantID
			} else if needAuth {
				s.writeError(w, r, apperr.Wrap(apperr.CodeUnauthorized, "invalid or expired access token", err))
				return
			}
		}
		if needAuth && ri.Claims == nil {
			s.writeError(w, r, apperr.New(apperr.CodeUnauthorized, "missing bearer access token"))
			return
		}
		key, limit := "ip:"+ri.IP, s.cfg.RateLimitAnonymousPerHour
		if ri.Claims != nil {
			key, limit = "user:"+ri.UserID, s.cfg.RateLimitPerHour
		}
		if !s.limiter.allow(ctx, w, key, limit) {
			s.writeError(w, r, apperr.New(apperr.CodeRateLimited, "rate limit exceeded"))
			return
		}
		if err := s.checkBody(w, r); err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// checkBody enforces the 1 MiB limit (413) and JSON-only bodies (415).
func (s *Server) checkBody(w http.ResponseWriter, r *http.Request) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	if r.ContentLength > s.cfg.BodyLimit {
		return apperr.New(apperr.CodePayloadTooLarge, "request body too large")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.CodeUnsupportedMedia, "request body must be application/json")
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.BodyLimit)
	return nil
}
