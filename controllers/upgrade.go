package controllers

import (
	"cmp"
	"context"
	"fmt"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// Condition reasons of upgrades.
const (
	ReasonMigrating       = "Migrating"
	ReasonMigrationFailed = "MigrationFailed"
)

// reconcileUpgrade runs spec.version's schema migration once, as a Job, and sets in.ServingVersion:
// the version the server runs now, which is the previous one until that Job has succeeded.
func (r *HeimdallInstanceReconciler) reconcileUpgrade(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus, in *resources.Inputs) error {
	target := hi.Spec.Version
	current, currentImage, err := r.currentServerVersion(ctx, hi)
	if err != nil {
		return err
	}
	if in.Paused {
		holdUpgrade(hi, in, current, currentImage)
		return nil
	}
	job, err := r.ensureMigrationJob(ctx, hi, current)
	if err != nil {
		return err
	}
	state, failure := resources.MigrationSucceeded, "" // no Job: the target already serves
	if job != nil {
		state, failure = resources.JobOutcome(job)
	}
	in.ServingVersion = resources.ServingVersion(current, target, state)
	if in.ServingVersion != target && hi.Spec.Image != "" {
		// spec.image names only the new image; the held-back version keeps the one it runs.
		in.ServingImage = currentImage
	}
	switch state {
	case resources.MigrationFailed:
		msg := fmt.Sprintf("Migration Job %s to version %s failed: %s", job.Name, target, failure)
		if in.ServingVersion != target {
			msg += fmt.Sprintf("; version %s keeps serving", in.ServingVersion)
		}
		if c := meta.FindStatusCondition(hi.Status.Conditions, ConditionDegraded); c == nil || c.Reason != ReasonMigrationFailed {
			r.Recorder.Eventf(hi, job, corev1.EventTypeWarning, ReasonMigrationFailed, "Migrate", "%s", msg)
		}
		st.failed(ReasonMigrationFailed, msg)
	case resources.MigrationRunning:
		msg := fmt.Sprintf("Migration Job %s to version %s is running", job.Name, target)
		if n := job.Status.Failed; n > 0 {
			msg += fmt.Sprintf(" (%d of %d attempts failed)", n, resources.MigrationBackoffLimit+1)
		}
		if in.ServingVersion != target {
			msg += fmt.Sprintf("; version %s serves until it succeeds", in.ServingVersion)
		}
		st.progressing(ReasonMigrating, msg)
	}
	return r.deleteStaleMigrationJobs(ctx, hi, target, in.ServingVersion)
}

// holdUpgrade keeps the server at the version its Deployment runs while a restore pauses it: no
// migration Job starts, and none's verdict moves the serving version, so the restore migrates the
// loaded dump to exactly that version (status.version stays true) and spec.version's migration
// runs afterwards, on the restored data. At first install (no version yet) that is spec.version.
func holdUpgrade(hi *heimdallv1.HeimdallInstance, in *resources.Inputs, current, currentImage string) {
	in.ServingVersion = cmp.Or(current, hi.Spec.Version)
	if in.ServingVersion != hi.Spec.Version && hi.Spec.Image != "" {
		in.ServingImage = currentImage
	}
}

// deleteMigrationRecords removes the migration Jobs of every version but the one a restore
// migrates to, before that restore runs: they describe a database the restore replaces, and a
// leftover Complete Job of spec.version would let that version serve on a schema never migrated.
func (r *HeimdallInstanceReconciler) deleteMigrationRecords(ctx context.Context, hi *heimdallv1.HeimdallInstance, keep string) error {
	jobs, err := r.listJobs(ctx, hi, resources.ComponentMigration)
	if err != nil {
		return err
	}
	for i := range jobs {
		j := &jobs[i]
		if !metav1.IsControlledBy(j, hi) || j.Annotations[resources.MigrationVersionAnnotation] == keep {
			continue
		}
		j.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("Job"))
		if err := r.deleteChild(ctx, hi, j); err != nil {
			return err
		}
	}
	return nil
}

// listJobs lists the instance's Jobs of one component.
func (r *HeimdallInstanceReconciler) listJobs(ctx context.Context, hi *heimdallv1.HeimdallInstance, component string) ([]batchv1.Job, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(hi.Namespace),
		client.MatchingLabels(resources.SelectorLabels(hi, component))); err != nil {
		return nil, fmt.Errorf("list %s Jobs: %w", component, err)
	}
	return jobs.Items, nil
}

// currentServerVersion is the version (and image) the server Deployment runs, or, without a
// Deployment, the version status last saw serving; empty at first install.
func (r *HeimdallInstanceReconciler) currentServerVersion(ctx context.Context, hi *heimdallv1.HeimdallInstance) (string, string, error) {
	d, err := r.getDeployment(ctx, hi.Namespace, resources.ServerName(hi))
	if err != nil || d == nil || !metav1.IsControlledBy(d, hi) {
		return hi.Status.Version, "", err
	}
	image := ""
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		image = cs[0].Image
	}
	return d.Spec.Template.Labels["app.kubernetes.io/version"], image, nil
}

// ensureMigrationJob returns the migration Job of spec.version, creating it unless that version
// already serves (its schema is then in place). An existing Job is never changed: its pod
// template is immutable, and it is the record of what ran.
func (r *HeimdallInstanceReconciler) ensureMigrationJob(ctx context.Context, hi *heimdallv1.HeimdallInstance, current string) (*batchv1.Job, error) {
	desired := resources.MigrationJob(hi, r.Images)
	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKeyFromObject(desired), job)
	switch {
	case err == nil && !metav1.IsControlledBy(job, hi):
		return nil, fmt.Errorf("Job %s exists and is not controlled by this instance; refusing to take it over", job.Name)
	case err == nil && job.Annotations[resources.MigrationVersionAnnotation] != hi.Spec.Version:
		// Names map "." to "-", so 1.5.0 and 1-5-0 share one; never read one's verdict as the other's.
		return nil, fmt.Errorf("Job %s migrated version %q, not %q; delete it to migrate to %q",
			job.Name, job.Annotations[resources.MigrationVersionAnnotation], hi.Spec.Version, hi.Spec.Version)
	case err == nil:
		return job, nil
	case !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("get Job %s: %w", desired.Name, err)
	case current == hi.Spec.Version:
		return nil, nil
	}
	if err := r.applyChild(ctx, hi, desired); err != nil {
		return nil, err
	}
	return desired, nil
}

// deleteStaleMigrationJobs keeps the Jobs of the target and serving versions and the newest
// others as the record, and removes failed Jobs of versions no longer asked for.
func (r *HeimdallInstanceReconciler) deleteStaleMigrationJobs(ctx context.Context, hi *heimdallv1.HeimdallInstance, keep ...string) error {
	jobs, err := r.listJobs(ctx, hi, resources.ComponentMigration)
	if err != nil {
		return err
	}
	owned := jobs[:0]
	for _, j := range jobs {
		if metav1.IsControlledBy(&j, hi) {
			owned = append(owned, j)
		}
	}
	for _, j := range resources.StaleMigrationJobs(owned, keep...) {
		j.SetGroupVersionKind(batchv1.SchemeGroupVersion.WithKind("Job"))
		if err := r.deleteChild(ctx, hi, j); err != nil {
			return err
		}
	}
	return nil
}
