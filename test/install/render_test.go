package install

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
)

const (
	installNamespace = "heimdall-system"
	namePrefix       = "heimdall-operator-"
	operatorLabel    = "app.kubernetes.io/name"
	operatorName     = "heimdall-operator"
)

func configDir(parts ...string) string {
	return filepath.Join(append([]string{RepoRoot(), "config"}, parts...)...)
}

// TestEveryKustomizationRenders renders each kustomization under config/ (including ones added
// later) and checks every object is a well-formed Kubernetes object.
func TestEveryKustomizationRenders(t *testing.T) {
	dirs, err := Kustomizations(configDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"crd", "rbac", "manager", "default", "prometheus", "network-policy", "samples"} {
		if !containsDir(dirs, configDir(want)) {
			t.Errorf("config/%s has no kustomization", want)
		}
	}
	for _, dir := range dirs {
		rel, _ := filepath.Rel(RepoRoot(), dir)
		t.Run(rel, func(t *testing.T) {
			objs, err := Render(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(objs) == 0 {
				t.Fatal("renders no objects")
			}
			for _, o := range objs {
				if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
					t.Errorf("object without apiVersion, kind or name: %v", o.Object)
					continue
				}
				if err := decodeStrict(o); err != nil {
					t.Errorf("%s %s: %v", o.GetKind(), o.GetName(), err)
				}
			}
		})
	}
}

// typed knows the Go types of every kind config/ may hold.
var typed = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(apiextensionsv1.AddToScheme(s))
	utilruntime.Must(monitoringv1.AddToScheme(s))
	utilruntime.Must(heimdallv1.AddToScheme(s))
	return s
}()

// decodeStrict decodes a rendered object into its Go type, refusing unknown, misspelt
// (case-sensitive) and duplicate fields, as the API server's strict field validation would.
func decodeStrict(o *unstructured.Unstructured) error {
	obj, err := typed.New(o.GroupVersionKind())
	if err != nil {
		return fmt.Errorf("unknown kind (add its types to the test's scheme): %w", err)
	}
	raw, err := o.MarshalJSON()
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(raw, obj)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

func containsDir(dirs []string, d string) bool {
	for _, x := range dirs {
		if filepath.Clean(x) == filepath.Clean(d) {
			return true
		}
	}
	return false
}

// TestDefaultNamesAndLabels: the installer puts everything namespaced into heimdall-system, every
// name carries the prefix, and every object the operator label.
func TestDefaultNamesAndLabels(t *testing.T) {
	objs := renderDefault(t)
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.GetKind()]++
		id := o.GetKind() + " " + o.GetName()
		if o.GetLabels()[operatorLabel] != operatorName {
			t.Errorf("%s: label %s=%q, want %q", id, operatorLabel, o.GetLabels()[operatorLabel], operatorName)
		}
		switch o.GetKind() {
		case "CustomResourceDefinition":
			if !strings.HasSuffix(o.GetName(), ".heimdall.io") {
				t.Errorf("%s: not a heimdall.io CRD", id)
			}
			continue
		case "Namespace":
			if o.GetName() != installNamespace {
				t.Errorf("Namespace %q, want %q", o.GetName(), installNamespace)
			}
			if o.GetLabels()["pod-security.kubernetes.io/enforce"] != "restricted" {
				t.Errorf("Namespace %s does not enforce the restricted Pod Security Standard", o.GetName())
			}
			continue
		}
		if !strings.HasPrefix(o.GetName(), namePrefix) {
			t.Errorf("%s: name lacks prefix %q", id, namePrefix)
		}
		if namespaced(o.GetKind()) && o.GetNamespace() != installNamespace {
			t.Errorf("%s: namespace %q, want %q", id, o.GetNamespace(), installNamespace)
		}
		if !namespaced(o.GetKind()) && o.GetNamespace() != "" {
			t.Errorf("%s: cluster-scoped object has namespace %q", id, o.GetNamespace())
		}
	}
	for _, k := range []string{"Namespace", "CustomResourceDefinition", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment"} {
		if kinds[k] == 0 {
			t.Errorf("config/default renders no %s", k)
		}
	}
	// Every subject of every binding is the ServiceAccount the Deployment runs as.
	dep := managerDeployment(t, objs)
	for _, b := range append(Find(objs, "ClusterRoleBinding"), Find(objs, "RoleBinding")...) {
		subjects, _, _ := unstructured.NestedSlice(b.Object, "subjects")
		for _, s := range subjects {
			s := s.(map[string]any)
			if s["kind"] != "ServiceAccount" || s["name"] != dep.Spec.Template.Spec.ServiceAccountName || s["namespace"] != installNamespace {
				t.Errorf("%s %s binds %v, not the manager's ServiceAccount %s/%s", b.GetKind(), b.GetName(), s, installNamespace, dep.Spec.Template.Spec.ServiceAccountName)
			}
		}
	}
}

func namespaced(kind string) bool {
	switch kind {
	case "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding":
		return false
	}
	return true
}

// TestManagerDeployment checks the manager against the restricted Pod Security Standard and the
// issue's production settings. The envtest suite also has kube-apiserver's PodSecurity admission
// judge the same pod.
func TestManagerDeployment(t *testing.T) {
	dep := managerDeployment(t, renderDefault(t))
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if img := c.Image; img != defaultImage(t) {
		t.Errorf("image %q, want the Makefile's IMG %q", img, defaultImage(t))
	}
	for _, p := range restrictedViolations(pod) {
		t.Errorf("restricted Pod Security Standard: %s", p)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem is writable")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	if c.LivenessProbe == nil || c.ReadinessProbe == nil {
		t.Error("liveness and readiness probes are required")
	}
	args := strings.Join(c.Args, " ")
	for _, want := range []string{"--leader-elect", "--metrics-bind-address=:8443", "--health-probe-bind-address=:8081"} {
		if !strings.Contains(args, want) {
			t.Errorf("args %q lack %s", args, want)
		}
	}
	if strings.Contains(args, "--metrics-secure=false") {
		t.Error("metrics are served without TLS and authorization")
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	for _, name := range []string{"RELATED_IMAGE_HEIMDALL_SERVER", "RELATED_IMAGE_POSTGRES", "RELATED_IMAGE_REDIS", "RELATED_IMAGE_FUSIONAUTH"} {
		repo, ok := env[name]
		if !ok || repo == "" {
			t.Errorf("env %s is not set", name)
			continue
		}
		// A repository only: the tag comes from each instance's version fields.
		if strings.Contains(repo, "@") || strings.Contains(repo[strings.LastIndex(repo, "/")+1:], ":") {
			t.Errorf("env %s=%q carries a tag or digest; it must name a repository", name, repo)
		}
	}
}

// restrictedViolations lists what breaks the "restricted" Pod Security Standard (v1.37).
func restrictedViolations(pod corev1.PodSpec) []string {
	var bad []string
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		bad = append(bad, "host namespaces")
	}
	for _, v := range pod.Volumes {
		if v.HostPath != nil {
			bad = append(bad, "hostPath volume "+v.Name)
		}
	}
	podNonRoot := pod.SecurityContext != nil && pod.SecurityContext.RunAsNonRoot != nil && *pod.SecurityContext.RunAsNonRoot
	podSeccomp := pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil &&
		pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	for _, c := range append(append([]corev1.Container{}, pod.InitContainers...), pod.Containers...) {
		sc := c.SecurityContext
		if sc == nil {
			bad = append(bad, c.Name+": no securityContext")
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			bad = append(bad, c.Name+": privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad = append(bad, c.Name+": allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !hasCap(sc.Capabilities.Drop, "ALL") {
			bad = append(bad, c.Name+": capabilities do not drop ALL")
		}
		if sc.Capabilities != nil {
			for _, a := range sc.Capabilities.Add {
				if a != "NET_BIND_SERVICE" {
					bad = append(bad, c.Name+": adds capability "+string(a))
				}
			}
		}
		if !podNonRoot && (sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot) {
			bad = append(bad, c.Name+": runAsNonRoot is not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			bad = append(bad, c.Name+": runs as UID 0")
		}
		if !podSeccomp && (sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault) {
			bad = append(bad, c.Name+": seccompProfile is not RuntimeDefault")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				bad = append(bad, c.Name+": hostPort")
			}
		}
	}
	return bad
}

func TestRestrictedViolationsHasTeeth(t *testing.T) {
	dep := managerDeployment(t, renderDefault(t))
	cases := map[string]func(*corev1.PodSpec){
		"privileged":        func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Privileged = ptrTo(true) },
		"escalation":        func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil },
		"capabilities kept": func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Capabilities = nil },
		"root allowed":      func(p *corev1.PodSpec) { p.SecurityContext.RunAsNonRoot = nil },
		"no seccomp":        func(p *corev1.PodSpec) { p.SecurityContext.SeccompProfile = nil },
		"host network":      func(p *corev1.PodSpec) { p.HostNetwork = true },
		"capability SYS_TIME": func(p *corev1.PodSpec) {
			p.Containers[0].SecurityContext.Capabilities.Add = []corev1.Capability{"SYS_TIME"}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			pod := *dep.Spec.Template.Spec.DeepCopy()
			mutate(&pod)
			if len(restrictedViolations(pod)) == 0 {
				t.Error("violation not detected")
			}
		})
	}
}

func hasCap(caps []corev1.Capability, c corev1.Capability) bool {
	for _, x := range caps {
		if x == c {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

// TestInstallerIsUpToDate: dist/install.yaml is exactly a fresh rendering of config/default, so a
// CRD or RBAC change that skipped `make manifests` fails here.
func TestInstallerIsUpToDate(t *testing.T) {
	fresh, err := Build(configDir("default"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile(filepath.Join(RepoRoot(), "dist", "install.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fresh, committed) {
		t.Error("dist/install.yaml differs from config/default: run `make manifests` and commit dist/install.yaml")
	}
}

// TestOptionalOverlaysMatchTheManager renders config/prometheus and config/network-policy the way
// config/default would include them and checks they select the manager's Service and pods.
func TestOptionalOverlaysMatchTheManager(t *testing.T) {
	objs := renderDefault(t)
	dep := managerDeployment(t, objs)
	svc := Find(objs, "Service")
	if len(svc) != 1 {
		t.Fatalf("want one metrics Service, got %d", len(svc))
	}
	overlay := renderWithDefaultSettings(t, configDir("prometheus"), configDir("network-policy"))

	monitors := Find(overlay, "ServiceMonitor")
	if len(monitors) != 1 {
		t.Fatalf("want one ServiceMonitor, got %d", len(monitors))
	}
	sel, _, _ := unstructured.NestedStringMap(monitors[0].Object, "spec", "selector", "matchLabels")
	if !subset(sel, svc[0].GetLabels()) {
		t.Errorf("ServiceMonitor selects %v; the metrics Service has labels %v", sel, svc[0].GetLabels())
	}
	if monitors[0].GetNamespace() != installNamespace {
		t.Errorf("ServiceMonitor in namespace %q", monitors[0].GetNamespace())
	}
	endpoints, _, _ := unstructured.NestedSlice(monitors[0].Object, "spec", "endpoints")
	ports, _, _ := unstructured.NestedSlice(svc[0].Object, "spec", "ports")
	if len(endpoints) != 1 || len(ports) != 1 || endpoints[0].(map[string]any)["port"] != ports[0].(map[string]any)["name"] {
		t.Errorf("ServiceMonitor endpoints %v do not name the Service port %v", endpoints, ports)
	}
	podSel, _, _ := unstructured.NestedStringMap(svc[0].Object, "spec", "selector")
	if !subset(podSel, dep.Spec.Template.Labels) {
		t.Errorf("metrics Service selects %v; manager pods have %v", podSel, dep.Spec.Template.Labels)
	}

	policies := Find(overlay, "NetworkPolicy")
	if len(policies) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(policies))
	}
	npSel, _, _ := unstructured.NestedStringMap(policies[0].Object, "spec", "podSelector", "matchLabels")
	if len(npSel) == 0 || !subset(npSel, dep.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy selects %v; manager pods have %v", npSel, dep.Spec.Template.Labels)
	}
	ingress, _, _ := unstructured.NestedSlice(policies[0].Object, "spec", "ingress")
	if len(ingress) != 1 {
		t.Fatalf("want one ingress rule, got %v", ingress)
	}
	npPorts, _, _ := unstructured.NestedSlice(ingress[0].(map[string]any), "ports")
	metricsPort := containerPort(dep, "https")
	if len(npPorts) != 1 || npPorts[0].(map[string]any)["port"] != int64(metricsPort) {
		t.Errorf("NetworkPolicy admits ports %v, the manager serves metrics on %d", npPorts, metricsPort)
	}
}

func subset(sub, super map[string]string) bool {
	for k, v := range sub {
		if super[k] != v {
			return false
		}
	}
	return true
}

func containerPort(dep *appsv1.Deployment, name string) int32 {
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// renderWithDefaultSettings renders dirs through a throw-away overlay carrying config/default's
// namespace, name prefix and labels, as enabling them in config/default would.
func renderWithDefaultSettings(t *testing.T, dirs ...string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(configDir("default", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var def types.Kustomization
	if err := yaml.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	overlay := types.Kustomization{Namespace: def.Namespace, NamePrefix: def.NamePrefix, Labels: def.Labels}
	for _, d := range dirs {
		rel, err := filepath.Rel(tmp, d) // kustomize accepts only relative resource paths
		if err != nil {
			t.Fatal(err)
		}
		overlay.Resources = append(overlay.Resources, rel)
	}
	out, err := yaml.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "kustomization.yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := Render(tmp)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func renderDefault(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	objs, err := Render(configDir("default"))
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func managerDeployment(t *testing.T, objs []*unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	deps := Find(objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deps))
	}
	var dep appsv1.Deployment
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(deps[0].Object, &dep); err != nil {
		t.Fatal(err)
	}
	return &dep
}

// defaultImage expands the Makefile's IMG default, which the committed installer is rendered with.
func defaultImage(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(\w+) \?= (.+)$`).FindAllStringSubmatch(string(raw), -1) {
		vars[m[1]] = strings.TrimSpace(m[2])
	}
	img := regexp.MustCompile(`\$\((\w+)\)`).ReplaceAllStringFunc(vars["IMG"], func(ref string) string {
		return vars[ref[2:len(ref)-1]]
	})
	if img == "" || strings.Contains(img, "$") {
		t.Fatalf("cannot expand IMG from the Makefile: %q", img)
	}
	return img
}
