package main

import (
	"fmt"
	"strings"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// imageTags says where the default tag of each RELATED_IMAGE_* repository comes from, mirroring
// controllers/resources/images.go: the managed components' versions are CRD defaults, the
// server has none (spec.version is required), so the first sample's version stands for it.
var imageTags = map[string]func(crd *apiextensionsv1.CustomResourceDefinition, samples []*unstructured.Unstructured) (string, error){
	"RELATED_IMAGE_HEIMDALL_SERVER": func(_ *apiextensionsv1.CustomResourceDefinition, s []*unstructured.Unstructured) (string, error) {
		v, _, _ := unstructured.NestedString(s[0].Object, "spec", "version")
		if v == "" {
			return "", fmt.Errorf("the first sample sets no spec.version")
		}
		return v, nil
	},
	"RELATED_IMAGE_POSTGRES":   managedDefault("postgres", ""),
	"RELATED_IMAGE_REDIS":      managedDefault("redis", "-alpine"),
	"RELATED_IMAGE_FUSIONAUTH": managedDefault("fusionAuth", ""),
}

func managedDefault(component, suffix string) func(*apiextensionsv1.CustomResourceDefinition, []*unstructured.Unstructured) (string, error) {
	return func(crd *apiextensionsv1.CustomResourceDefinition, _ []*unstructured.Unstructured) (string, error) {
		for _, v := range crd.Spec.Versions {
			if !v.Storage || v.Schema == nil {
				continue
			}
			p := v.Schema.OpenAPIV3Schema.Properties["spec"].Properties[component].Properties["managed"].Properties["version"]
			if p.Default == nil {
				return "", fmt.Errorf("spec.%s.managed.version has no default in CRD %s", component, crd.Name)
			}
			return strings.Trim(string(p.Default.Raw), `"`) + suffix, nil
		}
		return "", fmt.Errorf("CRD %s has no storage version", crd.Name)
	}
}

// relatedImages lists the operator image and, for each RELATED_IMAGE_* repository of the
// manager, that repository at the tag the operator uses by default, so a mirror for a
// disconnected cluster holds every image an instance with default versions pulls.
func relatedImages(mgr *corev1.Container, crds map[string]*apiextensionsv1.CustomResourceDefinition, samples []*unstructured.Unstructured) ([]operatorsv1alpha1.RelatedImage, error) {
	if len(crds) != 1 {
		return nil, fmt.Errorf("related image tags come from the one HeimdallInstance CRD, found %d CRDs", len(crds))
	}
	var crd *apiextensionsv1.CustomResourceDefinition
	for _, c := range crds {
		crd = c
	}
	out := []operatorsv1alpha1.RelatedImage{{Name: "heimdall-operator", Image: mgr.Image}}
	for _, e := range mgr.Env {
		if !strings.HasPrefix(e.Name, relatedImagePrefix) {
			continue
		}
		tag, ok := imageTags[e.Name]
		if !ok {
			return nil, fmt.Errorf("manager env %s: no tag source known; add it to imageTags", e.Name)
		}
		t, err := tag(crd, samples)
		if err != nil {
			return nil, fmt.Errorf("manager env %s: %w", e.Name, err)
		}
		name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e.Name, relatedImagePrefix)), "_", "-")
		out = append(out, operatorsv1alpha1.RelatedImage{Name: name, Image: e.Value + ":" + t})
	}
	return out, nil
}
