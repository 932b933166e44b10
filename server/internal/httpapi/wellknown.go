package httpapi

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"
)

func (s *Server) jwks(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONNoStore(w, s.keys.JWKS())
	return nil
}

func writeJSONNoStore(w http.ResponseWriter, v any) {
	h := w.Header()
	if h.Get("Content-Type") == "" {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	_ = jsonEncode(w, v)
}

// discovery advertises only endpoints that exist (Tier 1).
func (s *Server) discovery(w http.ResponseWriter, r *http.Request) error {
	base := strings.TrimRight(s.cfg.Issuer, "/")
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSONNoStore(w, map[string]any{
		"issuer":                                s.cfg.Issuer,
		"jwks_uri":                              base + "/v1/oauth/.well-known/jwks.json",
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "email", "tenantId", "roles"},
	})
	return nil
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	writeRaw(w, http.StatusOK, map[string]string{
		"status": "healthy", "timestamp": s.now().UTC().Format(time.RFC3339), "version": s.cfg.Version,
	})
	return nil
}

func (s *Server) live(w http.ResponseWriter, r *http.Request) error {
	writeRaw(w, http.StatusOK, map[string]string{"status": "alive", "timestamp": s.now().UTC().Format(time.RFC3339)})
	return nil
}

// ready checks PostgreSQL, Redis and FusionAuth in parallel, each with a short timeout.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	checks := map[string]func(context.Context) error{
		// Reachable is not enough: a pod whose schema is not migrated yet (first install,
		// restored data) would answer errors, so it is not ready until the schema is current.
		"postgres": func(ctx context.Context) error {
			if err := s.store.Ping(ctx); err != nil {
				return err
			}
			return s.store.SchemaCurrent(ctx)
		},
		"redis":      func(ctx context.Context) error { return s.redis.Ping(ctx).Err() },
		"fusionauth": s.fa.Health,
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := map[string]string{}
	var failing []string
	for name, check := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
			defer cancel()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				results[name] = "unavailable"
				failing = append(failing, name)
				s.log.Warn("readiness check failed", "dependency", name, "error", err.Error())
				return
			}
			results[name] = "ok"
		})
	}
	wg.Wait()
	body := map[string]any{"status": "ready", "checks": results, "timestamp": s.now().UTC().Format(time.RFC3339)}
	status := http.StatusOK
	if len(failing) > 0 {
		sortStrings(failing)
		status = http.StatusServiceUnavailable
		body["status"] = "unavailable"
		body["failing"] = failing
		if len(failing) == 1 && failing[0] == "redis" {
			body["detail"] = "redis is down: rate limits and cache fail open (see heimdall_redis_fail_open_total)"
		}
	}
	writeRaw(w, status, body)
	return nil
}
