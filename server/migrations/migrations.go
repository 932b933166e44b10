// Package migrations embeds the SQL migrations and applies them.
//
// Files are NNNN_name.up.sql / NNNN_name.down.sql. Applied versions are kept
// in schema_migrations; each migration runs in its own transaction under a
// PostgreSQL advisory lock so concurrent runners (several replicas) are safe.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

//go:embed *.sql
var files embed.FS

// Migration is one version with its up and down SQL.
type Migration struct {
	Version  int
	Name     string
	Up, Down string
}

// Status of one migration.
type Status struct {
	Migration
	AppliedAt *time.Time
}

const lockID = 7263548812

// All returns the embedded migrations in version order.
func All() ([]Migration, error) {
	entries, err := fs.Glob(files, "*.sql")
	if err != nil {
		return nil, err
	}
	byVersion := map[int]*Migration{}
	for _, name := range entries {
		base, dir, ok := strings.Cut(strings.TrimSuffix(name, ".sql"), ".")
		if !ok || (dir != "up" && dir != "down") {
			return nil, fmt.Errorf("migration %s: want NNNN_name.up.sql or .down.sql", name)
		}
		num, label, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: bad version", name)
		}
		b, err := files.ReadFile(name)
		if err != nil {
			return nil, err
		}
		m := byVersion[v]
		if m == nil {
			m = &Migration{Version: v, Name: label}
			byVersion[v] = m
		}
		if dir == "up" {
			m.Up = string(b)
		} else {
			m.Down = string(b)
		}
	}
	out := make([]Migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// Latest is the highest embedded version: the schema this binary needs.
func Latest() (int, error) {
	all, err := All()
	if err != nil || len(all) == 0 {
		return 0, err
	}
	return all[len(all)-1].Version, nil
}

func prepare(ctx context.Context, conn *pgx.Conn) (map[int]time.Time, error) {
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version bigint PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, `SELECT version, applied_at FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	applied := map[int]time.Time{}
	for rows.Next() {
		var v int
		var t time.Time
		if err := rows.Scan(&v, &t); err != nil {
			return nil, err
		}
		applied[v] = t
	}
	return applied, rows.Err()
}

func withLock(ctx context.Context, conn *pgx.Conn, fn func() error) error {
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockID) //nolint:errcheck
	return fn()
}

// Up applies every pending migration and returns the versions applied.
func Up(ctx context.Context, conn *pgx.Conn) ([]int, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var done []int
	err = withLock(ctx, conn, func() error {
		applied, err := prepare(ctx, conn)
		if err != nil {
			return err
		}
		for _, m := range all {
			if _, ok := applied[m.Version]; ok {
				continue
			}
			if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.Up); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, m.Version)
				return err
			}); err != nil {
				return fmt.Errorf("migration %04d_%s up: %w", m.Version, m.Name, err)
			}
			done = append(done, m.Version)
		}
		return nil
	})
	return done, err
}

// Down reverts the latest applied migration (steps times).
func Down(ctx context.Context, conn *pgx.Conn, steps int) ([]int, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var done []int
	err = withLock(ctx, conn, func() error {
		applied, err := prepare(ctx, conn)
		if err != nil {
			return err
		}
		for i := len(all) - 1; i >= 0 && len(done) < steps; i-- {
			m := all[i]
			if _, ok := applied[m.Version]; !ok {
				continue
			}
			if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.Down); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.Version)
				return err
			}); err != nil {
				return fmt.Errorf("migration %04d_%s down: %w", m.Version, m.Name, err)
			}
			done = append(done, m.Version)
		}
		return nil
	})
	return done, err
}

// StatusOf lists every migration with its applied time (nil when pending).
func StatusOf(ctx context.Context, conn *pgx.Conn) ([]Status, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	applied, err := prepare(ctx, conn)
	if err != nil {
		return nil, err
	}
	out := make([]Status, 0, len(all))
	for _, m := range all {
		s := Status{Migration: m}
		if t, ok := applied[m.Version]; ok {
			s.AppliedAt = &t
		}
		out = append(out, s)
	}
	return out, nil
}
