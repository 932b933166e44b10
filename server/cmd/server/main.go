// Command server runs the Heimdall auth API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/heimdall-io/heimdall-operator/server/internal/app"
	"github.com/heimdall-io/heimdall-operator/server/internal/config"
	"github.com/heimdall-io/heimdall-operator/server/internal/logging"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "heimdall-server:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	envFile := fs.String("env-file", ".env", "optional KEY=VALUE file; real environment variables win")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, version)
		return nil
	}
	getenv, err := config.WithDotEnv(getenv, *envFile)
	if err != nil {
		return err
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		var p config.Problems
		if errors.As(err, &p) {
			return fmt.Errorf("%d configuration problem(s):\n  - %s", len(p), joinLines(p))
		}
		return err
	}
	logger := logging.New(stdout, cfg.LogLevel)
	logger.Info("starting heimdall-server", "version", version, "env", cfg.Env, "port", cfg.Port)
	return app.Run(ctx, cfg, logger, version)
}

func joinLines(p []string) string {
	s := ""
	for i, l := range p {
		if i > 0 {
			s += "\n  - "
		}
		s += l
	}
	return s
}
