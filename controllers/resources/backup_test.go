package resources

import (
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// withBackup is a defaulted instance with spec.backup as the schema defaults it.
func withBackup() *heimdallv1.HeimdallInstance {
	hi := defaulted()
	hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true, Schedule: "0 2 * * *", RetentionDays: 30,
		Storage: heimdallv1.StorageSpec{Size: defaulted().Spec.Postgres.Managed.Storage.Size, StorageClassName: ptr.To("fast")}}
	return hi
}

func envByName(env []corev1.EnvVar) map[string]string {
	m := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			m[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil:
			m[e.Name] = "field:" + e.ValueFrom.FieldRef.FieldPath
		default:
			m[e.Name] = e.Value
		}
	}
	return m
}

func TestBackupCronJob(t *testing.T) {
	external := withBackup()
	external.Spec.Postgres = heimdallv1.PostgresSpec{External: &heimdallv1.ExternalPostgres{Host: "db.rds", Port: 6432, Database: "auth",
		SSLMode: "verify-full", CredentialsSecretRef: heimdallv1.CredentialsSecretRef{Name: "rds", UsernameKey: "user", PasswordKey: "pass"}}}
	external.Spec.Backup.RetentionDays = 7
	external.Spec.Backup.Schedule = "@hourly"
	pinned := withBackup()
	pinned.Spec.Backup.Image = "mirror.local/postgres:16.4"
	managedOverride := withBackup()
	managedOverride.Spec.Postgres.Managed.Image = "mirror.local/pg:14.12"

	tests := []struct {
		name      string
		hi        *heimdallv1.HeimdallInstance
		image     string
		schedule  string
		retention string
		env       map[string]string
	}{
		{"managed: the server's credential Secret and image", withBackup(), "docker.io/library/postgres:14", "0 2 * * *", "30", map[string]string{
			"PGHOST": "auth-postgres", "PGPORT": "5432", "PGDATABASE": "heimdall", "PGSSLMODE": "disable",
			"PGUSER": "secret:auth-postgres/username", "PGPASSWORD": "secret:auth-postgres/password"}},
		{"external: the user's credentials Secret", external, "docker.io/library/postgres:14", "@hourly", "7", map[string]string{
			"PGHOST": "db.rds", "PGPORT": "6432", "PGDATABASE": "auth", "PGSSLMODE": "verify-full",
			"PGUSER": "secret:rds/user", "PGPASSWORD": "secret:rds/pass"}},
		{"spec.backup.image wins", pinned, "mirror.local/postgres:16.4", "0 2 * * *", "30", nil},
		{"the managed server's image override", managedOverride, "mirror.local/pg:14.12", "0 2 * * *", "30", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := BackupCronJob(tt.hi, DefaultImages)
			if cj.Name != "auth-backup" || cj.Spec.Schedule != tt.schedule {
				t.Errorf("name %q schedule %q", cj.Name, cj.Spec.Schedule)
			}
			if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
				t.Errorf("concurrency policy %q, want Forbid", cj.Spec.ConcurrencyPolicy)
			}
			if *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 3 || *cj.Spec.JobTemplate.Spec.BackoffLimit != 2 {
				t.Errorf("history limits %d/%d, backoff %d", *cj.Spec.SuccessfulJobsHistoryLimit, *cj.Spec.FailedJobsHistoryLimit, *cj.Spec.JobTemplate.Spec.BackoffLimit)
			}
			pod := cj.Spec.JobTemplate.Spec.Template.Spec
			if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "auth-backup" || ptr.Deref(pod.AutomountServiceAccountToken, true) {
				t.Errorf("restart %q, service account %q, token %v", pod.RestartPolicy, pod.ServiceAccountName, pod.AutomountServiceAccountToken)
			}
			if !*pod.SecurityContext.RunAsNonRoot || *pod.SecurityContext.RunAsUser != postgresUID || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod security context %+v", pod.SecurityContext)
			}
			c := pod.Containers[0]
			if c.Image != tt.image {
				t.Errorf("image %q, want %q", c.Image, tt.image)
			}
			if *c.SecurityContext.AllowPrivilegeEscalation || !*c.SecurityContext.ReadOnlyRootFilesystem || c.SecurityContext.Capabilities.Drop[0] != "ALL" {
				t.Errorf("container security context %+v", c.SecurityContext)
			}
			script := strings.Join(c.Command, " ")
			for _, want := range []string{"/bin/bash -c", "set -euo pipefail", "pg_dump --no-owner --no-privileges | gzip", `heimdall_${stamp}.sql.gz`,
				`find "$BACKUP_DIR" -maxdepth 1 -name 'heimdall_*.sql.gz' -mtime "+${RETENTION_DAYS}"`} {
				if !strings.Contains(script, want) {
					t.Errorf("command lacks %q:\n%s", want, script)
				}
			}
			env := envByName(c.Env)
			for k, v := range tt.env {
				if env[k] != v {
					t.Errorf("env %s = %q, want %q", k, env[k], v)
				}
			}
			if env["RETENTION_DAYS"] != tt.retention || env["BACKUP_DIR"] != "/backups" || env["JOB_NAME"] != "field:metadata.labels['batch.kubernetes.io/job-name']" {
				t.Errorf("env %v", env)
			}
			for _, e := range c.Env {
				if e.Name == "PGPASSWORD" && e.Value != "" {
					t.Error("the password must come from the Secret, not the spec")
				}
			}
			if pod.Volumes[0].PersistentVolumeClaim.ClaimName != "auth-backups" || c.VolumeMounts[0].MountPath != "/backups" {
				t.Errorf("volumes %+v mounts %+v", pod.Volumes, c.VolumeMounts)
			}
		})
	}
}

func TestBackupPVC(t *testing.T) {
	pvc := BackupPVC(withBackup())
	if pvc.Name != "auth-backups" || *pvc.Spec.StorageClassName != "fast" || pvc.Spec.Resources.Requests.Storage().String() != "50Gi" {
		t.Errorf("pvc %s class %v size %s", pvc.Name, pvc.Spec.StorageClassName, pvc.Spec.Resources.Requests.Storage())
	}
	if len(pvc.OwnerReferences) != 0 {
		t.Error("the builder sets no owner; the reconciler does per spec.pvcRetentionPolicy")
	}
}

func TestBackupFileForJob(t *testing.T) {
	tests := []struct {
		job  string
		file string
		ok   bool
	}{
		// 29412345 minutes after the epoch is 2025-12-03 05:45 UTC (date -u -d @1764740700).
		{"auth-backup-29412345", "heimdall_20251203_054500.sql.gz", true},
		{"my-instance-backup-29413080", "heimdall_20251203_180000.sql.gz", true},
		{"manual-run", "", false},
		{"auth-backup-now-1", "", false},
		{"29412345", "", false},
		{"auth-backup-2941234x", "", false},
	}
	for _, tt := range tests {
		file, at, ok := BackupFileForJob(tt.job)
		if file != tt.file || ok != tt.ok {
			t.Errorf("%s: got %q %v, want %q %v", tt.job, file, ok, tt.file, tt.ok)
		}
		if ok && at.Format("20060102_150405") != strings.TrimSuffix(strings.TrimPrefix(file, "heimdall_"), ".sql.gz") {
			t.Errorf("%s: time %v does not match %s", tt.job, at, file)
		}
	}
}

// TestBackupScript runs the CronJob's script with bash, gzip, date and find from this machine and a
// pg_dump stand-in on PATH, to check what the script does with files: the name the operator
// predicts, a gzip of the dump, retention, and no file at all when pg_dump fails.
func TestBackupScript(t *testing.T) {
	for _, tool := range []string{"bash", "gzip", "date", "find"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed to run the backup script: %v", tool, err)
		}
	}
	run := func(t *testing.T, dumpExit int) (string, []string, error) {
		dir, bin := t.TempDir(), t.TempDir()
		fake := "#!/bin/sh\necho \"-- dump of $PGDATABASE\"\necho 'CREATE TABLE users (id int);'\nexit " + string(rune('0'+dumpExit)) + "\n"
		if err := os.WriteFile(filepath.Join(bin, "pg_dump"), []byte(fake), 0o755); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-31 * 24 * time.Hour)
		for name, mtime := range map[string]time.Time{"heimdall_20200101_020000.sql.gz": old, "heimdall_recent.sql.gz": time.Now(), "other.txt": old} {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chtimes(p, mtime, mtime); err != nil {
				t.Fatal(err)
			}
		}
		cj := BackupCronJob(withBackup(), DefaultImages)
		c := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		cmd := exec.Command(c.Command[0], c.Command[1:]...)
		cmd.Env = []string{"PATH=" + bin + ":" + os.Getenv("PATH"), "PGDATABASE=heimdall", "JOB_NAME=auth-backup-29412345",
			"BACKUP_DIR=" + dir, "RETENTION_DAYS=30"}
		out, err := cmd.CombinedOutput()
		entries, _ := os.ReadDir(dir)
		var files []string
		for _, e := range entries {
			files = append(files, e.Name())
		}
		return string(out) + "\n" + dir, files, err
	}

	t.Run("writes the predicted file and applies the retention", func(t *testing.T) {
		out, files, err := run(t, 0)
		if err != nil {
			t.Fatalf("script failed: %v\n%s", err, out)
		}
		want, _, _ := BackupFileForJob("auth-backup-29412345")
		if strings.Join(files, ",") != want+",heimdall_recent.sql.gz,other.txt" {
			t.Fatalf("files %v, want the new dump, the recent one and the unrelated file", files)
		}
		dir := out[strings.LastIndex(out, "\n")+1:]
		f, err := os.Open(filepath.Join(dir, want))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("not gzip: %v", err)
		}
		sql, _ := io.ReadAll(zr)
		if !strings.Contains(string(sql), "-- dump of heimdall") || !strings.Contains(string(sql), "CREATE TABLE users") {
			t.Errorf("dump content %q", sql)
		}
	})
	t.Run("leaves no file when pg_dump fails", func(t *testing.T) {
		out, files, err := run(t, 3)
		if err == nil {
			t.Fatalf("script succeeded although pg_dump failed:\n%s", out)
		}
		for _, f := range files {
			if strings.HasPrefix(f, "heimdall_2025") || strings.HasPrefix(f, ".heimdall_") {
				t.Errorf("a failed dump left %s", f)
			}
		}
	})
}
