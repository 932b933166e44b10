package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// reconcileBackup runs after the other children are applied: it keeps the backup volume, takes
// the paused server's HPA away, and starts a pending restore.
func (r *HeimdallInstanceReconciler) reconcileBackup(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus, in resources.Inputs) error {
	if resources.BackupEnabled(hi) {
		if err := r.reconcileBackupVolume(ctx, hi); err != nil {
			return err
		}
	}
	if in.Paused && resources.AutoscalingEnabled(hi) {
		// An HPA would scale the stopped server back up while the restore runs.
		if err := r.deleteChild(ctx, hi, resources.ServerHPA(hi)); err != nil {
			return err
		}
	}
	return r.startRestore(ctx, hi, st, in)
}

// reconcileBackupVolume creates the backup volume once and keeps its owner reference in line with
// spec.pvcRetentionPolicy: owned (deleted with the instance) for Delete, unowned for Retain, so a
// recreated instance finds its old backups. The claim's spec is never rewritten (it is immutable
// but for its size, which a user may grow).
func (r *HeimdallInstanceReconciler) reconcileBackupVolume(ctx context.Context, hi *heimdallv1.HeimdallInstance) error {
	want := resources.BackupPVC(hi)
	owned := hi.Spec.PVCRetentionPolicy == heimdallv1.PVCDelete
	live := &corev1.PersistentVolumeClaim{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), live)
	if apierrors.IsNotFound(err) {
		if owned {
			if err := controllerutil.SetControllerReference(hi, want, r.Scheme); err != nil {
				return fmt.Errorf("set owner of persistentvolumeclaim %s: %w", want.Name, err)
			}
		}
		err := r.Create(ctx, want, client.FieldOwner(resources.FieldManager))
		if apierrors.IsAlreadyExists(err) {
			// The cache lagged behind a claim that exists; nothing was created, so no event. Its
			// owner reference is checked on the next reconcile.
			return nil
		}
		if err != nil {
			return fmt.Errorf("create persistentvolumeclaim %s: %w", want.Name, err)
		}
		r.Recorder.Eventf(hi, want, corev1.EventTypeNormal, "Created", "Create", "Created PersistentVolumeClaim %s", want.Name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("get persistentvolumeclaim %s: %w", want.Name, err)
	}
	if metav1.IsControlledBy(live, hi) == owned {
		return nil
	}
	patched := live.DeepCopy()
	if owned {
		err = controllerutil.SetControllerReference(hi, patched, r.Scheme)
	} else {
		err = controllerutil.RemoveControllerReference(hi, patched, r.Scheme)
	}
	if err != nil {
		return fmt.Errorf("set owner of persistentvolumeclaim %s: %w", want.Name, err)
	}
	if err := r.Patch(ctx, patched, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("patch owner of persistentvolumeclaim %s: %w", want.Name, err)
	}
	r.Recorder.Eventf(hi, patched, corev1.EventTypeNormal, "Updated", "Update", "PersistentVolumeClaim %s follows pvcRetentionPolicy %s", want.Name, hi.Spec.PVCRetentionPolicy)
	return nil
}

// observeBackup reads the CronJob's status and its newest successful Job into status.backup.
func (r *HeimdallInstanceReconciler) observeBackup(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	if !resources.BackupEnabled(hi) {
		st.next.Backup = nil
		return nil
	}
	cj := &batchv1.CronJob{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.BackupName(hi)}, cj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get backup cronjob: %w", err)
	}
	next := &heimdallv1.BackupStatus{LastScheduleTime: cj.Status.LastScheduleTime, LastSuccessfulTime: cj.Status.LastSuccessfulTime}
	prev := st.next.Backup
	if prev != nil {
		// Pruned Jobs neither unmake a backup nor a failure.
		next.LastBackupFile, next.LastFailure = prev.LastBackupFile, prev.LastFailure
	}
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(hi.Namespace),
		client.MatchingLabels(resources.SelectorLabels(hi, resources.ComponentBackup))); err != nil {
		return fmt.Errorf("list backup jobs: %w", err)
	}
	if file := newestBackupFile(cj, jobs.Items); file != "" {
		next.LastBackupFile = file
	}
	if last := newestFinished(cj, jobs.Items); last != nil {
		next.LastFailure = ""
		if c := jobCondition(last, batchv1.JobFailed); c != nil {
			next.LastFailure = fmt.Sprintf("Job %s: %s: %s", last.Name, c.Reason, c.Message)
		}
	}
	if next.LastFailure != "" && (prev == nil || prev.LastFailure != next.LastFailure) {
		r.Recorder.Eventf(hi, cj, corev1.EventTypeWarning, "BackupFailed", "Backup", "%s", next.LastFailure)
	}
	st.next.Backup = next
	return nil
}

// newestBackupFile is the file of the newest scheduled Job of the CronJob that completed.
func newestBackupFile(cj *batchv1.CronJob, jobs []batchv1.Job) string {
	newest := newestScheduled(cj, jobs, func(j *batchv1.Job) bool { return jobCondition(j, batchv1.JobComplete) != nil })
	if newest == nil {
		return ""
	}
	file, _, _ := resources.BackupFileForJob(newest.Name)
	return file
}

// newestFinished is the newest scheduled Job of the CronJob that completed or failed.
func newestFinished(cj *batchv1.CronJob, jobs []batchv1.Job) *batchv1.Job {
	return newestScheduled(cj, jobs, func(j *batchv1.Job) bool {
		return jobCondition(j, batchv1.JobComplete) != nil || jobCondition(j, batchv1.JobFailed) != nil
	})
}

// newestScheduled is the Job of the CronJob with the latest scheduled time among those that match.
func newestScheduled(cj *batchv1.CronJob, jobs []batchv1.Job, match func(*batchv1.Job) bool) *batchv1.Job {
	var newest *batchv1.Job
	var newestAt time.Time
	for i := range jobs {
		j := &jobs[i]
		_, at, scheduled := resources.BackupFileForJob(j.Name)
		if scheduled && metav1.IsControlledBy(j, cj) && match(j) && (newest == nil || at.After(newestAt)) {
			newest, newestAt = j, at
		}
	}
	return newest
}

// jobCondition is the Job's condition of type t when it is true.
func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}
