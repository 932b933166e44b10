package resources

import (
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

func withRestore(file, claim string) *heimdallv1.HeimdallInstance {
	hi := withBackup()
	hi.Spec.Restore = &heimdallv1.RestoreSpec{BackupFile: file, ClaimName: claim}
	return hi
}

func TestRestoreRequestRunsOncePerRequest(t *testing.T) {
	a := RestoreJobName(withRestore("heimdall_20261204_020000.sql.gz", ""))
	tests := []struct {
		name string
		hi   *heimdallv1.HeimdallInstance
		same bool
	}{
		{"the same request", withRestore("heimdall_20261204_020000.sql.gz", ""), true},
		{"the default claim spelt out", withRestore("heimdall_20261204_020000.sql.gz", "auth-backups"), true},
		{"another file", withRestore("heimdall_20261203_020000.sql.gz", ""), false},
		{"another volume", withRestore("heimdall_20261204_020000.sql.gz", "restored-snapshot"), false},
	}
	for _, tt := range tests {
		b := RestoreJobName(tt.hi)
		if (a == b) != tt.same {
			t.Errorf("%s: %s vs %s", tt.name, a, b)
		}
		if !strings.HasPrefix(b, "auth-restore-") || len(b) != len("auth-restore-")+10 {
			t.Errorf("%s: job name %s", tt.name, b)
		}
	}
}

func TestRestoreJob(t *testing.T) {
	hi := withRestore("heimdall_20261204_020000.sql.gz", "")
	job := RestoreJob(hi, Inputs{Images: DefaultImages, ServingVersion: "1.2.2"})
	if job.Name != RestoreJobName(hi) || *job.Spec.BackoffLimit != RestoreBackoffLimit || job.Spec.TTLSecondsAfterFinished != nil {
		t.Errorf("job %s backoff %d ttl %v", job.Name, *job.Spec.BackoffLimit, job.Spec.TTLSecondsAfterFinished)
	}
	if job.Annotations[RestoreFileAnnotation] != "heimdall_20261204_020000.sql.gz" {
		t.Errorf("annotations %v", job.Annotations)
	}
	pod := job.Spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || pod.ServiceAccountName != "auth-backup" || ptr.Deref(pod.AutomountServiceAccountToken, true) {
		t.Errorf("restart %q sa %q token %v", pod.RestartPolicy, pod.ServiceAccountName, pod.AutomountServiceAccountToken)
	}
	if len(pod.InitContainers) != 1 || len(pod.Containers) != 1 {
		t.Fatalf("want the restore as init container and the migration as container, got %d/%d", len(pod.InitContainers), len(pod.Containers))
	}
	restore, migrate := pod.InitContainers[0], pod.Containers[0]
	if restore.Image != "docker.io/library/postgres:14" {
		t.Errorf("restore image %s", restore.Image)
	}
	script := strings.Join(restore.Command, " ")
	for _, want := range []string{"gzip -t", "DROP OWNED BY CURRENT_USER CASCADE", "gunzip -c", "--single-transaction", "ON_ERROR_STOP=1"} {
		if !strings.Contains(script, want) {
			t.Errorf("restore script lacks %q", want)
		}
	}
	env := envByName(restore.Env)
	if env["BACKUP_FILE"] != "heimdall_20261204_020000.sql.gz" || env["PGPASSWORD"] != "secret:auth-postgres/password" || env["PGHOST"] != "auth-postgres" {
		t.Errorf("restore env %v", env)
	}
	if !slices.ContainsFunc(restore.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "backups" && m.MountPath == "/backups" && m.ReadOnly
	}) {
		t.Errorf("restore mounts %v", restore.VolumeMounts)
	}
	// The migration runs what the server Deployment will run: here the held-back serving version.
	if want := ServerDeployment(hi, Inputs{Images: DefaultImages, ServingVersion: "1.2.2"}).Spec.Template.Spec.Containers[0].Image; migrate.Image != want {
		t.Errorf("migrate image %s, want the server's %s", migrate.Image, want)
	}
	if strings.Join(migrate.Command, " ") != "/heimdall-migrate up" || envByName(migrate.Env)["DB_PASSWORD"] != "secret:auth-postgres/password" {
		t.Errorf("migrate %v env %v", migrate.Command, migrate.Env)
	}
	for _, m := range migrate.VolumeMounts {
		if m.Name == "backups" {
			t.Error("the migration has no business with the backup volume")
		}
	}
	for _, c := range []corev1.Container{restore, migrate} {
		if !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation {
			t.Errorf("%s security context %+v", c.Name, c.SecurityContext)
		}
	}
	if pod.Volumes[0].PersistentVolumeClaim.ClaimName != "auth-backups" {
		t.Errorf("claim %s", pod.Volumes[0].PersistentVolumeClaim.ClaimName)
	}
	other := RestoreJob(withRestore("heimdall_20261204_020000.sql.gz", "snapshot"), Inputs{Images: DefaultImages})
	if other.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "snapshot" {
		t.Error("spec.restore.claimName not honoured")
	}
}

func TestServerPaused(t *testing.T) {
	tests := []struct {
		name  string
		hi    *heimdallv1.HeimdallInstance
		phase heimdallv1.RestorePhase
		want  bool
	}{
		{"no request", withBackup(), "", false},
		{"new request", withRestore("a.sql.gz", ""), "", true},
		{"pending", withRestore("a.sql.gz", ""), heimdallv1.RestorePending, true},
		{"running", withRestore("a.sql.gz", ""), heimdallv1.RestoreRunning, true},
		{"failed: stays stopped", withRestore("a.sql.gz", ""), heimdallv1.RestoreFailed, true},
		{"succeeded", withRestore("a.sql.gz", ""), heimdallv1.RestoreSucceeded, false},
	}
	for _, tt := range tests {
		if got := ServerPaused(tt.hi, tt.phase); got != tt.want {
			t.Errorf("%s: paused %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPausedServer(t *testing.T) {
	hi := withRestore("a.sql.gz", "")
	d := ServerDeployment(hi, Inputs{Images: DefaultImages, Paused: true, HandoffReplicas: ptr.To[int32](5)})
	if ptr.Deref(d.Spec.Replicas, -1) != 0 {
		t.Errorf("paused replicas %v, want 0", d.Spec.Replicas)
	}
	if got := strings.Join(names(Desired(hi, Inputs{Images: DefaultImages, Paused: true})), ","); strings.Contains(got, "HorizontalPodAutoscaler/") {
		t.Errorf("a paused server has no HPA: %s", got)
	}
	// Leaving the pause with autoscaling on: the HPA cannot scale up from 0, so start at its minimum.
	d = ServerDeployment(hi, Inputs{Images: DefaultImages, HandoffReplicas: ptr.To[int32](0)})
	if ptr.Deref(d.Spec.Replicas, -1) != 3 {
		t.Errorf("replicas after the pause %v, want minReplicas 3", d.Spec.Replicas)
	}
	fixed := withRestore("a.sql.gz", "")
	fixed.Spec.Autoscaling.Enabled = false
	if d := ServerDeployment(fixed, Inputs{Images: DefaultImages, Paused: true}); ptr.Deref(d.Spec.Replicas, -1) != 0 {
		t.Errorf("paused fixed replicas %v", d.Spec.Replicas)
	}
}

func TestDesiredAndAbsentBackupObjects(t *testing.T) {
	off := withBackup()
	off.Spec.Backup.Enabled = false
	restoreOnly := withRestore("a.sql.gz", "")
	restoreOnly.Spec.Backup = nil
	replaced := withRestore("b.sql.gz", "")
	replaced.Status.Restore = &heimdallv1.RestoreStatus{JobName: RestoreJobName(withRestore("a.sql.gz", ""))}
	removed := withBackup()
	removed.Status.Restore = replaced.Status.Restore
	current := withRestore("a.sql.gz", "")
	current.Status.Restore = &heimdallv1.RestoreStatus{JobName: RestoreJobName(current)}
	oldJob := "Job/" + replaced.Status.Restore.JobName

	tests := []struct {
		name            string
		hi              *heimdallv1.HeimdallInstance
		desired, absent []string
	}{
		{"backups on", withBackup(), []string{"ServiceAccount/auth-backup", "CronJob/auth-backup"}, nil},
		{"backups off", off, nil, []string{"CronJob/auth-backup", "ServiceAccount/auth-backup"}},
		{"a restore without backups keeps the ServiceAccount", restoreOnly, []string{"ServiceAccount/auth-backup"}, []string{"CronJob/auth-backup"}},
		{"a replaced request's Job goes", replaced, []string{"ServiceAccount/auth-backup", "CronJob/auth-backup"}, []string{oldJob}},
		{"a removed request's Job goes", removed, []string{"ServiceAccount/auth-backup", "CronJob/auth-backup"}, []string{oldJob}},
		{"the current request's Job stays", current, []string{"ServiceAccount/auth-backup", "CronJob/auth-backup"}, nil},
	}
	for _, tt := range tests {
		desired := names(DesiredBackupObjects(tt.hi, Inputs{Images: DefaultImages}))
		absent := names(AbsentBackupObjects(tt.hi))
		if strings.Join(desired, ",") != strings.Join(tt.desired, ",") || strings.Join(absent, ",") != strings.Join(tt.absent, ",") {
			t.Errorf("%s: desired %v absent %v, want %v and %v", tt.name, desired, absent, tt.desired, tt.absent)
		}
		all := strings.Join(names(Desired(tt.hi, Inputs{Images: DefaultImages})), ",")
		for _, d := range tt.desired {
			if !strings.Contains(all, d) {
				t.Errorf("%s: Desired lacks %s", tt.name, d)
			}
		}
	}
}

func TestBackupCronJobSuspendedWhilePaused(t *testing.T) {
	for _, paused := range []bool{false, true} {
		var cj *batchv1.CronJob
		for _, o := range DesiredBackupObjects(withBackup(), Inputs{Images: DefaultImages, Paused: paused}) {
			if c, ok := o.(*batchv1.CronJob); ok {
				cj = c
			}
		}
		if cj == nil {
			t.Fatalf("paused=%v: no CronJob", paused)
		}
		// Set either way: a nil suspend would leave a live true in place after the restore.
		if cj.Spec.Suspend == nil || *cj.Spec.Suspend != paused {
			t.Errorf("paused=%v: suspend %v, want %v", paused, cj.Spec.Suspend, paused)
		}
	}
}
