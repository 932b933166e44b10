package gitops

import (
	"encoding/json"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers"
)

const sample = "config/samples/heimdall_v1alpha1_heimdallinstance.yaml"

// readSample is the manifest a GitOps repository would hold.
func readSample(ns string) *unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(root, sample))
	Expect(err).NotTo(HaveOccurred())
	u := &unstructured.Unstructured{}
	Expect(yaml.Unmarshal(data, &u.Object)).To(Succeed())
	u.SetNamespace(ns)
	return u
}

func getLive(u *unstructured.Unstructured) *unstructured.Unstructured {
	GinkgoHelper()
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(u.GroupVersionKind())
	Expect(k8s.Get(ctx, client.ObjectKeyFromObject(u), live)).To(Succeed())
	return live
}

func observedGeneration(u *unstructured.Unstructured) int64 {
	GinkgoHelper()
	g, found, err := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	Expect(err).NotTo(HaveOccurred())
	Expect(found).To(BeTrue(), "no status.observedGeneration")
	return g
}

// specOwners lists the field managers that own any field under spec.
func specOwners(u *unstructured.Unstructured) []string {
	GinkgoHelper()
	var owners []string
	for _, mf := range u.GetManagedFields() {
		var fields map[string]any
		Expect(json.Unmarshal(mf.FieldsV1.Raw, &fields)).To(Succeed())
		if _, ok := fields["f:spec"]; ok {
			owners = append(owners, mf.Manager)
		}
	}
	return owners
}

var _ = Describe("GitOps drift", func() {
	DescribeTable("a re-applied sample meets no conflict and no operator change to spec",
		func(fieldManager string) {
			ns := newNamespace()
			Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(readSample(ns)), client.FieldOwner(fieldManager))).To(Succeed())
			applied := getLive(readSample(ns))
			generation := applied.GetGeneration()
			spec := applied.Object["spec"]

			// Let the operator do all it does: create the children, then report them Ready.
			hi := &heimdallv1.HeimdallInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: applied.GetName()}}
			Eventually(condition(hi, controllers.ConditionProgressing)).WithTimeout(timeout).ShouldNot(BeNil())
			markAllReady(hi)

			live := getLive(applied)
			Expect(live.Object["spec"]).To(Equal(spec), "the operator changed spec")
			Expect(live.GetGeneration()).To(Equal(generation))
			Expect(specOwners(live)).To(ConsistOf(fieldManager), "only the GitOps tool may own spec fields")
			Expect(observedGeneration(live)).To(Equal(generation))

			// What Argo CD does to diff (a server-side dry run) and then to sync: no drift, no conflict.
			dry := readSample(ns)
			Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(dry), client.FieldOwner(fieldManager), client.DryRunAll)).To(Succeed())
			Expect(dry.Object["spec"]).To(Equal(live.Object["spec"]), "a dry-run apply of the manifest differs from live: Argo CD would show OutOfSync")
			Expect(k8s.Apply(ctx, client.ApplyConfigurationFromUnstructured(readSample(ns)), client.FieldOwner(fieldManager))).To(Succeed())

			after := getLive(applied)
			Expect(after.GetGeneration()).To(Equal(generation))
			Expect(after.Object["spec"]).To(Equal(spec))
			Expect(observedGeneration(after)).To(Equal(generation))
		},
		Entry("Argo CD's field manager", "argocd-controller"),
		Entry("a generic GitOps field manager", "gitops"),
	)
})
