package gitops

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const healthKey = "resource.customizations.health.heimdall.io_HeimdallInstance"

// TestDocEmbedsHealthCheck keeps docs/gitops.md's argocd-cm in step with config/argocd/health.lua.
func TestDocEmbedsHealthCheck(t *testing.T) {
	doc := readRepoFile(t, "docs/gitops.md")
	script := readRepoFile(t, "config/argocd/health.lua")
	found := false
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(doc, -1) {
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(block[1]), &u.Object); err != nil {
			t.Fatalf("docs/gitops.md: a yaml block does not parse: %v", err)
		}
		if u.GetKind() != "ConfigMap" || u.GetName() != "argocd-cm" {
			continue
		}
		found = true
		got, _, _ := unstructured.NestedString(u.Object, "data", healthKey)
		if got != script {
			t.Errorf("docs/gitops.md embeds a health check that differs from config/argocd/health.lua")
		}
	}
	if !found {
		t.Fatal("docs/gitops.md has no argocd-cm ConfigMap")
	}
}

// TestApplications checks the Argo CD Applications parse and sync what they should.
func TestApplications(t *testing.T) {
	for _, c := range []struct{ file, path string }{
		{"config/argocd/application-operator.yaml", "config/default"},
		{"config/argocd/application-instances.yaml", ""},
	} {
		t.Run(filepath.Base(c.file), func(t *testing.T) {
			u := &unstructured.Unstructured{}
			if err := yaml.UnmarshalStrict([]byte(readRepoFile(t, c.file)), &u.Object); err != nil {
				t.Fatal(err)
			}
			if u.GetAPIVersion() != "argoproj.io/v1alpha1" || u.GetKind() != "Application" {
				t.Fatalf("%s is %s %s, want argoproj.io/v1alpha1 Application", c.file, u.GetAPIVersion(), u.GetKind())
			}
			path, _, _ := unstructured.NestedString(u.Object, "spec", "source", "path")
			if c.path != "" {
				if path != c.path {
					t.Errorf("source.path = %q, want %q", path, c.path)
				}
				if _, err := os.Stat(filepath.Join(root, path, "kustomization.yaml")); err != nil {
					t.Errorf("source.path %s is not a kustomization here: %v", path, err)
				}
			}
			opts, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "syncPolicy", "syncOptions")
			if !slices.Contains(opts, "ServerSideApply=true") {
				t.Errorf("syncOptions %v lack ServerSideApply=true", opts)
			}
		})
	}
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
