package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/blang/semver/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

var _ = Describe("the committed bundle", func() {
	var (
		b   *manifests.Bundle
		csv *operatorsv1alpha1.ClusterServiceVersion
		dep appsv1.DeploymentSpec
	)
	BeforeEach(func() {
		var err error
		b, err = LoadBundle(root)
		Expect(err).NotTo(HaveOccurred())
		csv = b.CSV
		Expect(csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs).To(HaveLen(1))
		dep = csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs[0].Spec
	})

	It("passes the validators operator-sdk bundle validate runs, and the layout checks", func() {
		errs, warnings := Validate(root)
		for _, w := range warnings {
			GinkgoWriter.Println("warning:", w)
		}
		Expect(errs).To(BeEmpty())
	})

	It("equals a fresh generation from config/", func() {
		opts := DefaultOptions()
		opts.Root, opts.Version, opts.Image = root, csv.Spec.Version.String(), csv.Annotations["containerImage"]
		files, err := Generate(opts)
		Expect(err).NotTo(HaveOccurred())
		for p, want := range files {
			Expect(string(readFile(p))).To(Equal(string(want)), "%s is stale: run `make bundle`", p)
		}
		Expect(filepath.WalkDir(filepath.Join(root, bundleDir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				Expect(files).To(HaveKey(filepath.ToSlash(rel)), "%s is not generated: run `make bundle`", rel)
			}
			return err
		})).To(Succeed())
	})

	It("has the CSV fields OLM and OperatorHub UIs need", func() {
		v, err := semver.Parse(csv.Spec.Version.String())
		Expect(err).NotTo(HaveOccurred())
		Expect(csv.Name).To(Equal("heimdall-operator.v" + v.String()))
		Expect(csv.Spec.DisplayName).NotTo(BeEmpty())
		Expect(len(csv.Spec.Description)).To(BeNumerically(">", 200))
		Expect(csv.Spec.Maturity).To(Equal("alpha"))
		Expect(csv.Spec.Keywords).NotTo(BeEmpty())
		Expect(csv.Spec.Maintainers).NotTo(BeEmpty())
		Expect(csv.Spec.Links).NotTo(BeEmpty())
		Expect(csv.Spec.Provider.Name).NotTo(BeEmpty())
		Expect(csv.Spec.MinKubeVersion).NotTo(BeEmpty())
		Expect(csv.Spec.Icon).To(ConsistOf(HaveField("MediaType", "image/svg+xml")))
		Expect(csv.Spec.Icon[0].Data).To(Equal(base64Of(readFile(iconPath))))
		Expect(csv.Annotations).To(HaveKeyWithValue("capabilities", "Full Lifecycle"))
		Expect(csv.Annotations).To(HaveKey("categories"))
		Expect(csv.Annotations).To(HaveKeyWithValue("containerImage", dep.Template.Spec.Containers[0].Image))
		// OLM, not kustomize, manages what the bundle installs and what users create from it.
		entries, err := os.ReadDir(filepath.Join(root, manifestsDir))
		Expect(err).NotTo(HaveOccurred())
		for _, e := range entries {
			Expect(string(readFile(filepath.Join(manifestsDir, e.Name())))).NotTo(MatchRegexp(`managed-by"?: "?kustomize`), e.Name())
		}
	})

	It("supports every install mode, passing OLM's target namespaces to the manager", func() {
		Expect(csv.Spec.InstallModes).To(ConsistOf(
			operatorsv1alpha1.InstallMode{Type: operatorsv1alpha1.InstallModeTypeOwnNamespace, Supported: true},
			operatorsv1alpha1.InstallMode{Type: operatorsv1alpha1.InstallModeTypeSingleNamespace, Supported: true},
			operatorsv1alpha1.InstallMode{Type: operatorsv1alpha1.InstallModeTypeMultiNamespace, Supported: true},
			operatorsv1alpha1.InstallMode{Type: operatorsv1alpha1.InstallModeTypeAllNamespaces, Supported: true},
		))
		mgr := container(dep.Template.Spec.Containers, managerContainer)
		Expect(mgr).NotTo(BeNil())
		Expect(mgr.Env).To(ContainElement(corev1.EnvVar{Name: "WATCH_NAMESPACES", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['olm.targetNamespaces']"}}}))
		// main.go reads the variable as the default of --watch-namespaces; a flag in args would win.
		Expect(strings.Join(mgr.Args, " ")).NotTo(ContainSubstring("--watch-namespaces"))
		Expect(string(readFile("main.go"))).To(ContainSubstring(`os.Getenv("WATCH_NAMESPACES")`))
	})

	It("owns exactly the CRDs of config/crd, with the same schema", func() {
		paths, err := filepath.Glob(filepath.Join(root, "config/crd/bases/*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(paths).NotTo(BeEmpty())
		Expect(b.V1CRDs).To(HaveLen(len(paths)))
		var owned []string
		for _, o := range csv.Spec.CustomResourceDefinitions.Owned {
			owned = append(owned, o.Name)
		}
		for _, p := range paths {
			want := decodeOne(p)
			Expect(owned).To(ContainElement(want.GetName()))
			got := bundleObject(b, "CustomResourceDefinition", want.GetName())
			Expect(got).NotTo(BeNil(), "CRD %s is not in the bundle", want.GetName())
			// config/default may add labels to everything it renders; the schema must not change.
			Expect(equality.Semantic.DeepEqual(got.Object["spec"], want.Object["spec"])).To(BeTrue(), "bundle CRD %s differs from %s", want.GetName(), p)
			Expect(got.GetAnnotations()).To(Equal(want.GetAnnotations()))
			Expect(got.GetAPIVersion()).To(Equal(want.GetAPIVersion()))
		}
	})

	It("describes the top-level spec fields and the status the UI shows", func() {
		o := csv.Spec.CustomResourceDefinitions.Owned[0]
		schema := b.V1CRDs[0].Spec.Versions[0].Schema.OpenAPIV3Schema
		var specPaths, statusPaths []string
		for _, d := range o.SpecDescriptors {
			specPaths = append(specPaths, d.Path)
			Expect(d.DisplayName).NotTo(BeEmpty())
		}
		for _, d := range o.StatusDescriptors {
			statusPaths = append(statusPaths, d.Path)
		}
		Expect(specPaths).To(ConsistOf(sortedKeys(schema.Properties["spec"].Properties)))
		Expect(statusPaths).To(ConsistOf("conditions", "endpoint", "version"))
		Expect(o.StatusDescriptors[0].XDescriptors).To(ConsistOf("urn:alm:descriptor:io.kubernetes.conditions"))
		Expect(o.Version).To(Equal("v1alpha1"))
		Expect(o.Resources).NotTo(BeEmpty())
	})

	It("grants the manager exactly the permissions config/rbac binds to its ServiceAccount", func() {
		objs, err := Render(filepath.Join(root, "config/rbac"))
		Expect(err).NotTo(HaveOccurred())
		rules := map[string][]rbacv1.PolicyRule{}
		for _, o := range objs {
			if k := o.GetKind(); k == "ClusterRole" || k == "Role" {
				r := &rbacv1.ClusterRole{}
				Expect(fromUnstructured(o, r)).To(Succeed())
				rules[k+"/"+o.GetName()] = r.Rules
			}
		}
		var wantCluster, wantNamespaced []rbacv1.PolicyRule
		for _, o := range objs {
			switch o.GetKind() {
			case "ClusterRoleBinding":
				rb := &rbacv1.ClusterRoleBinding{}
				Expect(fromUnstructured(o, rb)).To(Succeed())
				if bindsTo(rb.Subjects, "controller-manager") {
					wantCluster = append(wantCluster, rules[rb.RoleRef.Kind+"/"+rb.RoleRef.Name]...)
				}
			case "RoleBinding":
				rb := &rbacv1.RoleBinding{}
				Expect(fromUnstructured(o, rb)).To(Succeed())
				if bindsTo(rb.Subjects, "controller-manager") {
					wantNamespaced = append(wantNamespaced, rules[rb.RoleRef.Kind+"/"+rb.RoleRef.Name]...)
				}
			}
		}
		Expect(wantCluster).NotTo(BeEmpty())
		Expect(wantNamespaced).NotTo(BeEmpty(), "leader election needs a Role")
		s := csv.Spec.InstallStrategy.StrategySpec
		Expect(s.ClusterPermissions).To(HaveLen(1))
		Expect(s.Permissions).To(HaveLen(1))
		Expect(s.ClusterPermissions[0].ServiceAccountName).To(Equal(dep.Template.Spec.ServiceAccountName))
		Expect(s.Permissions[0].ServiceAccountName).To(Equal(dep.Template.Spec.ServiceAccountName))
		Expect(s.ClusterPermissions[0].Rules).To(Equal(wantCluster))
		Expect(s.Permissions[0].Rules).To(Equal(wantNamespaced))
	})

	It("pins every image and lists each RELATED_IMAGE_* repository among relatedImages", func() {
		var images []string
		for _, c := range append(dep.Template.Spec.InitContainers, dep.Template.Spec.Containers...) {
			images = append(images, c.Image)
		}
		related := map[string]bool{}
		for _, r := range csv.Spec.RelatedImages {
			images = append(images, r.Image)
			related[r.Image] = true
		}
		for _, img := range images {
			Expect(pinned(img)).To(BeTrue(), "image %q has no tag or digest, or uses latest", img)
		}
		Expect(related).To(HaveKey(csv.Annotations["containerImage"]))
		mgr := container(dep.Template.Spec.Containers, managerContainer)
		n := 0
		for _, e := range mgr.Env {
			if strings.HasPrefix(e.Name, relatedImagePrefix) {
				n++
				Expect(csv.Spec.RelatedImages).To(ContainElement(HaveField("Image", HavePrefix(e.Value+":"))), e.Name)
			}
		}
		Expect(n).To(BeNumerically(">=", 4))
		Expect(string(readFile(scorecardFile))).To(ContainSubstring(ScorecardImage))
		Expect(pinned(ScorecardImage)).To(BeTrue())
	})

	Context("on a real API server", func() {
		var ns string
		BeforeEach(func() {
			n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bundle-"}}
			Expect(k8s.Create(ctx, n)).To(Succeed())
			ns = n.Name
		})

		It("accepts every alm-example (create, dry-run) and rejects a broken one", func() {
			var examples []map[string]any
			Expect(json.Unmarshal([]byte(csv.Annotations["alm-examples"]), &examples)).To(Succeed())
			Expect(len(examples)).To(BeNumerically(">=", 2))
			for _, e := range examples {
				u := &unstructured.Unstructured{Object: e}
				u.SetNamespace(ns)
				Expect(k8s.Create(ctx, u, client.DryRunAll)).To(Succeed(), u.GetName())
			}
			broken := &unstructured.Unstructured{Object: examples[0]}
			broken.SetNamespace(ns)
			unstructured.RemoveNestedField(broken.Object, "spec", "version")
			Expect(k8s.Create(ctx, broken, client.DryRunAll)).NotTo(Succeed())
		})

		It("accepts the CSV's Deployment and the bundle's other objects (create, dry-run)", func() {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "manager", Namespace: ns}, Spec: dep}
			Expect(k8s.Create(ctx, d, client.DryRunAll)).To(Succeed())
			for _, o := range b.Objects {
				if k := o.GetKind(); k == "ClusterServiceVersion" || k == "CustomResourceDefinition" {
					continue
				}
				o = o.DeepCopy()
				if o.GetKind() != "ClusterRole" {
					o.SetNamespace(ns)
				}
				Expect(k8s.Create(ctx, o, client.DryRunAll)).To(Succeed(), "%s %s", o.GetKind(), o.GetName())
			}
		})
	})
})

var _ = Describe("validation of a damaged bundle", func() {
	var dir string
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		Expect(os.CopyFS(filepath.Join(dir, bundleDir), os.DirFS(filepath.Join(root, bundleDir)))).To(Succeed())
		Expect(os.WriteFile(filepath.Join(dir, dockerfile), readFile(dockerfile), 0o644)).To(Succeed())
		errs, _ := Validate(dir)
		Expect(errs).To(BeEmpty())
	})

	It("reports annotations that do not match the directories", func() {
		p := filepath.Join(dir, annotationsFile)
		a := strings.Replace(string(readFile(annotationsFile)), "manifests/", "manifest/", 1)
		Expect(os.WriteFile(p, []byte(a), 0o644)).To(Succeed())
		Expect(ValidateLayout(dir)).To(ContainElement(MatchError(ContainSubstring(annManifests))))
	})

	It("reports a CSV owning a CRD the bundle lacks", func() {
		crds, _ := filepath.Glob(filepath.Join(dir, manifestsDir, "heimdall.io_*.yaml"))
		Expect(crds).To(HaveLen(1))
		Expect(os.Remove(crds[0])).To(Succeed())
		errs, _ := Validate(dir)
		Expect(errs).To(ContainElement(MatchError(MatchRegexp(`owned CRD .*HeimdallInstance.* not found in bundle`))))
	})

	It("reports a version that is not semver", func() {
		p, _ := filepath.Glob(filepath.Join(dir, manifestsDir, "*.clusterserviceversion.yaml"))
		y := strings.Replace(string(readFile(filepath.Join(manifestsDir, filepath.Base(p[0])))), "\n  version: ", "\n  version: one.two.three\n  x-version: ", 1)
		Expect(os.WriteFile(p[0], []byte(y), 0o644)).To(Succeed())
		errs, _ := Validate(dir)
		Expect(errs).To(ContainElement(MatchError(ContainSubstring("major number"))))
	})
})

func decodeOne(path string) *unstructured.Unstructured {
	GinkgoHelper()
	data, err := os.ReadFile(path)
	Expect(err).NotTo(HaveOccurred())
	objs, err := DecodeAll(data)
	Expect(err).NotTo(HaveOccurred())
	Expect(objs).To(HaveLen(1))
	return objs[0]
}

func bundleObject(b *manifests.Bundle, kind, name string) *unstructured.Unstructured {
	for _, o := range b.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}
