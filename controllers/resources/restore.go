package resources

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

// RestoreBackoffLimit retries a failed restore pod twice. Retrying is safe: the dump is loaded
// in one transaction, so a failed attempt leaves the database as it was.
const RestoreBackoffLimit int32 = 2

// restoreScript replaces the content of the Heimdall database with a dump. The file is checked
// before anything is dropped; then, in one transaction, everything the database user owns is
// dropped and the dump loaded, so any error rolls the whole restore back.
const restoreScript = `set -euo pipefail
dump="${BACKUP_DIR}/${BACKUP_FILE}"
if [ ! -f "$dump" ]; then
  echo "backup file ${BACKUP_FILE} not found in the backup volume" >&2
  exit 1
fi
gzip -t "$dump"
{ echo 'DROP OWNED BY CURRENT_USER CASCADE;'; gunzip -c "$dump"; } |
  psql --no-psqlrc --quiet --single-transaction -v ON_ERROR_STOP=1
echo "restored ${BACKUP_FILE}"
`

// RestoreRequest digests spec.restore (with its defaults resolved), so each distinct request gets
// its own Job and runs once.
func RestoreRequest(hi *heimdallv1.HeimdallInstance) string {
	r := hi.Spec.Restore
	sum := sha256.Sum256([]byte(r.BackupFile + "\x00" + RestoreClaimName(hi)))
	return hex.EncodeToString(sum[:])[:10]
}

// RestoreClaimName is the volume holding the dump to restore.
func RestoreClaimName(hi *heimdallv1.HeimdallInstance) string {
	return cmp.Or(hi.Spec.Restore.ClaimName, BackupClaimName(hi))
}

// RestoreJobName is <instance>-restore-<request digest>.
func RestoreJobName(hi *heimdallv1.HeimdallInstance) string {
	return hi.Name + "-restore-" + RestoreRequest(hi)
}

// RestoreJob loads spec.restore.backupFile into the Heimdall database (an init container with the
// PostgreSQL client), then migrates the restored schema up to the version the server will run
// (the server image's migrate command), so the server starts on a schema it knows. in are the
// server's inputs: the migration uses exactly the server Deployment's image.
func RestoreJob(hi *heimdallv1.HeimdallInstance, in Inputs) *batchv1.Job {
	labels := Labels(hi, ComponentRestore, "")
	restore := corev1.Container{
		Name:    "restore",
		Image:   BackupImage(hi, in.Images),
		Command: []string{"/bin/bash", "-c", restoreScript},
		Env: append(postgresClientEnv(hi),
			corev1.EnvVar{Name: "BACKUP_DIR", Value: backupMountPath},
			corev1.EnvVar{Name: "BACKUP_FILE", Value: hi.Spec.Restore.BackupFile}),
		VolumeMounts: []corev1.VolumeMount{{Name: "backups", MountPath: backupMountPath, ReadOnly: true}},
	}
	sc := containerSecurityContext()
	sc.RunAsUser, sc.RunAsGroup = ptr.To(serverUID), ptr.To(serverUID)
	migrate := corev1.Container{
		Name:            "migrate",
		Image:           ServerDeployment(hi, in).Spec.Template.Spec.Containers[0].Image,
		Command:         []string{migrateBinary, "up"},
		Env:             databaseEnv(hi),
		SecurityContext: sc,
	}
	return &batchv1.Job{
		TypeMeta: metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: RestoreJobName(hi), Namespace: hi.Namespace, Labels: labels,
			Annotations: map[string]string{RestoreFileAnnotation: hi.Spec.Restore.BackupFile}},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(RestoreBackoffLimit),
			// No TTL: the finished Job is part of the record that this request ran.
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       backupPodSpec(hi, RestoreClaimName(hi), []corev1.Container{restore}, migrate),
			},
		},
	}
}

// RestoreFileAnnotation on a restore Job names the file it restores.
const RestoreFileAnnotation = "heimdall.io/backup-file"

// ServerPaused reports whether the server must stay stopped for spec.restore: from the moment a
// request is made until its restore has succeeded, and after a failure (the data may not be what
// anyone wants served) until the request is changed or removed.
func ServerPaused(hi *heimdallv1.HeimdallInstance, phase heimdallv1.RestorePhase) bool {
	return hi.Spec.Restore != nil && phase != heimdallv1.RestoreSucceeded
}

// AbsentBackupObjects are the backup and restore children the spec no longer wants: the CronJob
// when backups are off, the ServiceAccount when neither backups nor a restore use it, and the Job
// of a restore request that was removed or replaced (status.restore names it).
func AbsentBackupObjects(hi *heimdallv1.HeimdallInstance) []client.Object {
	var objs []client.Object
	if !BackupEnabled(hi) {
		objs = append(objs, &batchv1.CronJob{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
			ObjectMeta: metav1.ObjectMeta{Name: BackupName(hi), Namespace: hi.Namespace},
		})
		if hi.Spec.Restore == nil {
			objs = append(objs, ServiceAccount(hi, BackupName(hi), ComponentBackup))
		}
	}
	if st := hi.Status.Restore; st != nil && st.JobName != "" && (hi.Spec.Restore == nil || st.JobName != RestoreJobName(hi)) {
		objs = append(objs, &batchv1.Job{
			TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
			ObjectMeta: metav1.ObjectMeta{Name: st.JobName, Namespace: hi.Namespace},
		})
	}
	return objs
}

// DesiredBackupObjects are the backup children applied with the others: the ServiceAccount of
// backup and restore pods and the CronJob, suspended while a restore pauses the server (a dump
// taken then would be of a half-restored database). The volume and the restore Job have their
// own rules (created once) and are not listed.
func DesiredBackupObjects(hi *heimdallv1.HeimdallInstance, in Inputs) []client.Object {
	var objs []client.Object
	if BackupEnabled(hi) || hi.Spec.Restore != nil {
		objs = append(objs, ServiceAccount(hi, BackupName(hi), ComponentBackup))
	}
	if BackupEnabled(hi) {
		cj := BackupCronJob(hi, in.Images)
		// Always set, so resuming writes false back (a nil would leave a live true in place).
		cj.Spec.Suspend = ptr.To(in.Paused)
		objs = append(objs, cj)
	}
	return objs
}
