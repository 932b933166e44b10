package controllers

import (
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// completeJob writes the status the Job controller writes for a succeeded Job; v1.37's validation
// demands startTime, completionTime and SuccessCriteriaMet next to Complete.
func completeJob(ns, name string) {
	GinkgoHelper()
	j := get(ns, name, &batchv1.Job{})
	now := metav1.Now()
	if j.Status.StartTime == nil {
		j.Status.StartTime = &now
	}
	j.Status.CompletionTime = &now
	j.Status.Succeeded = 1
	j.Status.Conditions = append(j.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now})
	Expect(k8s.Status().Update(ctx, j)).To(Succeed())
}

// failJob writes the status of a Job that exhausted its backoffLimit: FailureTarget, then Failed.
func failJob(ns, name, reason, message string) {
	GinkgoHelper()
	j := get(ns, name, &batchv1.Job{})
	now := metav1.Now()
	if j.Status.StartTime == nil {
		j.Status.StartTime = &now
	}
	j.Status.Failed = resources.MigrationBackoffLimit + 1
	j.Status.Conditions = append(j.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now},
		batchv1.JobCondition{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastTransitionTime: now})
	Expect(k8s.Status().Update(ctx, j)).To(Succeed())
}

func migrationJobs(ns string) []string {
	GinkgoHelper()
	var jobs batchv1.JobList
	Expect(k8s.List(ctx, &jobs, client.InNamespace(ns),
		client.MatchingLabels{"app.kubernetes.io/component": resources.ComponentMigration})).To(Succeed())
	var names []string
	for _, j := range jobs.Items {
		if j.DeletionTimestamp.IsZero() {
			names = append(names, j.Name)
		}
	}
	return names
}

func recordedEvents(r *HeimdallInstanceReconciler) []string {
	var out []string
	for {
		select {
		case e := <-r.Recorder.(*events.FakeRecorder).Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

func serverImage(ns, name string) string {
	GinkgoHelper()
	return get(ns, name, &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Image
}

var _ = Describe("Upgrades", func() {
	var (
		ns string
		r  *HeimdallInstanceReconciler
		w  *writeCounter
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
	})

	// installed is an instance whose first migration succeeded and whose children are ready.
	installed := func(name string) *heimdallv1.HeimdallInstance {
		GinkgoHelper()
		hi := createInstance(minimalInstance(ns, name))
		reconcileOnce(r, hi)
		completeJob(ns, name+"-migrate-1-4-0")
		markAllReady(hi)
		reconcileOnce(r, hi)
		hi = get(ns, name, &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Version).To(Equal("1.4.0"))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
		return hi
	}

	It("runs the first version's migration as a Job at install, next to the Deployment of that version", func() {
		hi := createInstance(minimalInstance(ns, "fresh"))
		reconcileOnce(r, hi)

		job := get(ns, "fresh-migrate-1-4-0", &batchv1.Job{})
		expectOwned(hi, job, resources.ComponentMigration)
		Expect(job.Annotations).To(HaveKeyWithValue(resources.MigrationVersionAnnotation, "1.4.0"))
		Expect(job.Spec.BackoffLimit).To(HaveValue(BeEquivalentTo(6)))
		Expect(job.Spec.TTLSecondsAfterFinished).To(BeNil(), "the Job is the record of the migration")
		pod := job.Spec.Template.Spec
		Expect(pod.RestartPolicy).To(Equal(corev1.RestartPolicyNever))
		Expect(pod.SecurityContext.RunAsNonRoot).To(HaveValue(BeTrue()))
		Expect(pod.SecurityContext.SeccompProfile.Type).To(Equal(corev1.SeccompProfileTypeRuntimeDefault))
		c := pod.Containers[0]
		Expect(c.Image).To(Equal("registry.test/heimdall:1.4.0"))
		Expect(c.Command).To(Equal([]string{"/heimdall-migrate", "up"}))
		Expect(c.SecurityContext.AllowPrivilegeEscalation).To(HaveValue(BeFalse()))
		Expect(c.SecurityContext.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
		server := envMap(get(ns, "fresh", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Env)
		for _, k := range []string{"DB_USERNAME", "DB_PASSWORD", "DATABASE_URL"} {
			Expect(envMap(c.Env)).To(HaveKeyWithValue(k, server[k]))
		}

		// Nothing serves before this version: the Deployment runs it at once and its pods become
		// ready once the schema is in place.
		Expect(serverImage(ns, "fresh")).To(Equal("registry.test/heimdall:1.4.0"))
		Expect(get(ns, "fresh", &appsv1.Deployment{}).Spec.Template.Spec.InitContainers).To(BeEmpty())
		hi = get(ns, "fresh", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionProgressing)).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", ReasonMigrating), HaveField("Message", ContainSubstring("fresh-migrate-1-4-0"))))
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("creates the ServiceAccount a migration Job runs as before the Job", func() {
		hi := createInstance(minimalInstance(ns, "order"))
		reconcileOnce(r, hi)
		sa := get(ns, "order", &corev1.ServiceAccount{})
		job := get(ns, "order-migrate-1-4-0", &batchv1.Job{})
		Expect(job.Spec.Template.Spec.ServiceAccountName).To(Equal(sa.Name))
		// resourceVersions come from one etcd revision counter: lower means written earlier.
		Expect(strconv.ParseInt(sa.ResourceVersion, 10, 64)).To(BeNumerically("<", must(strconv.ParseInt(job.ResourceVersion, 10, 64))))
	})

	It("rolls the Deployment to a new version only after its migration succeeds", func() {
		hi := installed("up")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)

		job := get(ns, "up-migrate-1-5-0", &batchv1.Job{})
		Expect(job.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.5.0"))
		d := get(ns, "up", &appsv1.Deployment{})
		Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/heimdall:1.4.0"))
		Expect(d.Spec.Template.Labels).To(HaveKeyWithValue("app.kubernetes.io/version", "1.4.0"))
		hi = get(ns, "up", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Version).To(Equal("1.4.0"))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue), "the old version still serves")
		Expect(condition(hi, ConditionProgressing)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonMigrating),
			HaveField("Message", ContainSubstring("version 1.4.0 serves until it succeeds"))))

		completeJob(ns, "up-migrate-1-5-0")
		reconcileOnce(r, hi)
		Expect(serverImage(ns, "up")).To(Equal("registry.test/heimdall:1.5.0"))
		hi = get(ns, "up", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Version).To(Equal("1.4.0"), "reported once the new pods are ready, not before")

		markReady(ns, "up", false)
		reconcileOnce(r, hi)
		hi = get(ns, "up", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Version).To(Equal("1.5.0"))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("keeps the old version serving and reports Degraded when the migration fails; a fixed version recovers", func() {
		hi := installed("bad")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		failJob(ns, "bad-migrate-1-5-0", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
		for range 2 {
			reconcileOnce(r, hi)
		}
		Expect(serverImage(ns, "bad")).To(Equal("registry.test/heimdall:1.4.0"))
		hi = get(ns, "bad", &heimdallv1.HeimdallInstance{})
		Expect(hi.Status.Version).To(Equal("1.4.0"))
		Expect(condition(hi, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonMigrationFailed),
			HaveField("Message", And(ContainSubstring("bad-migrate-1-5-0"), ContainSubstring("BackoffLimitExceeded: Job has reached the specified backoff limit"),
				ContainSubstring("version 1.4.0 keeps serving")))))
		var failures []string
		for _, e := range recordedEvents(r) {
			if strings.Contains(e, ReasonMigrationFailed) {
				failures = append(failures, e)
			}
		}
		Expect(failures).To(HaveLen(1), "one event per failure, not one per reconcile")

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.1" })
		reconcileOnce(r, hi)
		hi = get(ns, "bad", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Reason", ReasonMigrating))
		Expect(migrationJobs(ns)).To(ConsistOf("bad-migrate-1-4-0", "bad-migrate-1-5-1"), "the failed Job of a version no longer asked for goes")
		completeJob(ns, "bad-migrate-1-5-1")
		reconcileOnce(r, hi)
		Expect(serverImage(ns, "bad")).To(Equal("registry.test/heimdall:1.5.1"))
	})

	It("recovers when spec.version goes back, and retries when the failed version is asked for again", func() {
		hi := installed("back")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		failed := get(ns, "back-migrate-1-5-0", &batchv1.Job{}).UID
		failJob(ns, "back-migrate-1-5-0", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
		reconcileOnce(r, hi)
		Expect(condition(get(ns, "back", &heimdallv1.HeimdallInstance{}), ConditionDegraded)).To(HaveField("Status", metav1.ConditionTrue))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.4.0" })
		reconcileOnce(r, hi)
		hi = get(ns, "back", &heimdallv1.HeimdallInstance{})
		Expect(condition(hi, ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(condition(hi, ConditionReady)).To(HaveField("Status", metav1.ConditionTrue))
		Expect(condition(hi, ConditionProgressing)).To(HaveField("Status", metav1.ConditionFalse))
		Expect(serverImage(ns, "back")).To(Equal("registry.test/heimdall:1.4.0"))
		Expect(migrationJobs(ns)).To(ConsistOf("back-migrate-1-4-0"))

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		retry := get(ns, "back-migrate-1-5-0", &batchv1.Job{})
		Expect(retry.UID).NotTo(Equal(failed), "asking for the version again runs its migration again")
		Expect(retry.Status.Conditions).To(BeEmpty())
		Expect(condition(get(ns, "back", &heimdallv1.HeimdallInstance{}), ConditionDegraded)).To(HaveField("Status", metav1.ConditionFalse))
	})

	It("creates the Job once and writes nothing more while it runs, even after an operator restart", func() {
		hi := installed("once")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		reconcileOnce(r, hi)
		uid := get(ns, "once-migrate-1-5-0", &batchv1.Job{}).UID
		before := w.Load()
		for range 3 {
			reconcileOnce(r, hi)
		}
		Expect(w.Load()).To(Equal(before), "a running migration must not cause writes")

		restarted, rw := directReconciler() // a new process knows nothing but the cluster
		reconcileOnce(restarted, hi)
		Expect(rw.Load()).To(BeZero())
		Expect(migrationJobs(ns)).To(ConsistOf("once-migrate-1-4-0", "once-migrate-1-5-0"))
		Expect(get(ns, "once-migrate-1-5-0", &batchv1.Job{}).UID).To(Equal(uid))
		Expect(serverImage(ns, "once")).To(Equal("registry.test/heimdall:1.4.0"))

		completeJob(ns, "once-migrate-1-5-0")
		reconcileOnce(restarted, hi)
		Expect(serverImage(ns, "once")).To(Equal("registry.test/heimdall:1.5.0"))
	})

	It("keeps the Jobs of the last two versions", func() {
		hi := installed("hist")
		for _, v := range []string{"1.5.0", "1.6.0"} {
			updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = v })
			reconcileOnce(r, hi)
			completeJob(ns, "hist-migrate-"+strings.ReplaceAll(v, ".", "-"))
			reconcileOnce(r, hi)
		}
		Expect(migrationJobs(ns)).To(ConsistOf("hist-migrate-1-5-0", "hist-migrate-1-6-0"))
		Expect(serverImage(ns, "hist")).To(Equal("registry.test/heimdall:1.6.0"))
	})

	It("keeps the serving image while spec.image already names the new one", func() {
		hi := minimalInstance(ns, "pinned")
		hi.Spec.Image = "registry.test/custom:a"
		hi = createInstance(hi)
		reconcileOnce(r, hi)
		completeJob(ns, "pinned-migrate-1-4-0")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version, s.Image = "1.5.0", "registry.test/custom:b" })
		reconcileOnce(r, hi)
		Expect(get(ns, "pinned-migrate-1-5-0", &batchv1.Job{}).Spec.Template.Spec.Containers[0].Image).To(Equal("registry.test/custom:b"))
		Expect(serverImage(ns, "pinned")).To(Equal("registry.test/custom:a"))
		completeJob(ns, "pinned-migrate-1-5-0")
		reconcileOnce(r, hi)
		Expect(serverImage(ns, "pinned")).To(Equal("registry.test/custom:b"))
	})

	It("rolls only the server Deployment when a token lifetime changes", func() {
		hi := installed("tokens")
		versions := func() map[string]string {
			GinkgoHelper()
			rv := map[string]string{}
			for kind, list := range map[string]client.ObjectList{
				"Deployment": &appsv1.DeploymentList{}, "StatefulSet": &appsv1.StatefulSetList{}, "Service": &corev1.ServiceList{},
				"ConfigMap": &corev1.ConfigMapList{}, "Secret": &corev1.SecretList{}, "ServiceAccount": &corev1.ServiceAccountList{},
				"HorizontalPodAutoscaler": &autoscalingv2.HorizontalPodAutoscalerList{}, "Job": &batchv1.JobList{},
			} {
				Expect(k8s.List(ctx, list, client.InNamespace(ns))).To(Succeed())
				items, err := meta.ExtractList(list)
				Expect(err).NotTo(HaveOccurred())
				for _, o := range items {
					obj := o.(client.Object)
					rv[kind+"/"+obj.GetName()] = obj.GetResourceVersion()
				}
			}
			return rv
		}
		before := versions()
		Expect(before).To(HaveKey("Deployment/tokens-fusionauth"))
		hash := get(ns, "tokens", &appsv1.Deployment{}).Spec.Template.Annotations[resources.ConfigHashAnnotation]

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Tokens.AccessTokenLifetimeSeconds = 600 })
		reconcileOnce(r, hi)
		after := versions()
		changed := []string{}
		for k, v := range after {
			if before[k] != v {
				changed = append(changed, k)
			}
		}
		Expect(changed).To(ConsistOf("Deployment/tokens"))
		d := get(ns, "tokens", &appsv1.Deployment{})
		Expect(d.Spec.Template.Annotations[resources.ConfigHashAnnotation]).NotTo(Equal(hash))
		Expect(envMap(d.Spec.Template.Spec.Containers[0].Env)).To(HaveKeyWithValue("ACCESS_TOKEN_LIFETIME", "600"))
		Expect(migrationJobs(ns)).To(ConsistOf("tokens-migrate-1-4-0"), "configuration changes run no migration")
	})

	It("refuses to adopt a Job of the same name it does not control", func() {
		Expect(k8s.Create(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "squat-migrate-1-4-0", Namespace: ns},
			Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
				Containers: []corev1.Container{{Name: "x", Image: "x"}}}}}})).To(Succeed())
		hi := createInstance(minimalInstance(ns, "squat"))
		_, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).To(MatchError(ContainSubstring("Job squat-migrate-1-4-0 exists and is not controlled by this instance")))
		Expect(apierrors.IsNotFound(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "squat"}, &appsv1.Deployment{}))).To(BeTrue())
	})
})

var _ = Describe("Upgrades in a manager", func() {
	It("rolls the server when the watched migration Job completes", func() {
		hi := createInstance(minimalInstance(watchedNamespace, "upgrade-mgr"))
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: watchedNamespace, Name: "upgrade-mgr"}, &appsv1.Deployment{})
		}).WithTimeout(20 * time.Second).Should(Succeed())
		completeJob(watchedNamespace, "upgrade-mgr-migrate-1-4-0")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Version = "1.5.0" })
		Eventually(func() error {
			return k8s.Get(ctx, client.ObjectKey{Namespace: watchedNamespace, Name: "upgrade-mgr-migrate-1-5-0"}, &batchv1.Job{})
		}).WithTimeout(20 * time.Second).Should(Succeed())
		Consistently(func() string { return serverImage(watchedNamespace, "upgrade-mgr") }).
			WithTimeout(2 * time.Second).Should(Equal("registry.test/heimdall:1.4.0"))

		completeJob(watchedNamespace, "upgrade-mgr-migrate-1-5-0") // only the Job changes: its watch must wake the reconciler
		Eventually(func() string { return serverImage(watchedNamespace, "upgrade-mgr") }).
			WithTimeout(20 * time.Second).Should(Equal("registry.test/heimdall:1.5.0"))
	})
})

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
