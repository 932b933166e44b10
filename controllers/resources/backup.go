package resources

import (
	"slices"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

const (
	backupMountPath = "/backups"
	// BackupJobsKept is how many finished backup Jobs (successful, and failed) the CronJob keeps.
	BackupJobsKept int32 = 3
	// backupBackoffLimit retries a failed dump twice before the Job counts as failed.
	backupBackoffLimit int32 = 2
	// backupFileLayout is the timestamp in file names, as the deployment guide's
	// `date +%Y%m%d_%H%M%S`.
	backupFileLayout = "20060102_150405"
)

// backupScript is the deployment guide's backup script made safe to run unattended: the dump is
// written under a hidden name and renamed only when pg_dump and gzip both succeeded, so a failed
// run never leaves a file that looks like a backup. The file is named after the Job's scheduled
// time (the CronJob controller names Jobs <cronjob>-<minutes since the epoch>), which lets the
// operator name it too (BackupFileForJob); a Job started by hand uses the current time.
// Connection settings and the password come from libpq's PG* variables, never the command line.
const backupScript = `set -euo pipefail
minutes="${JOB_NAME##*-}"
if [[ "$minutes" =~ ^[0-9]{8,}$ ]]; then
  stamp="$(date -u -d "@$((minutes * 60))" +%Y%m%d_%H%M%S)"
else
  stamp="$(date -u +%Y%m%d_%H%M%S)"
fi
file="heimdall_${stamp}.sql.gz"
partial="${BACKUP_DIR}/.${file}.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --no-owner --no-privileges | gzip > "$partial"
mv "$partial" "${BACKUP_DIR}/${file}"
echo "wrote ${file}"
find "$BACKUP_DIR" -maxdepth 1 -name 'heimdall_*.sql.gz' -mtime "+${RETENTION_DAYS}" -print -delete
`

// BackupEnabled reports whether the instance wants scheduled backups.
func BackupEnabled(hi *heimdallv1.HeimdallInstance) bool {
	return hi.Spec.Backup != nil && hi.Spec.Backup.Enabled
}

// BackupName names the backup CronJob and the ServiceAccount of backup and restore pods.
func BackupName(hi *heimdallv1.HeimdallInstance) string { return ComponentName(hi, ComponentBackup) }

// BackupClaimName is the backup volume's PersistentVolumeClaim.
func BackupClaimName(hi *heimdallv1.HeimdallInstance) string { return hi.Name + "-backups" }

// BackupPVC is the backup volume. The reconciler creates it once and never deletes it; whether
// the instance owns it (and so deletes it with itself) follows spec.pvcRetentionPolicy.
func BackupPVC(hi *heimdallv1.HeimdallInstance) *corev1.PersistentVolumeClaim {
	s := hi.Spec.Backup.Storage
	return &corev1.PersistentVolumeClaim{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "PersistentVolumeClaim"},
		ObjectMeta: metav1.ObjectMeta{Name: BackupClaimName(hi), Namespace: hi.Namespace, Labels: Labels(hi, ComponentBackup, "")},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: s.StorageClassName,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: s.Size}},
		},
	}
}

// BackupCronJob runs the dump on spec.backup.schedule, one at a time.
func BackupCronJob(hi *heimdallv1.HeimdallInstance, img Images) *batchv1.CronJob {
	b := hi.Spec.Backup
	labels := Labels(hi, ComponentBackup, "")
	env := append(postgresClientEnv(hi),
		corev1.EnvVar{Name: "JOB_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
			APIVersion: "v1", FieldPath: "metadata.labels['" + batchv1.JobNameLabel + "']"}}},
		corev1.EnvVar{Name: "BACKUP_DIR", Value: backupMountPath},
		corev1.EnvVar{Name: "RETENTION_DAYS", Value: strconv.Itoa(int(b.RetentionDays))},
	)
	pod := backupPodSpec(hi, BackupClaimName(hi), nil, corev1.Container{
		Name:         "backup",
		Image:        BackupImage(hi, img),
		Command:      []string{"/bin/bash", "-c", backupScript},
		Env:          env,
		VolumeMounts: []corev1.VolumeMount{backupsMount},
	})
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: BackupName(hi), Namespace: hi.Namespace, Labels: labels},
		Spec: batchv1.CronJobSpec{
			Schedule:                   b.Schedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To[int64](3600), // a run missed by up to an hour still happens
			SuccessfulJobsHistoryLimit: ptr.To(BackupJobsKept),
			FailedJobsHistoryLimit:     ptr.To(BackupJobsKept),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: batchv1.JobSpec{
					BackoffLimit: ptr.To(backupBackoffLimit),
					Template:     corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
				},
			},
		},
	}
}

// backupPodSpec is the restricted pod of backup and restore: the postgres image's user, no API
// token, the backup volume and a scratch /tmp. Failed containers report their last log lines as
// the termination message, so `kubectl describe` shows why.
func backupPodSpec(hi *heimdallv1.HeimdallInstance, claim string, init []corev1.Container, main corev1.Container) corev1.PodSpec {
	containers := slices.Concat(init, []corev1.Container{main})
	for i := range containers {
		c := &containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
		c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError
		if c.SecurityContext == nil {
			c.SecurityContext = containerSecurityContext()
		}
	}
	pod := corev1.PodSpec{
		RestartPolicy:                corev1.RestartPolicyNever,
		ServiceAccountName:           BackupName(hi),
		AutomountServiceAccountToken: ptr.To(false),
		SecurityContext:              podSecurityContext(postgresUID),
		ImagePullSecrets:             hi.Spec.PodTemplate.ImagePullSecrets,
		Containers:                   containers[len(init):],
		Volumes: []corev1.Volume{
			{Name: "backups", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}},
			emptyDir("tmp"),
		},
	}
	if len(init) > 0 {
		pod.InitContainers = containers[:len(init)]
	}
	return pod
}

// backupsMount mounts the backup volume where the scripts expect it.
var backupsMount = corev1.VolumeMount{Name: "backups", MountPath: backupMountPath}

// BackupImage runs pg_dump and psql: spec.backup.image, else the managed PostgreSQL's image (same
// major version as the server), else the deployment guide's postgres:14.
func BackupImage(hi *heimdallv1.HeimdallInstance, img Images) string {
	if b := hi.Spec.Backup; b != nil && b.Image != "" {
		return b.Image
	}
	if m := hi.Spec.Postgres.Managed; m != nil {
		return postgresImage(m, img)
	}
	return img.Postgres + ":14"
}

// postgresClientEnv points libpq (pg_dump, psql) at the Heimdall database as the server's user,
// with the password from the credential Secret.
func postgresClientEnv(hi *heimdallv1.HeimdallInstance) []corev1.EnvVar {
	c := Refs(hi).Database
	pg := heimdallPostgres(hi)
	return []corev1.EnvVar{
		{Name: "PGHOST", Value: pg.Host},
		{Name: "PGPORT", Value: strconv.Itoa(int(pg.Port))},
		{Name: "PGDATABASE", Value: pg.Database},
		{Name: "PGSSLMODE", Value: pg.SSLMode},
		secretEnv("PGUSER", c.Name, c.UsernameKey),
		secretEnv("PGPASSWORD", c.Name, c.PasswordKey),
	}
}

// BackupFileForJob is the file a scheduled backup Job writes, derived the way the backup script
// derives it: from the scheduled minute in the Job's name. ok is false for Jobs not named by the
// CronJob controller (started by hand).
func BackupFileForJob(jobName string) (file string, scheduled time.Time, ok bool) {
	i := strings.LastIndexByte(jobName, '-')
	suffix := jobName[i+1:]
	if i < 0 || len(suffix) < 8 || strings.Trim(suffix, "0123456789") != "" {
		return "", time.Time{}, false
	}
	minutes, err := strconv.ParseInt(suffix, 10, 64)
	if err != nil || minutes > 1<<40 {
		return "", time.Time{}, false
	}
	t := time.Unix(minutes*60, 0).UTC()
	return "heimdall_" + t.Format(backupFileLayout) + ".sql.gz", t, true
}
