// Package httpapi is the Heimdall HTTP API: NewServer builds the handler with
// every route (routes.go), its middleware and its handlers over explicit
// dependencies.
package httpapi

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdall-io/heimdall-operator/server/internal/fusionauth"
	"github.com/heimdall-io/heimdall-operator/server/internal/store"
	"github.com/heimdall-io/heimdall-operator/server/internal/tokens"
)

// Config is what the HTTP layer needs to know.
type Config struct {
	Issuer                    string
	AccessTTL, RefreshTTL     time.Duration
	RateLimitPerHour          int
	RateLimitAnonymousPerHour int
	CORSAllowedOrigins        []string
	BodyLimit                 int64         // default 1 MiB
	RequestTimeout            time.Duration // default 30s
	ReadyTimeout              time.Duration // per dependency, default 2s
	CacheTTL                  time.Duration // default 5m
	Version                   string
}

// Deps are the explicit dependencies of the server.
type Deps struct {
	Config     Config
	Logger     *slog.Logger
	Store      *store.Store
	Redis      *redis.Client
	FusionAuth *fusionauth.Client
	Keys       *tokens.KeySet
	Now        func() time.Time // default time.Now
}

// Server holds the dependencies shared by the handlers.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store.Store
	redis   *redis.Client
	fa      *fusionauth.Client
	issuer  *tokens.Issuer
	keys    *tokens.KeySet
	metrics *metrics
	now     func() time.Time
	cache   *userCache
	limiter *limiter
}

// NewServer returns the API handler. Each server has its own Prometheus registry.
func NewServer(d Deps) http.Handler {
	return newServer(d).handler()
}

func newServer(d Deps) *Server {
	c := d.Config
	if c.BodyLimit == 0 {
		c.BodyLimit = 1 << 20
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.ReadyTimeout == 0 {
		c.ReadyTimeout = 2 * time.Second
	}
	if c.CacheTTL == 0 {
		c.CacheTTL = 5 * time.Minute
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	m := newMetrics()
	s := &Server{
		cfg: c, log: d.Logger, store: d.Store, redis: d.Redis, fa: d.FusionAuth, keys: d.Keys,
		metrics: m, now: d.Now,
		issuer: &tokens.Issuer{Keys: d.Keys, Issuer: c.Issuer, Audience: c.Issuer, TTL: c.AccessTTL, Now: d.Now},
	}
	s.cache = &userCache{redis: d.Redis, ttl: c.CacheTTL, m: m}
	s.limiter = &limiter{redis: d.Redis, m: m, now: d.Now}
	return s
}
