package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/blang/semver/v4"
	"github.com/operator-framework/api/pkg/lib/version"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	managerContainer = "manager"
	// targetNamespacesEnv carries OLM's OperatorGroup target namespaces into the manager: OLM
	// annotates the Deployment's pods with olm.targetNamespaces ("" for AllNamespaces).
	targetNamespacesEnv = "WATCH_NAMESPACES"
	relatedImagePrefix  = "RELATED_IMAGE_"
)

// Inputs is everything a bundle is made of, already read from disk.
type Inputs struct {
	Options
	Base    *operatorsv1alpha1.ClusterServiceVersion
	Icon    []byte
	Objects []*unstructured.Unstructured // rendered config/default
	Samples []*unstructured.Unstructured // rendered config/samples
}

// Build returns the bundle's files (paths relative to the repository root); it reads nothing.
func Build(in Inputs) (map[string][]byte, error) {
	p, err := classify(in.Objects)
	if err != nil {
		return nil, err
	}
	csv, err := buildCSV(in, p)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	if files[path.Join(manifestsDir, in.Package+".clusterserviceversion.yaml")], err = marshal(csv); err != nil {
		return nil, err
	}
	for _, crd := range p.crds {
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		if files[path.Join(manifestsDir, group+"_"+plural+".yaml")], err = marshal(crd.Object); err != nil {
			return nil, err
		}
	}
	for _, o := range p.extra {
		o = withoutKustomizeLabel(o)
		gv := strings.ReplaceAll(o.GetAPIVersion(), "/", "_")
		name := fmt.Sprintf("%s_%s_%s.yaml", o.GetName(), gv, strings.ToLower(o.GetKind()))
		if files[path.Join(manifestsDir, name)], err = marshal(o.Object); err != nil {
			return nil, err
		}
	}
	ann := annotations(in.Options)
	if files[annotationsFile], err = marshal(map[string]any{"annotations": ann}); err != nil {
		return nil, err
	}
	files[scorecardFile] = []byte(scorecardConfig)
	files[dockerfile] = bundleDockerfile(ann)
	return files, nil
}

func buildCSV(in Inputs, p *parts) (*operatorsv1alpha1.ClusterServiceVersion, error) {
	v, err := semver.Parse(in.Version)
	if err != nil {
		return nil, fmt.Errorf("version %q is not semver: %w", in.Version, err)
	}
	csv := in.Base.DeepCopy()
	csv.Name = in.Package + ".v" + v.String()
	csv.Spec.Version = version.OperatorVersion{Version: v}
	csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(in.Icon), MediaType: "image/svg+xml"}}

	dep := p.deployment.DeepCopy()
	delete(dep.Labels, managedByLabel)
	mgr := container(dep.Spec.Template.Spec.Containers, managerContainer)
	if mgr == nil {
		return nil, fmt.Errorf("deployment %s has no %q container", dep.Name, managerContainer)
	}
	if in.Image != "" {
		mgr.Image = in.Image
	}
	setEnv(mgr, corev1.EnvVar{Name: targetNamespacesEnv, ValueFrom: &corev1.EnvVarSource{
		FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['olm.targetNamespaces']"}}})
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
		StrategySpec: operatorsv1alpha1.StrategyDetailsDeployment{
			DeploymentSpecs:    []operatorsv1alpha1.StrategyDeploymentSpec{{Name: dep.Name, Label: dep.Labels, Spec: dep.Spec}},
			Permissions:        p.permissions,
			ClusterPermissions: p.clusterPermissions,
		},
	}

	crds := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, u := range p.crds {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := fromUnstructured(u, crd); err != nil {
			return nil, err
		}
		crds[crd.Name] = crd
	}
	for i := range csv.Spec.CustomResourceDefinitions.Owned {
		if err := describeOwned(&csv.Spec.CustomResourceDefinitions.Owned[i], crds); err != nil {
			return nil, err
		}
	}
	if len(csv.Spec.CustomResourceDefinitions.Owned) != len(crds) {
		return nil, fmt.Errorf("the CSV base owns %d CRDs, config/default renders %d: list each in %s",
			len(csv.Spec.CustomResourceDefinitions.Owned), len(crds), baseCSVPath)
	}

	examples, err := almExamples(in.Samples)
	if err != nil {
		return nil, err
	}
	if csv.Annotations == nil {
		csv.Annotations = map[string]string{}
	}
	csv.Annotations["alm-examples"] = examples
	csv.Annotations["containerImage"] = mgr.Image
	if csv.Spec.RelatedImages, err = relatedImages(mgr, crds, in.Samples); err != nil {
		return nil, err
	}
	return csv, nil
}

func container(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func setEnv(c *corev1.Container, e corev1.EnvVar) {
	c.Env = slices.DeleteFunc(c.Env, func(x corev1.EnvVar) bool { return x.Name == e.Name })
	c.Env = append(c.Env, e)
}

// almExamples is the JSON array OLM UIs offer as starting points: the samples as config/samples
// renders them, without a namespace (the UI creates them where the user is).
func almExamples(samples []*unstructured.Unstructured) (string, error) {
	if len(samples) == 0 {
		return "", fmt.Errorf("config/samples renders no example")
	}
	out := make([]map[string]any, 0, len(samples))
	for _, s := range samples {
		s = withoutKustomizeLabel(s)
		s.SetNamespace("")
		out = append(out, s.Object)
	}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "<no-reply@example.com>" readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return "", fmt.Errorf("alm-examples: %w", err)
	}
	return strings.TrimSpace(b.String()), nil
}

// managedByLabel says which tool manages an object; in a bundle that is OLM, not kustomize.
const managedByLabel = "app.kubernetes.io/managed-by"

// withoutKustomizeLabel returns a copy of u without managed-by: kustomize.
func withoutKustomizeLabel(u *unstructured.Unstructured) *unstructured.Unstructured {
	u = u.DeepCopy()
	if l := u.GetLabels(); l[managedByLabel] == "kustomize" {
		delete(l, managedByLabel)
		u.SetLabels(l)
	}
	return u
}

// marshal writes YAML without the null creationTimestamps and empty status Go types carry.
func marshal(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	dropNullTimestamps(m)
	return yaml.Marshal(m)
}

func dropNullTimestamps(v any) {
	switch t := v.(type) {
	case map[string]any:
		if ts, ok := t["creationTimestamp"]; ok && ts == nil {
			delete(t, "creationTimestamp")
		}
		for _, x := range t {
			dropNullTimestamps(x)
		}
	case []any:
		for _, x := range t {
			dropNullTimestamps(x)
		}
	}
}
