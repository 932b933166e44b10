//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
	"github.com/heimdall-io/heimdall-operator/hack/simcluster"
)

func serverImage(d *appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "heimdall" {
			return c.Image
		}
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	for _, c := range j.Status.Conditions {
		if c.Type == t && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

func migrationJob(hi *heimdallv1.HeimdallInstance, version string) *batchv1.Job {
	return &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: hi.Namespace, Name: resources.MigrationJobName(hi, version)}}
}

var _ = Describe("Scenario 3: upgrade", func() {
	It("migrates before rolling, and keeps the old version serving when the migration fails", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-upgrade", nil)
		hi := sample(ctx, ns, fixedReplicas(2))
		waitReady(ctx, hi)
		d := serverDeployment(hi)

		By("upgrading to 1.1.0: the migration Job completes, then the Deployment rolls")
		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"version":"1.1.0"}}`)
		job := migrationJob(hi, "1.1.0")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
			g.Expect(jobCondition(job, batchv1.JobComplete)).To(BeTrue())
		}).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(hi.Status.Version).To(Equal("1.1.0"))
		}).Should(Succeed())
		waitReady(ctx, hi)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(serverImage(d)).To(HaveSuffix(":1.1.0"))
		// The new ReplicaSet was made after the Job completed, not next to it.
		for _, rs := range replicaSetsOf(ctx, d) {
			if rs.Annotations["deployment.kubernetes.io/revision"] == revision(d) {
				Expect(rs.CreationTimestamp.Time).To(BeTemporally(">=", job.Status.CompletionTime.Time.Truncate(time.Second)))
			}
		}

		By("upgrading to a release whose migration fails (kwok fails pods of -fail images)")
		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"version":"1.2.0-fail"}}`)
		bad := migrationJob(hi, "1.2.0-fail")
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(bad), bad)).To(Succeed())
			g.Expect(bad.Status.Failed).To(BeNumerically(">=", 1))
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(condition(hi, "Progressing")).To(And(HaveField("Reason", "Migrating"), HaveField("Message", ContainSubstring("attempts failed"))))
			g.Expect(condition(hi, "Ready").Status).To(Equal(metav1.ConditionTrue), "the old version still serves")
		}).Should(Succeed())
		// backoffLimit 6 takes about ten minutes of the Job controller's real back-off; a user
		// who has seen enough lowers it, which the Job API allows, and the Job fails now.
		kubectl(ctx, "patch", "-n", ns, "job", bad.Name, "--type=merge", "-p", `{"spec":{"backoffLimit":0}}`)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(condition(hi, "Degraded")).To(And(HaveField("Status", metav1.ConditionTrue), HaveField("Reason", "MigrationFailed"),
				HaveField("Message", ContainSubstring(bad.Name))))
		}).Should(Succeed())
		Expect(hi.Status.Version).To(Equal("1.1.0"))
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		Expect(serverImage(d)).To(HaveSuffix(":1.1.0"), "the old version keeps serving")
		Expect(d.Status.ReadyReplicas).To(BeEquivalentTo(2))

		By("going back to the serving version")
		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"version":"1.1.0"}}`)
		waitReady(ctx, hi)
		Expect(condition(hi, "Degraded").Status).To(Equal(metav1.ConditionFalse))
	})
})

var _ = Describe("Scenario 7: operator restart mid-upgrade", func() {
	It("converges after a crash, with no duplicate Jobs or rollouts", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-restart", nil)
		hi := sample(ctx, ns, fixedReplicas(2))
		waitReady(ctx, hi)
		d := serverDeployment(hi)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		rollouts := len(replicaSetsOf(ctx, d))

		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"version":"1.3.0"}}`)
		job := migrationJob(hi, "1.3.0")
		Eventually(get(ctx, job)).Should(HaveField("UID", Not(BeEmpty())))
		manager.Kill() // SIGKILL, like an OOM kill: no graceful shutdown
		Expect(simcluster.Alive(manager.PID())).To(BeFalse())

		startOperator(managerBinary())
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(hi.Status.Version).To(Equal("1.3.0"))
		}).Should(Succeed())
		waitReady(ctx, hi)

		var jobs batchv1.JobList
		Expect(k8s.List(ctx, &jobs, client.InNamespace(ns), client.MatchingLabels(resources.SelectorLabels(hi, resources.ComponentMigration)))).To(Succeed())
		names := map[string]int{}
		for _, j := range jobs.Items {
			names[j.Annotations[resources.MigrationVersionAnnotation]]++
		}
		Expect(names).To(HaveKeyWithValue("1.3.0", 1), "one migration Job for the new version")
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(job), job)).To(Succeed())
		Expect(job.Status.Failed+job.Status.Succeeded).To(BeEquivalentTo(1), "the Job ran once")
		Expect(replicaSetsOf(ctx, d)).To(HaveLen(rollouts+1), "exactly one rollout")
	})
})
