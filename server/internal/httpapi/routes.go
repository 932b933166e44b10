package httpapi

import (
	"net/http"
	"strings"

	"github.com/rs/cors"
)

// handler wires every route and the middleware around them.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	const (
		public = iota // rate limited per client IP
		authed        // bearer token required; rate limited per user
		open          // health, metrics, keys: no limits
	)
	route := func(pattern string, kind int, h handlerFunc) {
		var hh http.Handler
		switch kind {
		case public:
			hh = s.limited(false, h)
		case authed:
			hh = s.limited(true, h)
		default:
			hh = s.plain(h)
		}
		mux.Handle(pattern, s.named(pattern, hh))
	}

	route("POST /v1/auth/register", public, s.register)
	route("POST /v1/auth/login", public, s.login)
	route("POST /v1/auth/refresh", public, s.refresh)
	route("POST /v1/auth/logout", authed, s.logout)
	route("POST /v1/auth/logout-all", authed, s.logoutAll)
	route("POST /v1/auth/password/change", authed, s.changePassword)
	route("GET /v1/users/me", authed, s.getMe)
	route("PATCH /v1/users/me", authed, s.patchMe)
	route("DELETE /v1/users/me", authed, s.deleteMe)
	route("GET /v1/oauth/.well-known/jwks.json", open, s.jwks)
	route("GET /v1/.well-known/openid-configuration", open, s.discovery)
	route("GET /health", open, s.health)
	route("GET /health/live", open, s.live)
	route("GET /health/ready", open, s.ready)
	mux.Handle("GET /metrics", s.named("GET /metrics", s.metrics.handler()))
	mux.Handle("/", s.named("unmatched", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, notFoundErr)
	})))

	c := cors.New(cors.Options{
		AllowedOrigins: s.cfg.CORSAllowedOrigins,
		AllowedMethods: []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowedHeaders: []string{"Authorization", "Content-Type", "X-Request-ID", "X-Tenant-ID"},
		ExposedHeaders: []string{"X-Request-ID", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
		MaxAge:         600,
	})
	return s.requestID(s.observe(s.recovery(c.Handler(mux))))
}

func isAPIPath(p string) bool { return strings.HasPrefix(p, "/v1/") }
