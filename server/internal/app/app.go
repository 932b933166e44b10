// Package app wires the configuration into the server's dependencies and
// runs the HTTP server with graceful shutdown.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/internal/config"
	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
	"github.com/heimdall-io/heimdall-operator/server/internal/httpapi"
	"github.com/heimdall-io/heimdall-operator/server/internal/rediscli"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

// HTTPConfig maps the environment configuration to the HTTP layer's.
func HTTPConfig(c config.Config, version string) httpapi.Config {
	return httpapi.Config{
		Issuer:                    c.JWTIssuer,
		AccessTTL:                 time.Duration(c.AccessTokenLifetimeSeconds) * time.Second,
		RefreshTTL:                time.Duration(c.RefreshTokenLifetimeSeconds) * time.Second,
		RateLimitPerHour:          c.RateLimitPerHour,
		RateLimitAnonymousPerHour: c.RateLimitAnonymousPerHour,
		CORSAllowedOrigins:        c.CORSAllowedOrigins,
		Version:                   version,
	}
}

// Deps opens every dependency named by c. close releases them.
func Deps(ctx context.Context, c config.Config, logger *slog.Logger, version string) (d httpapi.Deps, closeFn func(), err error) {
	keys, err := tokens.LoadKeySet(c.JWTPrivateKeyPath, c.JWTPublicKeyPath, c.JWTAdditionalPublicKeysDir)
	if err != nil {
		return d, nil, err
	}
	st, err := store.Open(ctx, c.DatabaseURL)
	if err != nil {
		return d, nil, err
	}
	rdb, err := rediscli.New(c.RedisURL)
	if err != nil {
		st.Close()
		return d, nil, err
	}
	fa := fusionauth.New(fusionauth.Options{
		BaseURL: c.FusionAuthURL, APIKey: c.FusionAuthAPIKey, TenantID: c.FusionAuthTenantID,
		ApplicationID: c.FusionAuthApplicationID,
	})
	d = httpapi.Deps{
		Config: HTTPConfig(c, version), Logger: logger, Store: st, Redis: rdb, FusionAuth: fa, Keys: keys,
	}
	return d, func() { _ = rdb.Close(); st.Close() }, nil
}

// Serve runs h on ln until ctx is cancelled, then stops accepting, drains
// in-flight requests (up to drain) and returns.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger, drain time.Duration) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("server listening", "address", ln.Addr().String())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("server stopped")
	return nil
}

// Run builds everything from c and serves on PORT until ctx ends.
func Run(ctx context.Context, c config.Config, logger *slog.Logger, version string) error {
	d, closeDeps, err := Deps(ctx, c, logger, version)
	if err != nil {
		return err
	}
	defer closeDeps()
	ln, err := net.Listen("tcp", ":"+strconv.Itoa(c.Port))
	if err != nil {
		return err
	}
	return Serve(ctx, ln, httpapi.NewServer(d), logger, 25*time.Second)
}
