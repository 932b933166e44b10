// Package controllers holds the HeimdallInstance reconciler: it reads inputs, asks the builders in
// package resources for the desired children, applies what differs and reports status.
package controllers

import (
	"context"
	"errors"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"k8s.io/apimachinery/pkg/runtime"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// UncachedObjects are read straight from the API server, never from the manager's cache. The
// operator watches Secrets for metadata only (to know when to reconcile) and reads the few it
// needs when it reconciles: caching every Secret of the cluster, data included, would cost the
// manager memory in proportion to everything else that runs there. Pass this to
// client.CacheOptions.DisableFor when building the manager.
var UncachedObjects = []client.Object{&corev1.Secret{}}

// ErrNextLoop asks for another reconcile soon; it is not a failure.
var ErrNextLoop = errors.New("reconcile again")

// secretRefIndex indexes instances by the names of the Secrets they consume.
const secretRefIndex = "heimdall.io/secret-refs"

// HeimdallInstanceReconciler reconciles a HeimdallInstance.
type HeimdallInstanceReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	Images   resources.Images
	// APIReader reads without the cache, for rare lists not worth an informer (the server's pods
	// before a restore). SetupWithManager fills it in.
	APIReader client.Reader
	// Clock tells time-driven features (JWT key rotation) what time it is; nil is the real clock.
	Clock clock.PassiveClock
}

func (r *HeimdallInstanceReconciler) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock.Now()
}

// +kubebuilder:rbac:groups=heimdall.io,resources=heimdallinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=heimdall.io,resources=heimdallinstances/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=heimdall.io,resources=heimdallinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups=core,resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=core,resources=services;configmaps;serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=core,resources=pods,verbs=list
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=cert-manager.io,resources=certificates,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors;prometheusrules,verbs=get;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=batch,resources=cronjobs,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=core,resources=persistentvolumeclaims,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete

// Reconcile brings the children of one HeimdallInstance to their desired state and reports it.
func (r *HeimdallInstanceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	hi := &heimdallv1.HeimdallInstance{}
	if err := r.Get(ctx, req.NamespacedName, hi); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !hi.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owner references let the garbage collector remove the children
	}
	status := newStatus(hi)
	err := r.reconcileChildren(ctx, hi, status)
	if errors.Is(err, ErrNextLoop) {
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	if err != nil {
		logf.FromContext(ctx).Error(err, "reconcile failed")
		status.failed("ReconcileError", err.Error())
		r.Recorder.Eventf(hi, nil, corev1.EventTypeWarning, "ReconcileError", "Reconcile", "%v", err)
	} else if err := r.observe(ctx, hi, status); err != nil {
		return ctrl.Result{}, err
	}
	if werr := r.writeStatus(ctx, hi, status); werr != nil {
		return ctrl.Result{}, errors.Join(err, werr)
	}
	if err != nil {
		return ctrl.Result{}, err // a non-nil error requeues with exponential backoff
	}
	return ctrl.Result{RequeueAfter: status.requeueAfter}, nil
}

// reconcileChildren: secrets, then every desired child, then removal of unwanted ones.
func (r *HeimdallInstanceReconciler) reconcileChildren(ctx context.Context, hi *heimdallv1.HeimdallInstance, st *instanceStatus) error {
	secretsHash, prob, err := r.reconcileSecrets(ctx, hi)
	if err != nil {
		return err
	}
	if prob != nil {
		st.failed(prob.Reason, prob.Message)
		r.Recorder.Eventf(hi, nil, corev1.EventTypeWarning, prob.Reason, "Reconcile", "%s", prob.Message)
		return nil
	}
	handoff, err := r.handoffReplicas(ctx, hi)
	if err != nil {
		return err
	}
	in := resources.Inputs{Images: r.Images, SecretsHash: secretsHash, HandoffReplicas: handoff}
	// ServiceAccounts before anything that makes Jobs: a Job whose ServiceAccount does not exist
	// yet fails to create its pod and backs off.
	for _, obj := range resources.Desired(hi, in) {
		if _, ok := obj.(*corev1.ServiceAccount); ok {
			if err := r.applyChild(ctx, hi, obj); err != nil {
				return err
			}
		}
	}
	// The restore first: while it pauses the server, no migration starts and no key rotation
	// step that needs serving pods is taken.
	if in.Paused, err = r.observeRestore(ctx, hi, st); err != nil {
		return err
	}
	if err := r.reconcileUpgrade(ctx, hi, st, &in); err != nil {
		return err
	}
	if err := r.reconcileJWTRotation(ctx, hi, st, &in); err != nil {
		return err
	}
	for _, obj := range resources.Desired(hi, in) {
		if err := r.applyChild(ctx, hi, obj); err != nil {
			return err
		}
	}
	for _, obj := range resources.Absent(hi) {
		if err := r.deleteChild(ctx, hi, obj); err != nil {
			return err
		}
	}
	if err := r.reconcileTLS(ctx, hi, st); err != nil {
		return err
	}
	if err := r.reconcileMonitoring(ctx, hi, st); err != nil {
		return err
	}
	return r.reconcileBackup(ctx, hi, st, in)
}

// SetupWithManager watches instances, their children, and the Secrets they reference (generated
// or brought by the user, so creating a missing Secret heals the instance).
func (r *HeimdallInstanceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if err := registerInstanceMetrics(mgr.GetCache()); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &heimdallv1.HeimdallInstance{}, secretRefIndex,
		func(o client.Object) []string {
			var names []string
			for name := range resources.Refs(o.(*heimdallv1.HeimdallInstance)).Required() {
				names = append(names, name)
			}
			return names
		}); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&heimdallv1.HeimdallInstance{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&appsv1.Deployment{}).
		Owns(&appsv1.StatefulSet{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}, builder.OnlyMetadata).
		Owns(&corev1.ServiceAccount{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&networkingv1.Ingress{}).
		Owns(&batchv1.Job{}).
		Owns(&batchv1.CronJob{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.instancesUsingSecret), builder.OnlyMetadata).
		Named("heimdallinstance").
		Complete(r)
}

func (r *HeimdallInstanceReconciler) instancesUsingSecret(ctx context.Context, o client.Object) []reconcile.Request {
	var list heimdallv1.HeimdallInstanceList
	if err := r.List(ctx, &list, client.InNamespace(o.GetNamespace()), client.MatchingFields{secretRefIndex: o.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "list instances for secret", "secret", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, hi := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&hi)})
	}
	return reqs
}
