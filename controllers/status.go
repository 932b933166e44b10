package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// Condition types and reasons.
const (
	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
	ConditionDegraded    = "Degraded"

	ReasonAllReady           = "AllComponentsReady"
	ReasonComponentsNotReady = "ComponentsNotReady"
	ReasonReconciled         = "Reconciled"
	ReasonAsExpected         = "AsExpected"
	ReasonRolloutFailed      = "RolloutFailed"

	modeManaged  = "Managed"
	modeExternal = "External"
)

// instanceStatus collects what one reconcile learns; it is written once at the end.
type instanceStatus struct {
	next    heimdallv1.HeimdallInstanceStatus
	failure *problem
	// requeueAfter is when a time-driven feature next needs a reconcile (0: none).
	requeueAfter time.Duration
	// progress is work under way that components' readiness does not show (a migration Job).
	progress *problem
}

func newStatus(hi *heimdallv1.HeimdallInstance) *instanceStatus {
	return &instanceStatus{next: *hi.Status.DeepCopy()}
}

func (s *instanceStatus) failed(reason, message string) {
	s.failure = &problem{Reason: reason, Message: message}
}

func (s *instanceStatus) progressing(reason, message string) {
	s.progress = &problem{Reason: reason, Message: message}
}

// requeueWithin asks for the next reconcile within d at the latest.
func (s *instanceStatus) requeueWithin(d time.Duration) {
	if s.requeueAfter == 0 || d < s.requeueAfter {
		s.requeueAfter = d
	}
}

// observe reads the children's status into the instance status.
func (r *HeimdallInstanceReconciler) observe(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	c := &st.next.Components
	var err error
	if c.Postgres, err = r.observeStateful(ctx, hi, resources.ComponentPostgres, hi.Spec.Postgres.Managed != nil); err != nil {
		return err
	}
	if c.Redis, err = r.observeStateful(ctx, hi, resources.ComponentRedis, hi.Spec.Redis.Managed != nil); err != nil {
		return err
	}
	if hi.Spec.FusionAuth.Managed == nil {
		c.FusionAuth = externalComponent()
	} else {
		d, err := r.getDeployment(ctx, hi.Namespace, resources.ComponentName(hi, resources.ComponentFusionAuth))
		if err != nil {
			return err
		}
		c.FusionAuth = deploymentComponent(d)
	}
	d, err := r.getDeployment(ctx, hi.Namespace, resources.ServerName(hi))
	if err != nil {
		return err
	}
	c.Server = deploymentComponent(d)
	st.next.Endpoint = resources.Endpoint(hi)
	st.next.Selector = labels.SelectorFromSet(resources.SelectorLabels(hi, resources.ComponentServer)).String()
	if d != nil {
		st.next.Replicas = d.Status.Replicas
		if c.Server.Ready {
			// Every pod is updated and ready: the template's version is the one that serves.
			st.next.Version = d.Spec.Template.Labels["app.kubernetes.io/version"]
		}
		if failed := rolloutFailure(d); failed != "" {
			st.failed(ReasonRolloutFailed, failed)
		}
	}
	reportRestore(hi, st)
	return r.observeBackup(ctx, hi, st)
}

func (r *HeimdallInstanceReconciler) observeStateful(ctx context.Context, hi *heimdallv1.HeimdallInstance, component string, managed bool) (*heimdallv1.ComponentStatus, error) {
	if !managed {
		return externalComponent(), nil
	}
	s := &appsv1.StatefulSet{}
	err := r.Get(ctx, client.ObjectKey{Namespace: hi.Namespace, Name: resources.ComponentName(hi, component)}, s)
	if apierrors.IsNotFound(err) {
		return &heimdallv1.ComponentStatus{Mode: modeManaged, Message: "StatefulSet not created yet"}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get statefulset %s: %w", component, err)
	}
	want := ptr.Deref(s.Spec.Replicas, 1)
	cs := &heimdallv1.ComponentStatus{Mode: modeManaged, Replicas: want, ReadyReplicas: s.Status.ReadyReplicas}
	cs.Ready = s.Status.ObservedGeneration >= s.Generation && s.Status.ReadyReplicas >= want && s.Status.UpdatedReplicas >= want
	if !cs.Ready {
		cs.Message = fmt.Sprintf("%d/%d pods ready", s.Status.ReadyReplicas, want)
	}
	return cs, nil
}

func (r *HeimdallInstanceReconciler) getDeployment(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	d := &appsv1.Deployment{}
	err := r.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get deployment %s: %w", name, err)
	}
	return d, nil
}

func deploymentComponent(d *appsv1.Deployment) *heimdallv1.ComponentStatus {
	if d == nil {
		return &heimdallv1.ComponentStatus{Mode: modeManaged, Message: "Deployment not created yet"}
	}
	want := ptr.Deref(d.Spec.Replicas, 1)
	cs := &heimdallv1.ComponentStatus{Mode: modeManaged, Replicas: want, ReadyReplicas: d.Status.ReadyReplicas}
	cs.Ready = d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= want &&
		d.Status.ReadyReplicas >= want && d.Status.Replicas == d.Status.UpdatedReplicas
	if !cs.Ready {
		cs.Message = fmt.Sprintf("%d/%d pods updated and ready", min(d.Status.UpdatedReplicas, d.Status.ReadyReplicas), want)
	}
	return cs
}

// rolloutFailure is the Deployment controller's verdict that a rollout stopped progressing.
func rolloutFailure(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return fmt.Sprintf("Deployment %s: %s", d.Name, c.Message)
		}
	}
	return ""
}

func externalComponent() *heimdallv1.ComponentStatus {
	// The operator does not probe external services; the server's readiness probe does.
	return &heimdallv1.ComponentStatus{Ready: true, Mode: modeExternal}
}

// conditions derives Ready, Progressing and Degraded from the components and any failure.
func (s *instanceStatus) conditions(generation int64) {
	set := func(t string, ok bool, reason, msg string) {
		st := metav1.ConditionFalse
		if ok {
			st = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&s.next.Conditions, metav1.Condition{Type: t, Status: st, Reason: reason, Message: msg, ObservedGeneration: generation})
	}
	if f := s.failure; f != nil {
		set(ConditionReady, false, f.Reason, f.Message)
		set(ConditionProgressing, false, f.Reason, f.Message)
		set(ConditionDegraded, true, f.Reason, f.Message)
		return
	}
	var waiting []string
	c := s.next.Components
	for _, x := range []struct {
		name string
		cs   *heimdallv1.ComponentStatus
	}{{"postgres", c.Postgres}, {"redis", c.Redis}, {"fusionAuth", c.FusionAuth}, {"server", c.Server}} {
		if x.cs == nil || !x.cs.Ready {
			waiting = append(waiting, x.name)
		}
	}
	set(ConditionDegraded, false, ReasonAsExpected, "")
	// Each condition is set once: flipping one twice would move its lastTransitionTime.
	progress := s.progress
	if len(waiting) == 0 {
		set(ConditionReady, true, ReasonAllReady, "All components are ready")
	} else {
		msg := "Waiting for " + strings.Join(waiting, ", ")
		set(ConditionReady, false, ReasonComponentsNotReady, msg)
		if progress == nil {
			progress = &problem{Reason: ReasonComponentsNotReady, Message: msg}
		}
	}
	if progress == nil {
		set(ConditionProgressing, false, ReasonReconciled, "")
	} else {
		set(ConditionProgressing, true, progress.Reason, progress.Message)
	}
}

// writeStatus patches the status subresource, and only when something changed.
func (r *HeimdallInstanceReconciler) writeStatus(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	st.next.ObservedGeneration = hi.Generation
	st.conditions(hi.Generation)
	if equality.Semantic.DeepEqual(hi.Status, st.next) {
		return nil
	}
	orig := hi.DeepCopy()
	hi.Status = st.next
	if err := r.Status().Patch(ctx, hi, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("patch status: %w", client.IgnoreNotFound(err))
	}
	return nil
}
