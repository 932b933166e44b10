package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// ReasonRestoreFailed is the Degraded reason while a failed restore keeps the server stopped.
const ReasonRestoreFailed = "RestoreFailed"

// observeRestore works out where spec.restore stands before the children are applied, so the
// server's replicas follow it in the same pass. It records the answer in the status and returns
// whether the server must stay stopped.
//
// A request runs once: the Job is named after the request's digest, and a finished request is
// remembered in status.restore, so neither a leftover Job nor a deleted one makes it run again.
func (r *HeimdallInstanceReconciler) observeRestore(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) (bool, error) {
	if hi.Spec.Restore == nil {
		st.next.Restore = nil
		return false, nil
	}
	req := resources.RestoreRequest(hi)
	if prev := hi.Status.Restore; prev != nil && prev.Request == req &&
		(prev.Phase == heimdallv1.RestoreSucceeded || prev.Phase == heimdallv1.RestoreFailed) {
		st.next.Restore = prev.DeepCopy()
	} else {
		rs, err := r.restoreFromJob(ctx, hi, req)
		if err != nil {
			return false, err
		}
		st.next.Restore = rs
	}
	rs := st.next.Restore
	if rs.Phase == heimdallv1.RestoreFailed {
		st.failed(ReasonRestoreFailed, rs.Message)
	}
	return resources.ServerPaused(hi, rs.Phase), nil
}

// restoreFromJob reads the request's Job; no Job yet means Pending.
func (r *HeimdallInstanceReconciler) restoreFromJob(ctx context.Context, hi *heimdallv1.HeimdallInstance, req string) (*heimdallv1.RestoreStatus, error) {
	name := resources.RestoreJobName(hi)
	rs := &heimdallv1.RestoreStatus{BackupFile: hi.Spec.Restore.BackupFile, Request: req, JobName: name, Phase: heimdallv1.RestorePending}
	if prev := hi.Status.Restore; prev != nil && prev.Request == req {
		rs.Message = prev.Message // keep saying what it waits for
	}
	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: name}, job)
	if apierrors.IsNotFound(err) {
		return rs, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get restore job %s: %w", name, err)
	}
	if !metav1.IsControlledBy(job, hi) {
		return nil, fmt.Errorf("Job %s exists and is not controlled by this instance; refusing to take it over", name)
	}
	rs.StartTime = ptr.To(job.CreationTimestamp)
	rs.Phase, rs.Message = heimdallv1.RestoreRunning, fmt.Sprintf("Job %s is restoring %s", name, rs.BackupFile)
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			rs.Phase, rs.CompletionTime = heimdallv1.RestoreSucceeded, ptr.To(c.LastTransitionTime)
			rs.Message = fmt.Sprintf("Restored %s", rs.BackupFile)
		case batchv1.JobFailed:
			rs.Phase, rs.CompletionTime = heimdallv1.RestoreFailed, ptr.To(c.LastTransitionTime)
			rs.Message = fmt.Sprintf("Job %s failed to restore %s (%s: %s); the database may hold partial data, so the server "+
				"stays stopped until spec.restore is changed or removed", name, rs.BackupFile, c.Reason, c.Message)
		}
	}
	return rs, nil
}

// startRestore creates the restore Job of a Pending request once nothing else uses the database:
// the server has no pods left, no migration or backup Job runs, a managed PostgreSQL is ready, and
// the backup volume exists. The migration Jobs of other versions go first (deleteMigrationRecords).
// Until then the status message says what it waits for; the watches on those objects bring the
// instance back.
func (r *HeimdallInstanceReconciler) startRestore(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus, in resources.Inputs) error {
	rs := st.next.Restore
	if rs == nil || rs.Phase != heimdallv1.RestorePending {
		return nil
	}
	wait, err := r.restoreBlocker(ctx, hi)
	if err != nil || wait != "" {
		rs.Message = wait
		// Watches bring the server and PostgreSQL back; a volume the user creates is not watched.
		st.requeueWithin(30 * time.Second)
		return err
	}
	if err := r.deleteMigrationRecords(ctx, hi, in.ServingVersion); err != nil {
		return err
	}
	if err := r.applyChild(ctx, hi, resources.RestoreJob(hi, in)); err != nil {
		return err
	}
	rs.Phase, rs.Message = heimdallv1.RestoreRunning, fmt.Sprintf("Job %s is restoring %s", rs.JobName, rs.BackupFile)
	return nil
}

func (r *HeimdallInstanceReconciler) restoreBlocker(ctx context.Context, hi *heimdallv1.HeimdallInstance) (string, error) {
	d, err := r.getDeployment(ctx, hi.Namespace, resources.ServerName(hi))
	if err != nil {
		return "", err
	}
	if d != nil && (ptr.Deref(d.Spec.Replicas, 1) > 0 || d.Status.Replicas > 0) {
		return fmt.Sprintf("Waiting for the server to stop (%d pods)", d.Status.Replicas), nil
	}
	// Terminating pods no longer count in the Deployment's status but may still hold database
	// connections and write; the restore waits until none is left.
	if n, err := r.serverPods(ctx, hi); err != nil {
		return "", err
	} else if n > 0 {
		return fmt.Sprintf("Waiting for the server pods to terminate (%d left)", n), nil
	}
	// A migration or a backup would race the restore: one could commit a schema the restore then
	// drops, the other dump a half-restored database. Neither starts while the server is paused
	// (no migration is created, the backup CronJob is suspended); those already running finish.
	for _, component := range []string{resources.ComponentMigration, resources.ComponentBackup} {
		jobs, err := r.listJobs(ctx, hi, component)
		if err != nil {
			return "", err
		}
		for i := range jobs {
			if state, _ := resources.JobOutcome(&jobs[i]); state == resources.MigrationRunning {
				return fmt.Sprintf("Waiting for %s Job %s to finish", component, jobs[i].Name), nil
			}
		}
	}
	if hi.Spec.Postgres.Managed != nil {
		s := &appsv1.StatefulSet{}
		err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.ComponentName(hi, resources.ComponentPostgres)}, s)
		if client.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("get postgres statefulset: %w", err)
		}
		if err != nil || s.Status.ReadyReplicas < 1 {
			return "Waiting for PostgreSQL to be ready", nil
		}
	}
	claim := resources.RestoreClaimName(hi)
	err = r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: claim}, &corev1.PersistentVolumeClaim{})
	if apierrors.IsNotFound(err) {
		return fmt.Sprintf("Waiting for PersistentVolumeClaim %s with the backup", claim), nil
	}
	if err != nil {
		return "", fmt.Errorf("get persistentvolumeclaim %s: %w", claim, err)
	}
	return "", nil
}

// ReasonRestoring is the Progressing reason while a restore is pending or running.
const ReasonRestoring = "Restoring"

// reportRestore makes the component status and conditions say what a restore does to the server:
// a stopped server is not ready, whatever its zero replicas report.
func reportRestore(hi *heimdallv1.HeimdallInstance, st *instanceStatus) {
	rs := st.next.Restore
	if rs == nil {
		return
	}
	if srv := st.next.Components.Server; srv != nil && resources.ServerPaused(hi, rs.Phase) {
		srv.Ready, srv.Message = false, "Stopped while spec.restore is "+string(rs.Phase)
	}
	if rs.Phase == heimdallv1.RestorePending || rs.Phase == heimdallv1.RestoreRunning {
		st.progressing(ReasonRestoring, rs.Message)
	}
}

// serverPods counts the server's pods, terminating ones included. It lists metadata only and
// reads the API server directly: an informer on every pod of the cluster just for restores would
// cost the manager far more memory than the rare list does.
func (r *HeimdallInstanceReconciler) serverPods(ctx context.Context, hi *heimdallv1.HeimdallInstance) (int, error) {
	reader := r.APIReader
	if reader == nil {
		reader = r.Client
	}
	pods := &metav1.PartialObjectMetadataList{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := reader.List(ctx, pods, client.InNamespace(hi.Namespace),
		client.MatchingLabels(resources.SelectorLabels(hi, resources.ComponentServer))); err != nil {
		return 0, fmt.Errorf("list server pods: %w", err)
	}
	return len(pods.Items), nil
}
