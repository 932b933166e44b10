// Package install proves the operator's install paths: every kustomization under config/ renders,
// dist/install.yaml is that rendering, and the rendered RBAC is enough for the operator to
// reconcile the full sample on a real kube-apiserver.
package install

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// RepoRoot is the repository root, found from this file so tests and tools work from any
// working directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build renders the kustomization in dir with kustomize's Go API, exactly as
// `go tool kustomize build dir` does, and returns the YAML stream.
func Build(dir string) ([]byte, error) {
	rm, err := krusty.MakeKustomizer(options()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", dir, err)
	}
	return out, nil
}

// options are the kustomize CLI's defaults: its build command leaves the order "unspecified",
// which sorts namespaces and CRDs first (krusty's own default keeps input order).
func options() *krusty.Options {
	o := krusty.MakeDefaultOptions()
	o.Reorder = krusty.ReorderOptionUnspecified
	return o
}

// Render renders the kustomization in dir into objects.
func Render(dir string) ([]*unstructured.Unstructured, error) {
	rm, err := krusty.MakeKustomizer(options()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	objs := make([]*unstructured.Unstructured, 0, rm.Size())
	for _, r := range rm.Resources() {
		// Through JSON, so numbers are int64 as the Kubernetes libraries expect.
		raw, err := r.MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, r.CurId(), err)
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(raw); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", dir, r.CurId(), err)
		}
		objs = append(objs, u)
	}
	return objs, nil
}

// Kustomizations lists every directory under root that holds a kustomization file.
func Kustomizations(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case "kustomization.yaml", "kustomization.yml", "Kustomization":
			dirs = append(dirs, filepath.Dir(path))
		}
		return nil
	})
	return dirs, err
}

// Find returns the rendered objects of one kind.
func Find(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}
