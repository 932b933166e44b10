//go:build e2e

package e2e

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

var _ = Describe("Scenario 9: backup", func() {
	It("schedules the seed's nightly CronJob; a scheduled Job completes and lands in status.backup", func(ctx SpecContext) {
		ns := newNamespace(ctx, "e2e-backup", nil)
		hi := sample(ctx, ns, func(hi *heimdallv1.HeimdallInstance) {
			fixedReplicas(1)(hi)
			hi.Spec.Backup = &heimdallv1.BackupSpec{Enabled: true}
		})
		waitReady(ctx, hi)
		cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.BackupName(hi)}}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(cj), cj)).To(Succeed())
		Expect(cj.Spec.Schedule).To(Equal("0 2 * * *"), "the deployment guide's 02:00 daily backup")
		claim := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: resources.BackupClaimName(hi)}}
		Eventually(get(ctx, claim)).Should(HaveField("Status.Phase", corev1.ClaimBound))

		By("scheduling every minute, so the real CronJob controller starts a Job soon")
		kubectl(ctx, "patch", "-n", ns, "hdi/heimdall", "--type=merge", "-p", `{"spec":{"backup":{"schedule":"* * * * *"}}}`)
		var done batchv1.Job
		Eventually(func(g Gomega) {
			var jobs batchv1.JobList
			g.Expect(k8s.List(ctx, &jobs, client.InNamespace(ns))).To(Succeed())
			found := false
			for _, j := range jobs.Items {
				if metav1.IsControlledBy(&j, cj) && jobCondition(&j, batchv1.JobComplete) {
					done, found = j, true
				}
			}
			g.Expect(found).To(BeTrue(), "a completed Job of the CronJob")
		}).WithTimeout(150 * time.Second).Should(Succeed())

		file, _, ok := resources.BackupFileForJob(done.Name)
		Expect(ok).To(BeTrue(), done.Name)
		Eventually(func(g Gomega) {
			g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(hi), hi)).To(Succeed())
			g.Expect(hi.Status.Backup).NotTo(BeNil())
			g.Expect(hi.Status.Backup.LastSuccessfulTime).NotTo(BeNil())
			g.Expect(hi.Status.Backup.LastBackupFile).To(Equal(file))
		}).Should(Succeed())
	})
})
