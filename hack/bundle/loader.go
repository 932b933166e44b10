package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/operator-framework/api/pkg/encoding"
	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// LoadBundle reads bundle/ the way operator-framework/api's manifests.GetBundleFromDir does: every
// file of manifests/ is one object, no directories or hidden files, exactly one CSV, v1 CRDs,
// and the sizes its bundle-size check needs. That function cannot be used with apimachinery
// v0.37: it decodes each file twice after seeking back, and the YAML decoder's stream now
// remembers EOF, so the second decode of a YAML manifest always fails with EOF.
func LoadBundle(root string) (*manifests.Bundle, error) {
	dir := filepath.Join(root, manifestsDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", manifestsDir, err)
	}
	b := &manifests.Bundle{}
	for _, e := range entries {
		p := filepath.Join(manifestsDir, e.Name())
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil, fmt.Errorf("%s: a bundle's manifests directory holds only visible files", p)
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		objs, err := DecodeAll(data)
		if err != nil || len(objs) != 1 {
			return nil, fmt.Errorf("%s: want exactly one object (err: %v, got %d)", p, err, len(objs))
		}
		obj := objs[0]
		b.Objects = append(b.Objects, obj)
		switch obj.GetKind() {
		case operatorsv1alpha1.ClusterServiceVersionKind:
			if b.CSV != nil {
				return nil, fmt.Errorf("invalid bundle: contains multiple CSVs")
			}
			b.CSV = &operatorsv1alpha1.ClusterServiceVersion{}
			if err := fromUnstructured(obj, b.CSV); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			b.Name = b.CSV.Name
		case "CustomResourceDefinition":
			if obj.GetAPIVersion() != apiextensionsv1.SchemeGroupVersion.String() {
				return nil, fmt.Errorf("%s: CRD %s is %s, want %s", p, obj.GetName(), obj.GetAPIVersion(), apiextensionsv1.SchemeGroupVersion)
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := fromUnstructured(obj, crd); err != nil {
				return nil, fmt.Errorf("%s: %w", p, err)
			}
			b.V1CRDs = append(b.V1CRDs, crd)
		}
	}
	if b.CSV == nil {
		return nil, fmt.Errorf("no ClusterServiceVersion in %s", manifestsDir)
	}
	err = filepath.WalkDir(filepath.Join(root, bundleDir), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		gz, err := encoding.GzipBase64Encode(data)
		b.Size += int64(len(data))
		b.CompressedSize += int64(len(gz))
		return err
	})
	return b, err
}
