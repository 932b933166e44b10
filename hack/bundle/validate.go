package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/operator-framework/api/pkg/validation"
	"sigs.k8s.io/yaml"
)

// KubeVersion is the Kubernetes version the deprecated-API check looks ahead to (the envtest one).
const KubeVersion = "1.37"

// Validators are the ones `operator-sdk bundle validate` runs by default (CSV, CRD, bundle), plus
// the optional object and good-practice checks and the OperatorHub suite (metadata, capability
// level and categories, APIs removed by KubeVersion).
var Validators = validation.DefaultBundleValidators.WithValidators(
	validation.ObjectValidator,
	validation.GoodPracticesValidator,
	validation.OperatorHubV2Validator,
	validation.StandardCapabilitiesValidator,
	validation.StandardCategoriesValidator,
)

// Validate returns the validators' errors and warnings for the bundle under root.
func Validate(root string) (errs, warnings []error) {
	b, err := LoadBundle(root)
	if err != nil {
		return []error{fmt.Errorf("load bundle: %w", err)}, nil
	}
	for _, r := range Validators.Validate(append(b.ObjectsToValidate(), map[string]string{"k8s-version": KubeVersion})...) {
		for _, e := range r.Errors {
			errs = append(errs, fmt.Errorf("%s: %s", r.Name, e.Error()))
		}
		for _, w := range r.Warnings {
			warnings = append(warnings, fmt.Errorf("%s: %s", r.Name, w.Error()))
		}
	}
	return append(errs, ValidateLayout(root)...), warnings
}

// ValidateLayout checks annotations.yaml against the directories it names and the Dockerfile's
// labels, as operator-registry does when it unpacks a bundle image.
func ValidateLayout(root string) []error {
	raw, err := os.ReadFile(filepath.Join(root, annotationsFile))
	if err != nil {
		return []error{fmt.Errorf("read annotations: %w", err)}
	}
	var f struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.UnmarshalStrict(raw, &f); err != nil {
		return []error{fmt.Errorf("parse %s: %w", annotationsFile, err)}
	}
	a := f.Annotations
	var errs []error
	want := map[string]string{annMediaType: "registry+v1", annManifests: "manifests/", annMetadata: "metadata/"}
	for k, v := range want {
		if a[k] != v {
			errs = append(errs, fmt.Errorf("annotation %s is %q, want %q", k, a[k], v))
		}
	}
	for _, k := range []string{annPackage, annChannels, annManifests, annMetadata, annTestConfig} {
		if a[k] == "" {
			errs = append(errs, fmt.Errorf("annotation %s is empty", k))
		}
	}
	if d := a[annDefaultChannel]; d != "" && !slices.Contains(strings.Split(a[annChannels], ","), d) {
		errs = append(errs, fmt.Errorf("default channel %q is not among channels %q", d, a[annChannels]))
	}
	// metadata/ must hold the annotations file itself; manifests/ and the test config must exist.
	for _, k := range []string{annManifests, annMetadata, annTestConfig} {
		if st, err := os.Stat(filepath.Join(root, bundleDir, a[k])); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("annotation %s names %q, which is not a directory of the bundle", k, a[k]))
		}
	}
	if filepath.Join(bundleDir, a[annMetadata], "annotations.yaml") != filepath.FromSlash(annotationsFile) {
		errs = append(errs, fmt.Errorf("annotations.yaml is not in the metadata directory %q", a[annMetadata]))
	}
	csvs, _ := filepath.Glob(filepath.Join(root, bundleDir, a[annManifests], "*.clusterserviceversion.yaml"))
	if len(csvs) != 1 || filepath.Base(csvs[0]) != a[annPackage]+".clusterserviceversion.yaml" {
		errs = append(errs, fmt.Errorf("manifests/ must hold exactly %s.clusterserviceversion.yaml, found %v", a[annPackage], csvs))
	}
	df, err := os.ReadFile(filepath.Join(root, dockerfile))
	if err != nil {
		return append(errs, fmt.Errorf("read %s: %w", dockerfile, err))
	}
	for k, v := range a {
		if !strings.Contains(string(df), "LABEL "+k+"="+v+"\n") {
			errs = append(errs, fmt.Errorf("%s lacks LABEL %s=%s", dockerfile, k, v))
		}
	}
	return errs
}
