package gitops

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
)

const timeout = 30 * time.Second

func instance(ns, name string) *heimdallv1.HeimdallInstance {
	return &heimdallv1.HeimdallInstance{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       heimdallv1.HeimdallInstanceSpec{Version: "1.0.0", Issuer: "https://auth.example.com"},
	}
}

// assessment is what Argo CD shows for a resource.
type assessment struct{ Status, Message string }

// liveHealth reads the instance from the API server and runs the health check on it.
func liveHealth(hi *heimdallv1.HeimdallInstance) func(Gomega) assessment {
	return func(g Gomega) assessment {
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(heimdallv1.GroupVersion.WithKind("HeimdallInstance"))
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), live)).To(Succeed())
		status, message, err := health(live)
		g.Expect(err).NotTo(HaveOccurred())
		return assessment{status, message}
	}
}

// markReady writes the status a healthy cluster's controllers would write.
func markReady(g Gomega, ns, name string, statefulSet bool) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	g.Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if statefulSet {
			s := &appsv1.StatefulSet{}
			if err := k8s.Get(ctx, key, s); err != nil {
				return err
			}
			n := ptr.Deref(s.Spec.Replicas, 1)
			s.Status = appsv1.StatefulSetStatus{ObservedGeneration: s.Generation, Replicas: n, ReadyReplicas: n,
				UpdatedReplicas: n, AvailableReplicas: n, CurrentReplicas: n}
			return k8s.Status().Update(ctx, s)
		}
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, ReadyReplicas: n,
			UpdatedReplicas: n, AvailableReplicas: n}
		return k8s.Status().Update(ctx, d)
	})).To(Succeed())
}

// markAllReady completes the instance's Jobs (the migration) and marks its workloads ready,
// again and again as the operator rolls them, until the instance reports Ready.
func markAllReady(hi *heimdallv1.HeimdallInstance) {
	GinkgoHelper()
	ns, name := hi.Namespace, hi.Name
	Eventually(func(g Gomega) {
		var jobs batchv1.JobList
		g.Expect(k8s.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
		for i := range jobs.Items {
			if j := &jobs.Items[i]; j.Status.CompletionTime == nil {
				completeJob(g, j)
			}
		}
		markReady(g, ns, name+"-postgres", true)
		markReady(g, ns, name+"-redis", true)
		markReady(g, ns, name+"-fusionauth", false)
		markReady(g, ns, name, false)
		c := condition(hi, controllers.ConditionReady)(g)
		g.Expect(c).To(HaveField("Status", metav1.ConditionTrue))
	}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
}

// completeJob writes what the Job controller writes on success (the API server demands
// startTime, completionTime and SuccessCriteriaMet next to Complete).
func completeJob(g Gomega, j *batchv1.Job) {
	now := metav1.Now()
	if j.Status.StartTime == nil {
		j.Status.StartTime = &now
	}
	j.Status.CompletionTime = &now
	j.Status.Succeeded = 1
	j.Status.Conditions = append(j.Status.Conditions,
		batchv1.JobCondition{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now},
		batchv1.JobCondition{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: now})
	g.Expect(k8s.Status().Update(ctx, j)).To(Succeed())
}

func asUnstructured(hi *heimdallv1.HeimdallInstance) *unstructured.Unstructured {
	GinkgoHelper()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(hi)
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{Object: m}
	u.SetGroupVersionKind(heimdallv1.GroupVersion.WithKind("HeimdallInstance"))
	unstructured.RemoveNestedField(u.Object, "status")
	return u
}

func condition(hi *heimdallv1.HeimdallInstance, t string) func(Gomega) *metav1.Condition {
	return func(g Gomega) *metav1.Condition {
		live := &heimdallv1.HeimdallInstance{}
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), live)).To(Succeed())
		return meta.FindStatusCondition(live.Status.Conditions, t)
	}
}

var _ = Describe("the Argo CD health check (config/argocd/health.lua)", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("is Progressing while the instance has no status, and while a new spec is not yet observed", func() {
		hi := instance(ns, "fresh")
		u := asUnstructured(hi)
		Expect(k8s.Create(ctx, u)).To(Succeed()) // u is now the API server's answer: no status yet
		Expect(u.Object["status"]).To(BeNil())
		status, message, err := health(u)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal("Progressing"))
		Expect(message).To(Equal("Waiting for the operator to report status"))

		Eventually(condition(hi, controllers.ConditionProgressing)).WithTimeout(timeout).ShouldNot(BeNil())
		Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
				return err
			}
			Expect(unstructured.SetNestedField(u.Object, "debug", "spec", "logLevel")).To(Succeed())
			return k8s.Update(ctx, u)
		})).To(Succeed())
		// The update's answer has the new generation and the status of the old one.
		observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
		Expect(observed).To(BeNumerically("<", u.GetGeneration()))
		Expect(u.Object["status"]).To(HaveKey("conditions"))
		status, message, err = health(u)
		Expect(err).NotTo(HaveOccurred())
		Expect(status).To(Equal("Progressing"))
		Expect(message).To(ContainSubstring("observe generation"))
	})

	It("is Progressing while the operator waits for components, Healthy once it reports Ready", func() {
		hi := instance(ns, "auth")
		Expect(k8s.Create(ctx, hi)).To(Succeed())
		Eventually(condition(hi, controllers.ConditionProgressing)).WithTimeout(timeout).
			Should(HaveField("Status", metav1.ConditionTrue))
		// Argo CD shows what the operator says it is working on.
		Eventually(func(g Gomega) {
			c := condition(hi, controllers.ConditionProgressing)(g)
			g.Expect(c).NotTo(BeNil())
			g.Expect(liveHealth(hi)(g)).To(Equal(assessment{"Progressing", c.Reason + ": " + c.Message}))
		}).WithTimeout(timeout).Should(Succeed())

		// No kubelet or Job controller here: write the status a healthy cluster would give them.
		markAllReady(hi)
		Eventually(liveHealth(hi)).WithTimeout(timeout).Should(Equal(assessment{"Healthy", "AllComponentsReady: All components are ready"}))
	})

	It("is Degraded while a Secret the instance brings is missing", func() {
		hi := instance(ns, "byo")
		hi.Spec.JWT.SecretRef = &corev1.LocalObjectReference{Name: "missing-jwt-keys"}
		Expect(k8s.Create(ctx, hi)).To(Succeed())
		Eventually(condition(hi, controllers.ConditionDegraded)).WithTimeout(timeout).
			Should(HaveField("Status", metav1.ConditionTrue))
		Eventually(liveHealth(hi)).WithTimeout(timeout).Should(SatisfyAll(
			HaveField("Status", "Degraded"),
			HaveField("Message", SatisfyAll(HavePrefix("SecretNotFound: "), ContainSubstring("missing-jwt-keys")))))
	})
})
