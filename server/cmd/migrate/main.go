// Command migrate applies Heimdall's embedded SQL migrations:
//
//	migrate up | down [N] | status
//
// It reads DATABASE_URL (and a .env file in the working directory).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/jackc/pgx/v5"

	"github.com/heimdall-io/heimdall-operator/server/internal/config"
	"github.com/heimdall-io/heimdall-operator/server/migrations"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "heimdall-migrate:", err)
		os.Exit(1)
	}
}

const usage = "usage: migrate up | down [N] | status | version"

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprintln(stderr, usage)
		return errors.New("missing command")
	}
	if args[1] == "version" {
		fmt.Fprintln(stdout, version)
		return nil
	}
	getenv, err := config.WithDotEnv(getenv, ".env")
	if err != nil {
		return err
	}
	url := getenv("DATABASE_URL")
	if url == "" {
		return errors.New("DATABASE_URL: required but not set")
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connecting to DATABASE_URL: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	switch args[1] {
	case "up":
		done, err := migrations.Up(ctx, conn)
		for _, v := range done {
			fmt.Fprintf(stdout, "applied %04d\n", v)
		}
		if err == nil && len(done) == 0 {
			fmt.Fprintln(stdout, "no pending migrations")
		}
		return err
	case "down":
		steps := 1
		if len(args) > 2 {
			if steps, err = strconv.Atoi(args[2]); err != nil || steps < 1 {
				return fmt.Errorf("down: N must be a positive integer")
			}
		}
		done, err := migrations.Down(ctx, conn, steps)
		for _, v := range done {
			fmt.Fprintf(stdout, "reverted %04d\n", v)
		}
		if err == nil && len(done) == 0 {
			fmt.Fprintln(stdout, "nothing to revert")
		}
		return err
	case "status":
		st, err := migrations.StatusOf(ctx, conn)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED AT")
		for _, s := range st {
			at := "pending"
			if s.AppliedAt != nil {
				at = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(tw, "%04d\t%s\t%s\n", s.Version, s.Name, at)
		}
		return tw.Flush()
	}
	fmt.Fprintln(stderr, usage)
	return fmt.Errorf("unknown command %q", args[1])
}
