// Package rediscli makes the Redis client the server uses.
package rediscli

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// New returns a client with short timeouts and no retries, so a Redis outage
// costs milliseconds per request (callers fail open).
func New(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opt.DialTimeout = 500 * time.Millisecond
	opt.ReadTimeout = 500 * time.Millisecond
	opt.WriteTimeout = 500 * time.Millisecond
	opt.PoolTimeout = time.Second
	opt.MaxRetries = -1
	return redis.NewClient(opt), nil
}
