// Command fusionauth-fake serves the in-memory FusionAuth-compatible fake
// (package fusionauthfake) for local demos and end-to-end tests. It is NOT
// FusionAuth.
//
//	fusionauth-fake -addr 127.0.0.1:9011 -api-key KEY [-lock-after N]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heimdall-io/heimdall-operator/server/fusionauthfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fusionauth-fake:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9011", "listen address")
	key := fs.String("api-key", getenv("FUSIONAUTH_API_KEY"), "API key expected in the Authorization header (default $FUSIONAUTH_API_KEY)")
	lockAfter := fs.Int("lock-after", 0, "lock an account after N failed logins (0: never)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *key == "" {
		return errors.New("an API key is required (-api-key or FUSIONAUTH_API_KEY)")
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           fusionauthfake.New(fusionauthfake.Options{APIKey: *key, LockAfter: *lockAfter}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	fmt.Fprintf(stdout, "fusionauth-fake (not FusionAuth) listening on http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
