package controllers

import (
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	testingclock "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

// settle reconciles until the reconciler stops asking for an immediate next loop (each rotation
// step is one Secret update followed by ErrNextLoop) and returns the final result.
func settle(r *HeimdallInstanceReconciler, hi *heimdallv1.HeimdallInstance) ctrl.Result {
	GinkgoHelper()
	for range 10 {
		res, err := r.Reconcile(ctx, reqFor(hi))
		Expect(err).NotTo(HaveOccurred())
		if res.RequeueAfter != time.Second {
			return res
		}
	}
	Fail("the reconcile never settled")
	return ctrl.Result{}
}

func keyID(pub []byte) string {
	GinkgoHelper()
	id, err := resources.JWTKeyID(pub)
	Expect(err).NotTo(HaveOccurred())
	return id
}

// drainEvents returns the reasons of the events recorded so far.
func drainEvents(r *HeimdallInstanceReconciler) string {
	var out []string
	ch := r.Recorder.(*events.FakeRecorder).Events
	for {
		select {
		case e := <-ch:
			out = append(out, e)
		default:
			return strings.Join(out, "\n")
		}
	}
}

var _ = Describe("JWT key rotation", func() {
	var (
		ns    string
		r     *HeimdallInstanceReconciler
		w     *writeCounter
		clock *testingclock.FakePassiveClock
		t0    = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)
	)
	BeforeEach(func() {
		ns = newNamespace()
		r, w = directReconciler()
		clock = testingclock.NewFakePassiveClock(t0)
		r.Clock = clock
	})

	rotating := func(name string) *heimdallv1.HeimdallInstance {
		hi := minimalInstance(ns, name)
		hi.Spec.Tokens = heimdallv1.TokensSpec{AccessTokenLifetimeSeconds: 900, RefreshTokenLifetimeSeconds: 3600}
		hi.Spec.JWT.Rotation = &heimdallv1.JWTRotationSpec{Interval: metav1.Duration{Duration: 48 * time.Hour}}
		return createInstance(hi)
	}
	server := func(name string) (*appsv1.Deployment, map[string]string) {
		d := get(ns, name, &appsv1.Deployment{})
		return d, envMap(d.Spec.Template.Spec.Containers[0].Env)
	}
	status := func(name string) *heimdallv1.JWTStatus {
		return get(ns, name, &heimdallv1.HeimdallInstance{}).Status.JWT
	}
	verifyFiles := func(name string) []string {
		return slices.Sorted(func(yield func(string) bool) {
			for k := range get(ns, name+"-jwt-verify", &corev1.Secret{}).Data {
				if !yield(k) {
					return
				}
			}
		})
	}

	It("publishes, switches and retires keys on the clock, never signing with a key a pod cannot verify", func() {
		hi := rotating("rot")
		res := settle(r, hi)

		By("scheduling the first rotation one interval out and mounting an empty verification directory")
		jwt := get(ns, "rot-jwt", &corev1.Secret{})
		keyA := jwt.Data["private.pem"]
		kidA := keyID(jwt.Data["public.pem"])
		Expect(jwt.Annotations).To(HaveKeyWithValue(resources.AnnotationJWTSigningSince, "2026-12-01T08:00:00Z"))
		Expect(verifyFiles("rot")).To(BeEmpty())
		d, env := server("rot")
		Expect(env).To(HaveKeyWithValue("JWT_ADDITIONAL_PUBLIC_KEYS_DIR", "/keys-verify"))
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "jwt-verify-keys"),
			HaveField("Secret.SecretName", "rot-jwt-verify"))))
		Expect(d.Spec.Template.Spec.Containers[0].VolumeMounts).To(ContainElement(And(HaveField("MountPath", "/keys-verify"), HaveField("ReadOnly", true))))
		Expect(metav1.IsControlledBy(get(ns, "rot-jwt-verify", &corev1.Secret{}), hi)).To(BeTrue())
		Expect(status("rot")).To(And(HaveField("CurrentKeyID", kidA), HaveField("PendingKeyID", ""),
			HaveField("PublishedKeyIDs", []string{kidA}), HaveField("NextRotationTime.Time", BeTemporally("==", t0.Add(48*time.Hour)))))
		Expect(res.RequeueAfter).To(And(BeNumerically(">", 0), BeNumerically("<=", 48*time.Hour)))

		By("making no write while nothing is due")
		markAllReady(hi)
		for _, job := range migrationJobs(ns) {
			completeJob(ns, job) // the upgrade feature's first migration; its Progressing would hide ours
		}
		settle(r, hi)
		before := w.Load()
		clock.SetTime(t0.Add(47 * time.Hour))
		settle(r, hi)
		settle(r, hi)
		Expect(w.Load()).To(Equal(before), "an idle reconcile with rotation on must not write")
		hash0 := d.Spec.Template.Annotations[resources.ConfigHashAnnotation]

		By("generating and publishing the next key when due, while the old key keeps signing")
		clock.SetTime(t0.Add(48 * time.Hour))
		settle(r, hi)
		jwt = get(ns, "rot-jwt", &corev1.Secret{})
		Expect(jwt.Data["private.pem"]).To(Equal(keyA))
		Expect(jwt.Data).To(HaveKey("next-private.pem"))
		kidB := keyID(jwt.Data["next-public.pem"])
		Expect(verifyFiles("rot")).To(Equal([]string{kidB + ".pem"}))
		Expect(get(ns, "rot-jwt-verify", &corev1.Secret{}).Data[kidB+".pem"]).To(Equal(jwt.Data["next-public.pem"]))
		Expect(get(ns, "rot-jwt-verify", &corev1.Secret{}).Data).NotTo(HaveKey(ContainSubstring("private")))
		d, _ = server("rot")
		Expect(d.Spec.Template.Annotations[resources.ConfigHashAnnotation]).NotTo(Equal(hash0), "publishing must roll the pods")
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(resources.AnnotationJWTVerifyKeyIDs, kidB))
		Expect(status("rot")).To(And(HaveField("CurrentKeyID", kidA), HaveField("PendingKeyID", kidB),
			HaveField("PublishedKeyIDs", []string{kidA, kidB})))
		Expect(jwt.Annotations).NotTo(HaveKey(resources.AnnotationJWTNextPublishedAt), "no pod serves it yet")
		Expect(drainEvents(r)).To(ContainSubstring("JWTKeyGenerated"))
		Expect(condition(get(ns, "rot", &heimdallv1.HeimdallInstance{}), ConditionProgressing)).To(And(
			HaveField("Status", metav1.ConditionTrue), HaveField("Reason", ReasonJWTKeyRotation),
			HaveField("Message", ContainSubstring(kidB+" is being published"))))

		By("not switching before the pods have rolled out, however late it is")
		clock.SetTime(t0.Add(50 * time.Hour))
		settle(r, hi)
		Expect(get(ns, "rot-jwt", &corev1.Secret{}).Data["private.pem"]).To(Equal(keyA))

		By("starting the JWKS cache grace once every pod publishes the new key, after an operator restart")
		markReady(ns, "rot", false)
		restarted, _ := directReconciler()
		restarted.Clock = clock
		settle(restarted, hi)
		jwt = get(ns, "rot-jwt", &corev1.Secret{})
		Expect(jwt.Data["private.pem"]).To(Equal(keyA))
		Expect(jwt.Annotations).To(HaveKeyWithValue(resources.AnnotationJWTNextPublishedAt, "2026-12-03T10:00:00Z"))
		Expect(drainEvents(restarted)).To(ContainSubstring("JWTKeyPublished"))
		Expect(condition(get(ns, "rot", &heimdallv1.HeimdallInstance{}), ConditionProgressing)).To(And(
			HaveField("Reason", ReasonJWTKeyRotation), HaveField("Message", ContainSubstring("signs from 2026-12-03T10:10:00Z"))))

		By("switching signing when relying parties' JWKS caches have expired")
		switchedAt := t0.Add(50*time.Hour + resources.JWTPublishGrace)
		clock.SetTime(switchedAt)
		settle(restarted, hi)
		jwt = get(ns, "rot-jwt", &corev1.Secret{})
		Expect(keyID(jwt.Data["public.pem"])).To(Equal(kidB))
		Expect(resources.ValidateRSAKeyPair(jwt.Data["private.pem"], jwt.Data["public.pem"])).To(Succeed())
		Expect(jwt.Data).NotTo(HaveKey("next-private.pem"))
		Expect(jwt.Data).To(HaveKey("retired-" + kidA + ".pem"))
		Expect(verifyFiles("rot")).To(Equal([]string{kidA + ".pem"}), "the old key stays published")
		d, _ = server("rot")
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(resources.AnnotationJWTVerifyKeyIDs, kidA))
		Expect(status("rot")).To(And(HaveField("CurrentKeyID", kidB), HaveField("PendingKeyID", ""),
			HaveField("PublishedKeyIDs", []string{kidB, kidA}), HaveField("LastRotationTime.Time", BeTemporally("==", switchedAt)),
			HaveField("NextRotationTime.Time", BeTemporally("==", switchedAt.Add(48*time.Hour)))))
		Expect(drainEvents(restarted)).To(ContainSubstring("JWTKeyRotated"))
		Expect(condition(get(ns, "rot", &heimdallv1.HeimdallInstance{}), ConditionProgressing)).NotTo(
			HaveField("Reason", ReasonJWTKeyRotation), "no key is pending any more")

		By("starting the old key's countdown once the switch has rolled out")
		markReady(ns, "rot", false)
		clock.SetTime(t0.Add(51 * time.Hour))
		settle(r, hi)
		until := t0.Add(51*time.Hour + 4500*time.Second + resources.JWTPublishGrace).Format(time.RFC3339)
		Expect(get(ns, "rot-jwt", &corev1.Secret{}).Annotations).To(HaveKeyWithValue(resources.AnnotationJWTRetiredUntil,
			`{"`+kidA+`":"`+until+`"}`))
		Expect(verifyFiles("rot")).To(Equal([]string{kidA + ".pem"}))

		By("dropping the old key when every token it signed has expired")
		clock.SetTime(t0.Add(53 * time.Hour))
		settle(r, hi)
		jwt = get(ns, "rot-jwt", &corev1.Secret{})
		Expect(jwt.Data).NotTo(HaveKey("retired-" + kidA + ".pem"))
		Expect(jwt.Annotations).NotTo(HaveKey(resources.AnnotationJWTRetiredUntil))
		Expect(verifyFiles("rot")).To(BeEmpty())
		d, env = server("rot")
		Expect(d.Spec.Template.Annotations).To(HaveKeyWithValue(resources.AnnotationJWTVerifyKeyIDs, ""))
		Expect(env).To(HaveKey("JWT_ADDITIONAL_PUBLIC_KEYS_DIR"), "the mount stays while rotation is on")
		Expect(status("rot")).To(HaveField("PublishedKeyIDs", []string{kidB}))
		Expect(drainEvents(r)).To(ContainSubstring("JWTKeyExpired"))
	})

	// pausedForRestore asks for a restore (its backup volume never appears, so it stays Pending
	// with the server at 0) and writes the status of a Deployment whose pods are all gone.
	pausedForRestore := func(hi *heimdallv1.HeimdallInstance) {
		GinkgoHelper()
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = &heimdallv1.RestoreSpec{BackupFile: restoreFile} })
		settle(r, hi)
		Expect(get(ns, hi.Name, &appsv1.Deployment{}).Spec.Replicas).To(HaveValue(BeEquivalentTo(0)))
		markReady(ns, hi.Name, false) // 0 of 0: observed, nothing running
	}
	ready := func(hi *heimdallv1.HeimdallInstance) {
		GinkgoHelper()
		settle(r, hi)
		markAllReady(hi)
		for _, job := range migrationJobs(ns) {
			completeJob(ns, job)
		}
		settle(r, hi)
	}

	It("neither publishes nor signs with a key while a restore keeps the server at 0 pods", func() {
		hi := rotating("paused")
		ready(hi)
		pausedForRestore(hi)

		By("generating the next key when due, but not calling it published: no pod serves JWKS")
		clock.SetTime(t0.Add(48 * time.Hour))
		settle(r, hi)
		markReady(ns, "paused", false) // the new template observed, still 0 pods
		clock.SetTime(t0.Add(49 * time.Hour))
		settle(r, hi)
		jwt := get(ns, "paused-jwt", &corev1.Secret{})
		Expect(jwt.Data).To(HaveKey("next-private.pem"))
		Expect(jwt.Annotations).NotTo(HaveKey(resources.AnnotationJWTNextPublishedAt))

		By("publishing once the server is back and its pods are ready")
		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.Restore = nil })
		settle(r, hi)
		markReady(ns, "paused", false)
		clock.SetTime(t0.Add(50 * time.Hour))
		settle(r, hi)
		Expect(get(ns, "paused-jwt", &corev1.Secret{}).Annotations).To(HaveKeyWithValue(resources.AnnotationJWTNextPublishedAt, "2026-12-03T10:00:00Z"))
	})

	It("does not switch signing to a published key while the server is paused", func() {
		hi := rotating("held")
		ready(hi)
		clock.SetTime(t0.Add(48 * time.Hour))
		settle(r, hi)
		markReady(ns, "held", false)
		settle(r, hi)
		jwt := get(ns, "held-jwt", &corev1.Secret{})
		Expect(jwt.Annotations).To(HaveKey(resources.AnnotationJWTNextPublishedAt))
		signing := jwt.Data["private.pem"]

		pausedForRestore(hi)
		clock.SetTime(t0.Add(48*time.Hour + resources.JWTPublishGrace + time.Hour))
		settle(r, hi)
		Expect(get(ns, "held-jwt", &corev1.Secret{}).Data["private.pem"]).To(Equal(signing), "no pod verifies with the new key yet")
		Expect(drainEvents(r)).NotTo(ContainSubstring("JWTKeyRotated"))
	})

	It("keeps an instance without rotation exactly as before: no verification Secret, mount or key change", func() {
		hi := createInstance(minimalInstance(ns, "plain"))
		settle(r, hi)
		jwt := get(ns, "plain-jwt", &corev1.Secret{})
		Expect(jwt.Annotations).To(BeEmpty())
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "plain-jwt-verify"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue())
		_, env := server("plain")
		Expect(env).NotTo(HaveKey("JWT_ADDITIONAL_PUBLIC_KEYS_DIR"))
		Expect(status("plain")).To(BeNil())
		clock.SetTime(t0.Add(10000 * time.Hour))
		settle(r, hi)
		Expect(get(ns, "plain-jwt", &corev1.Secret{}).Data).To(Equal(jwt.Data))
	})

	It("discards an unused next key when rotation is turned off, and removes the mount", func() {
		hi := rotating("off")
		settle(r, hi)
		clock.SetTime(t0.Add(48 * time.Hour))
		settle(r, hi)
		Expect(get(ns, "off-jwt", &corev1.Secret{}).Data).To(HaveKey("next-private.pem"))
		signing := get(ns, "off-jwt", &corev1.Secret{}).Data["private.pem"]
		d, _ := server("off")
		Expect(d.Spec.Template.Spec.Volumes).To(ContainElement(And(HaveField("Name", "jwt-verify-keys"),
			HaveField("Secret.Optional", HaveValue(BeTrue())))),
			"the Secret goes before the mount does: an old-template pod started meanwhile must not hang")

		updateSpec(hi, func(s *heimdallv1.HeimdallInstanceSpec) { s.JWT.Rotation = nil })
		settle(r, hi)
		jwt := get(ns, "off-jwt", &corev1.Secret{})
		Expect(jwt.Data).NotTo(HaveKey("next-private.pem"))
		Expect(jwt.Data["private.pem"]).To(Equal(signing))
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "off-jwt-verify"}, &corev1.Secret{})
		Expect(apierrors.IsNotFound(err)).To(BeTrue(), "verification Secret left behind")
		_, env := server("off")
		Expect(env).NotTo(HaveKey("JWT_ADDITIONAL_PUBLIC_KEYS_DIR"))
		Expect(status("off")).To(BeNil())
	})

	It("holds rotation and reports it when the rotation state in the Secret is damaged", func() {
		hi := rotating("bad")
		settle(r, hi)
		clock.SetTime(t0.Add(48 * time.Hour))
		settle(r, hi)
		published := verifyFiles("bad")
		Expect(published).To(HaveLen(1))
		s := get(ns, "bad-jwt", &corev1.Secret{})
		s.Annotations[resources.AnnotationJWTNextPublishedAt] = "soon"
		Expect(k8s.Update(ctx, s)).To(Succeed())

		clock.SetTime(t0.Add(60 * time.Hour))
		markReady(ns, "bad", false)
		settle(r, hi)
		got := get(ns, "bad", &heimdallv1.HeimdallInstance{})
		Expect(condition(got, ConditionDegraded)).To(And(HaveField("Status", metav1.ConditionTrue),
			HaveField("Reason", ReasonJWTRotationInvalid), HaveField("Message", ContainSubstring(resources.AnnotationJWTNextPublishedAt))))
		Expect(verifyFiles("bad")).To(Equal(published), "published keys must stay while rotation holds")
		_, env := server("bad")
		Expect(env).To(HaveKey("JWT_ADDITIONAL_PUBLIC_KEYS_DIR"))
		Expect(get(ns, "bad-jwt", &corev1.Secret{}).Data["private.pem"]).To(Equal(s.Data["private.pem"]))
	})

	DescribeTable("refuses invalid rotation specs with a message naming the field",
		func(mutate func(*heimdallv1.JWTSpec), want string) {
			hi := minimalInstance(ns, "invalid")
			mutate(&hi.Spec.JWT)
			err := k8s.Create(ctx, hi)
			Expect(err).To(HaveOccurred())
			Expect(err.Error()).To(ContainSubstring(want))
		},
		Entry("interval under a day", func(j *heimdallv1.JWTSpec) {
			j.Rotation = &heimdallv1.JWTRotationSpec{Interval: metav1.Duration{Duration: 23 * time.Hour}}
		}, "spec.jwt.rotation.interval must be at least 24h"),
		Entry("rotation of brought keys", func(j *heimdallv1.JWTSpec) {
			j.SecretRef = &corev1.LocalObjectReference{Name: "mine"}
			j.Rotation = &heimdallv1.JWTRotationSpec{Interval: metav1.Duration{Duration: 2160 * time.Hour}}
		}, "spec.jwt.rotation rotates operator-generated keys only"),
	)

	It("accepts a 90-day rotation of generated keys", func() {
		hi := minimalInstance(ns, "ninety")
		hi.Spec.JWT.Rotation = &heimdallv1.JWTRotationSpec{Interval: metav1.Duration{Duration: 2160 * time.Hour}}
		Expect(k8s.Create(ctx, hi)).To(Succeed())
	})
})
