package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Paths inside the repository the generator reads.
const (
	baseCSVPath   = "config/manifests/bases/heimdall-operator.clusterserviceversion.yaml"
	iconPath      = "config/manifests/icon.svg"
	defaultConfig = "config/default"
	samplesConfig = "config/samples"
)

// Options select what to generate.
type Options struct {
	Root           string
	Version        string
	Image          string
	Package        string
	Channels       string
	DefaultChannel string
}

// DefaultOptions are the package and channel the project publishes.
func DefaultOptions() Options {
	return Options{Root: ".", Package: "heimdall-operator", Channels: "alpha", DefaultChannel: "alpha"}
}

// Generate reads config/ and returns the bundle's files by path relative to the repository root.
func Generate(opts Options) (map[string][]byte, error) {
	in, err := ReadInputs(opts)
	if err != nil {
		return nil, err
	}
	return Build(in)
}

// ReadInputs renders the kustomizations and reads the hand-written CSV base.
func ReadInputs(opts Options) (Inputs, error) {
	in := Inputs{Options: opts}
	raw, err := os.ReadFile(filepath.Join(opts.Root, baseCSVPath))
	if err != nil {
		return in, fmt.Errorf("read CSV base: %w", err)
	}
	in.Base = &operatorsv1alpha1.ClusterServiceVersion{}
	if err := yaml.UnmarshalStrict(raw, in.Base); err != nil {
		return in, fmt.Errorf("parse %s: %w", baseCSVPath, err)
	}
	if in.Icon, err = os.ReadFile(filepath.Join(opts.Root, iconPath)); err != nil {
		return in, fmt.Errorf("read icon: %w", err)
	}
	if in.Objects, err = Render(filepath.Join(opts.Root, defaultConfig)); err != nil {
		return in, err
	}
	if in.Samples, err = Render(filepath.Join(opts.Root, samplesConfig)); err != nil {
		return in, err
	}
	return in, nil
}

// Render builds a kustomization with kustomize's Go API (what `kustomize build` runs).
func Render(dir string) ([]*unstructured.Unstructured, error) {
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out := make([]*unstructured.Unstructured, 0, m.Size())
	for _, r := range m.Resources() {
		// Through JSON, so numbers are int64/float64 as everywhere else in apimachinery.
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(j); err != nil {
			return nil, fmt.Errorf("kustomize build %s: %s: %w", dir, r.CurId(), err)
		}
		out = append(out, u)
	}
	return out, nil
}

// DecodeAll reads every YAML document of a multi-document stream.
func DecodeAll(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}
