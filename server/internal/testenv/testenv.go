// Package testenv starts real, throw-away PostgreSQL and Redis servers on
// loopback for integration tests and the local dev stack. Data lives in temp
// directories that Stop removes. When running as root, PostgreSQL is run as
// an unprivileged user (postgres, else nobody) because it refuses root.
package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// FreePort asks the kernel for a free loopback TCP port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PostgresBinDir finds initdb/postgres: pg_config --bindir, then
// /usr/lib/postgresql/*/bin (newest), then PATH.
func PostgresBinDir() (string, error) {
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		d := string(bytes.TrimSpace(out))
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL binaries (initdb, postgres) not found: run server/hack/install-test-deps.sh")
}

// Postgres is a running throw-away PostgreSQL server.
type Postgres struct {
	Port    int
	baseDir string
	dataDir string
	binDir  string
	runAs   *user.User
	logf    *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan error
}

// URL returns a connection URL for database db.
func (p *Postgres) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, db)
}

func unprivilegedUser() (*user.User, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		if u, err := user.Lookup(name); err == nil {
			return u, nil
		}
	}
	return nil, errors.New("running as root and neither user postgres nor nobody exists to run PostgreSQL")
}

func (p *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(p.binDir, name), args...)
	if p.runAs != nil {
		uid, _ := strconv.Atoi(p.runAs.Uid)
		gid, _ := strconv.Atoi(p.runAs.Gid)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.Dir = p.baseDir
	return cmd
}

// StartPostgres runs initdb in a temp dir and starts postgres on a free port.
func StartPostgres(ctx context.Context) (*Postgres, error) {
	bin, err := PostgresBinDir()
	if err != nil {
		return nil, err
	}
	runAs, err := unprivilegedUser()
	if err != nil {
		return nil, err
	}
	parent := os.TempDir()
	if runAs != nil && !traversableByOthers(parent) {
		parent = "/tmp" // the unprivileged user must reach the data directory
	}
	base, err := os.MkdirTemp(parent, "heimdall-pg-")
	if err != nil {
		return nil, err
	}
	p := &Postgres{baseDir: base, dataDir: filepath.Join(base, "data"), binDir: bin, runAs: runAs}
	if err := p.init(); err != nil {
		os.RemoveAll(base)
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		p.cleanup()
		return nil, err
	}
	p.Port = port
	if err := p.Start(ctx); err != nil {
		p.cleanup()
		return nil, err
	}
	return p, nil
}

// traversableByOthers reports whether every directory from / to dir has the
// others-execute bit, so another user can reach entries below dir.
func traversableByOthers(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		st, err := os.Stat(dir)
		if err != nil || st.Mode().Perm()&0o001 == 0 {
			return false
		}
		next := filepath.Dir(dir)
		if next == dir {
			return true
		}
		dir = next
	}
}

func (p *Postgres) init() error {
	if err := os.Chmod(p.baseDir, 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(p.dataDir, 0o700); err != nil {
		return err
	}
	if p.runAs != nil {
		uid, _ := strconv.Atoi(p.runAs.Uid)
		gid, _ := strconv.Atoi(p.runAs.Gid)
		if err := os.Chown(p.dataDir, uid, gid); err != nil {
			return err
		}
	}
	out, err := p.command("initdb", "-D", p.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions").CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb: %v\n%s", err, out)
	}
	lf, err := os.Create(filepath.Join(p.baseDir, "postgres.log"))
	if err != nil {
		return err
	}
	p.logf = lf
	return nil
}

// Start (re)starts the server on its port and waits until it accepts connections.
func (p *Postgres) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		return errors.New("postgres already running")
	}
	cmd := p.command("postgres", "-D", p.dataDir, "-p", strconv.Itoa(p.Port), "-h", "127.0.0.1", "-k", "",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200", "-c", "shared_buffers=32MB")
	cmd.Stdout, cmd.Stderr = p.logf, p.logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	p.cmd = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, p.URL("postgres"))
		cancel()
		if err == nil {
			conn.Close(ctx)
			p.done = exited
			return nil
		}
		select {
		case werr := <-exited:
			p.cmd = nil
			log, _ := os.ReadFile(p.logf.Name())
			return fmt.Errorf("postgres exited: %v\n%s", werr, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(b []byte) []byte {
	if len(b) > 4000 {
		return b[len(b)-4000:]
	}
	return b
}

// Stop shuts the server down (fast mode) and waits for it to exit; data is kept.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd = nil
	return nil
}

// Close stops the server and removes its data.
func (p *Postgres) Close() error {
	err := p.Stop()
	p.cleanup()
	return err
}

func (p *Postgres) cleanup() {
	if p.logf != nil {
		p.logf.Close()
	}
	os.RemoveAll(p.baseDir)
}

// CreateDatabase creates database name and returns its URL.
func (p *Postgres) CreateDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	return p.URL(name), nil
}

// Redis is a running throw-away Redis server.
type Redis struct {
	Port int
	dir  string
	cmd  *exec.Cmd
	done chan error
	mu   sync.Mutex
}

// URL is the redis:// URL of db 0.
func (r *Redis) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.Port) }

// StartRedis starts redis-server on a free loopback port without persistence.
func StartRedis(ctx context.Context) (*Redis, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, errors.New("redis-server not found: run server/hack/install-test-deps.sh")
	}
	dir, err := os.MkdirTemp("", "heimdall-redis-")
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	r := &Redis{Port: port, dir: dir}
	if err := r.Start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return r, nil
}

// Start (re)starts redis-server on its port.
func (r *Redis) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return errors.New("redis already running")
	}
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(r.Port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--protected-mode", "no",
		"--logfile", filepath.Join(r.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting redis-server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	r.cmd, r.done = cmd, done
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", r.Port)})
	defer c.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := c.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case werr := <-done:
			r.cmd = nil
			log, _ := os.ReadFile(filepath.Join(r.dir, "redis.log"))
			return fmt.Errorf("redis-server exited: %v\n%s", werr, tail(log))
		default:
		}
		if time.Now().After(deadline) {
			return errors.New("redis-server did not answer PING within 15s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop stops redis-server.
func (r *Redis) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
	r.cmd = nil
	return nil
}

// Close stops redis-server and removes its directory.
func (r *Redis) Close() error {
	err := r.Stop()
	os.RemoveAll(r.dir)
	return err
}
