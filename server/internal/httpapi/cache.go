package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heimdall-io/heimdall-operator/server/internal/store"
)

// userCache caches user profiles (with roles) in Redis. Every Redis failure
// fails open: the caller reads PostgreSQL, and failOpen counts it.
type userCache struct {
	redis *redis.Client
	ttl   time.Duration
	m     *metrics
}

func userKey(id string) string { return "heimdall:user:" + id }

func (c *userCache) get(ctx context.Context, id string) (store.User, bool) {
	b, err := c.redis.Get(ctx, userKey(id)).Bytes()
	if err != nil {
		if !errors.Is(err, redis.Nil) {
			c.m.failOpen.WithLabelValues("cache").Inc()
		}
		c.m.cacheMisses.WithLabelValues("user").Inc()
		return store.User{}, false
	}
	var u store.User
	if json.Unmarshal(b, &u) != nil {
		c.m.cacheMisses.WithLabelValues("user").Inc()
		return store.User{}, false
	}
	c.m.cacheHits.WithLabelValues("user").Inc()
	return u, true
}

func (c *userCache) put(ctx context.Context, u store.User) {
	b, _ := json.Marshal(u)
	if err := c.redis.Set(ctx, userKey(u.ID), b, c.ttl).Err(); err != nil {
		c.m.failOpen.WithLabelValues("cache").Inc()
	}
}

func (c *userCache) drop(ctx context.Context, id string) {
	if err := c.redis.Del(ctx, userKey(id)).Err(); err != nil {
		c.m.failOpen.WithLabelValues("cache").Inc()
	}
}

// limiter is a fixed one-hour window counter per key in Redis.
type limiter struct {
	redis *redis.Client
	m     *metrics
	now   func() time.Time
}

// allow counts one request for key, sets the X-RateLimit-* headers and
// reports whether the request may go on. Redis failures fail open.
func (l *limiter) allow(ctx context.Context, w http.ResponseWriter, key string, limit int) bool {
	now := l.now().Unix()
	window := now - now%3600
	reset := window + 3600
	k := "heimdall:rl:" + key + ":" + strconv.FormatInt(window, 10)
	var incr *redis.IntCmd
	_, err := l.redis.TxPipelined(ctx, func(p redis.Pipeliner) error {
		incr = p.Incr(ctx, k)
		p.ExpireNX(ctx, k, time.Hour+time.Minute)
		return nil
	})
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	if err != nil {
		l.m.failOpen.WithLabelValues("ratelimit").Inc()
		h.Set("X-RateLimit-Remaining", strconv.Itoa(limit))
		return true
	}
	count := int(incr.Val())
	remaining := max(limit-count, 0)
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	if count > limit {
		h.Set("Retry-After", strconv.FormatInt(max(reset-now, 1), 10))
		return false
	}
	return true
}
