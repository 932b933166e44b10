package resources

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBackupRestoreRoundTrip runs the CronJob's backup script and the restore Job's script, as the
// builders render them, against a real PostgreSQL (the Debian postgresql package; `make test`
// installs it for the server's tests via server/hack/install-test-deps.sh): a dump restores the
// data it was taken from, drops what came after it, and a bad file or a failing dump leaves the
// database as it was.
func TestBackupRestoreRoundTrip(t *testing.T) {
	pg := startPostgres(t)
	admin := func(sql string) string { return pg.psql(t, "postgres", "postgres", sql) }
	admin("CREATE ROLE heimdall LOGIN PASSWORD 'app-secret'")
	admin("CREATE DATABASE heimdall OWNER heimdall")
	app := func(sql string) string { return pg.psql(t, "heimdall", "heimdall", sql) }
	app(`CREATE TABLE users (id serial PRIMARY KEY, email text UNIQUE NOT NULL);
	     CREATE TABLE schema_migrations (version bigint PRIMARY KEY);
	     INSERT INTO users (email) VALUES ('ada@example.com'), ('bob@example.com');
	     INSERT INTO schema_migrations VALUES (1), (2);`)

	dir := t.TempDir()
	hi := withRestore("heimdall_20251203_054500.sql.gz", "")
	env := []string{"PATH=" + pg.bin + ":" + os.Getenv("PATH"), "PGHOST=127.0.0.1", "PGPORT=" + strconv.Itoa(pg.port),
		"PGDATABASE=heimdall", "PGUSER=heimdall", "PGPASSWORD=app-secret", "PGSSLMODE=disable", "BACKUP_DIR=" + dir, "HOME=" + dir}
	run := func(c []string, extra ...string) (string, error) {
		cmd := exec.Command(c[0], c[1:]...)
		cmd.Env = append(env, extra...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	backup := BackupCronJob(hi, DefaultImages).Spec.JobTemplate.Spec.Template.Spec.Containers[0].Command
	restore := RestoreJob(hi, Inputs{Images: DefaultImages}).Spec.Template.Spec.InitContainers[0].Command

	out, err := run(backup, "JOB_NAME=auth-backup-29412345", "RETENTION_DAYS=30")
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, hi.Spec.Restore.BackupFile)); err != nil {
		t.Fatalf("backup wrote no %s: %v\n%s", hi.Spec.Restore.BackupFile, err, out)
	}

	// Life goes on after the backup: a user leaves, another arrives, a migration adds a table.
	app(`DELETE FROM users WHERE email = 'bob@example.com';
	     INSERT INTO users (email) VALUES ('eve@example.com');
	     CREATE TABLE sessions (id int); INSERT INTO schema_migrations VALUES (3);`)

	if out, err := run(restore, "BACKUP_FILE="+hi.Spec.Restore.BackupFile); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	const state = `SELECT string_agg(email, ',' ORDER BY email) FROM users;
	               SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_migrations;
	               SELECT count(*) FROM pg_tables WHERE schemaname = 'public';`
	want := "ada@example.com,bob@example.com\n1,2\n2"
	if got := app(state); got != want {
		t.Fatalf("after the restore:\n%s\nwant:\n%s", got, want)
	}
	// The restored sequence continues where the dump left it.
	if got := app("INSERT INTO users (email) VALUES ('cy@example.com') RETURNING id"); got != "3" {
		t.Errorf("next id %s, want 3", got)
	}
	before := app(state)

	t.Run("a damaged file changes nothing", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(dir, "heimdall_broken.sql.gz"), []byte("not gzip"), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(restore, "BACKUP_FILE=heimdall_broken.sql.gz"); err == nil {
			t.Fatalf("restore of a damaged file succeeded:\n%s", out)
		}
		if got := app(state); got != before {
			t.Errorf("database changed:\n%s", got)
		}
	})
	t.Run("a dump failing half-way is rolled back", func(t *testing.T) {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		fmt.Fprint(zw, "CREATE TABLE half (id int);\nINSERT INTO nowhere VALUES (1);\n")
		zw.Close()
		if err := os.WriteFile(filepath.Join(dir, "heimdall_half.sql.gz"), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(restore, "BACKUP_FILE=heimdall_half.sql.gz")
		if err == nil || !strings.Contains(out, "nowhere") {
			t.Fatalf("restore should fail on the bad statement: %v\n%s", err, out)
		}
		if got := app(state); got != before {
			t.Errorf("a failed restore left the database changed (users dropped?):\n%s", got)
		}
	})
	t.Run("a missing file says so", func(t *testing.T) {
		out, err := run(restore, "BACKUP_FILE=heimdall_nope.sql.gz")
		if err == nil || !strings.Contains(out, "backup file heimdall_nope.sql.gz not found in the backup volume") {
			t.Fatalf("got %v\n%s", err, out)
		}
	})
	t.Run("a failing pg_dump writes no backup", func(t *testing.T) {
		out, err := run(backup, "JOB_NAME=auth-backup-29412346", "RETENTION_DAYS=30", "PGPASSWORD=wrong")
		if err == nil {
			t.Fatalf("backup with a wrong password succeeded:\n%s", out)
		}
		if _, err := os.Stat(filepath.Join(dir, "heimdall_20251203_054600.sql.gz")); !os.IsNotExist(err) {
			t.Errorf("a failed dump left a file: %v", err)
		}
	})
}

type testPostgres struct {
	bin  string
	port int
}

// startPostgres runs a throw-away PostgreSQL on loopback with password authentication, as the
// unprivileged user postgres when the test runs as root (initdb refuses root).
func startPostgres(t *testing.T) *testPostgres {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL is not installed (initdb not found): run server/hack/install-test-deps.sh")
	}
	bin := filepath.Dir(bins[len(bins)-1])
	base, err := os.MkdirTemp("/tmp", "heimdall-backup-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the user postgres to run PostgreSQL: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	command := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(filepath.Join(bin, name), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
		cmd.Dir = base
		return cmd
	}
	pwfile := filepath.Join(base, "pw")
	if err := os.WriteFile(pwfile, []byte("admin-secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(base, "data")
	if out, err := command("initdb", "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth=scram-sha-256", "--no-sync", "-E", "UTF8").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := command("postgres", "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-k", base, "-c", "fsync=off")
	var logs bytes.Buffer
	srv.Stdout, srv.Stderr = &logs, &logs
	if err := srv.Start(); err != nil {
		t.Fatalf("start postgres: %v", err)
	}
	t.Cleanup(func() {
		_ = srv.Process.Signal(syscall.SIGINT) // fast shutdown
		_ = srv.Wait()
	})
	pg := &testPostgres{bin: bin, port: port}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if exec.Command(filepath.Join(bin, "pg_isready"), "-h", "127.0.0.1", "-p", strconv.Itoa(port)).Run() == nil {
			return pg
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL did not start:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// psql runs sql as user on db and returns the unaligned, tuples-only output.
func (p *testPostgres) psql(t *testing.T, userName, db, sql string) string {
	t.Helper()
	password := map[string]string{"postgres": "admin-secret", "heimdall": "app-secret"}[userName]
	cmd := exec.Command(filepath.Join(p.bin, "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-qtA", "-h", "127.0.0.1", "-p", strconv.Itoa(p.port), "-U", userName, "-d", db, "-c", sql)
	cmd.Env = append(os.Environ(), "PGPASSWORD="+password)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v\n%s", sql, err, out)
	}
	return strings.TrimSpace(string(out))
}
