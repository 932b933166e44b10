//go:build e2e

package e2e

import (
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

var _ = Describe("Scenario 1: install", func() {
	It("brings the sample to Ready with every component's pods running on the fake node", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-install", nil)
		kubectl(ctx, "apply", "-n", ns, "-f", filepath.Join(repoRoot, samplePath))
		hi := &heimdallv1.HeimdallInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "heimdall"}}
		waitReady(ctx, hi)

		c := hi.Status.Components
		for name, cs := range map[string]*heimdallv1.ComponentStatus{"postgres": c.Postgres, "redis": c.Redis, "fusionAuth": c.FusionAuth, "server": c.Server} {
			Expect(cs).NotTo(BeNil(), name)
			Expect(cs.Ready).To(BeTrue(), "%s: %s", name, cs.Message)
		}
		Expect(hi.Status.Endpoint).To(HavePrefix("http://heimdall." + ns + ".svc:"))
		Expect(hi.Status.Version).To(Equal("1.0.0"))
		Expect(hi.Status.Replicas).To(BeNumerically(">=", 3), "the sample autoscales from 3")

		pods := podsOf(ctx, ns, instanceLabels(hi))
		Expect(len(pods)).To(BeNumerically(">=", 6), "server x3, postgres, redis, fusionauth")
		for _, p := range pods {
			want := corev1.PodRunning
			if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "Job" {
				want = corev1.PodSucceeded // kwok completes Job pods (migrations)
			}
			Expect(p.Status.Phase).To(Equal(want), p.Name)
			Expect(p.Spec.NodeName).To(Equal("kwok-node-0"), p.Name)
		}

		// The printer columns, as a user sees them.
		out := kubectl(ctx, "get", "hdi", "-n", ns)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		Expect(lines).To(HaveLen(2), out)
		Expect(strings.Fields(lines[0])).To(Equal([]string{"NAME", "VERSION", "READY", "ENDPOINT", "AGE"}))
		Expect(strings.Fields(lines[1])[:4]).To(Equal([]string{"heimdall", "1.0.0", "True", hi.Status.Endpoint}))

		// The operator reconciles as the elected leader, its Lease written under its own RBAC.
		lease := &coordinationv1.Lease{}
		Expect(k8s.Get(ctx, client.ObjectKey{Namespace: "heimdall-system", Name: "heimdall-operator.heimdall.io"}, lease)).To(Succeed())
		Expect(lease.Spec.HolderIdentity).To(HaveValue(Not(BeEmpty())))
	})
})

var _ = Describe("Scenario 2: restricted Pod Security", func() {
	It("has every pod the operator creates admitted in an enforce=restricted namespace", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-restricted", map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest",
		})
		// Enforcement is live: a pod that breaks the profile is refused.
		bad := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "privileged"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		}
		err := k8s.Create(ctx, bad)
		Expect(apierrors.IsForbidden(err)).To(BeTrue(), "want a Pod Security rejection, got %v", err)
		Expect(err.Error()).To(ContainSubstring("violates PodSecurity"))

		hi := sample(ctx, ns, func(hi *heimdallv1.HeimdallInstance) { hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true} })
		waitReady(ctx, hi)
		Expect(len(podsOf(ctx, ns, instanceLabels(hi)))).To(BeNumerically(">=", int(hi.Status.Replicas)+3))

		// The backup CronJob's pods are admitted too: run one now instead of waiting for 02:00.
		kubectl(ctx, "create", "job", "-n", ns, "backup-now", "--from=cronjob/"+resources.BackupName(hi))
		job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "backup-now"}}
		Eventually(func() bool { _, _ = get(ctx, job)(); return jobCondition(job, batchv1.JobComplete) }).Should(BeTrue())

		// No workload controller was refused a pod by Pod Security admission.
		var events corev1.EventList
		Expect(k8s.List(ctx, &events, client.InNamespace(ns))).To(Succeed())
		for _, e := range events.Items {
			if e.Reason == "FailedCreate" {
				Expect(e.Message).NotTo(ContainSubstring("PodSecurity"), "%s %s", e.InvolvedObject.Kind, e.InvolvedObject.Name)
			}
		}
	})
})
