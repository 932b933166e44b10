package compose

import (
	"bufio"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	heimdallv1 "github.com/heimdall-io/heimdall-operator/api/v1alpha1"
	"github.com/heimdall-io/heimdall-operator/controllers/resources"
)

type composeFile struct {
	Services map[string]service `json:"services"`
}

type service struct {
	Image       string               `json:"image"`
	Build       *build               `json:"build"`
	Entrypoint  []string             `json:"entrypoint"`
	Environment map[string]string    `json:"environment"`
	Healthcheck *healthcheck         `json:"healthcheck"`
	Restart     string               `json:"restart"`
	DependsOn   map[string]dependsOn `json:"depends_on"`
	Volumes     []string             `json:"volumes"`
	Expose      []string             `json:"expose"`
}

type build struct {
	Context    string `json:"context"`
	Dockerfile string `json:"dockerfile"`
}

type healthcheck struct {
	Test []string `json:"test"`
}

type dependsOn struct {
	Condition string `json:"condition"`
}

const (
	devFile  = "docker-compose.dev.yml"
	fullFile = "docker-compose.yml"
)

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func load(t *testing.T, name string) composeFile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root(), name))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", name)
	}
	return c
}

func serverEnv(t *testing.T) ServerEnv {
	t.Helper()
	env, err := ParseServerEnv(filepath.Join(root(), "server", "internal", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	if len(env.Required) == 0 {
		t.Fatal("found no required variable in server/internal/config: the parser no longer matches the source")
	}
	for name := range env.Required {
		if !contains(env.Names, name) {
			t.Fatalf("required %s is missing from config.Names", name)
		}
	}
	return env
}

// dotenv reads KEY=VALUE lines, as godotenv does for the simple form .env.example uses.
func dotenv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=VALUE: %q", path, line)
		}
		if _, dup := vals[k]; dup {
			t.Errorf("%s: %s set twice", path, k)
		}
		vals[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return vals
}

func TestEnvExampleListsEveryServerVariable(t *testing.T) {
	env := serverEnv(t)
	vals := dotenv(t, filepath.Join(root(), ".env.example"))
	for _, name := range env.Names {
		v, ok := vals[name]
		if !ok {
			t.Errorf(".env.example lacks %s", name)
			continue
		}
		if env.Required[name] && v == "" {
			t.Errorf(".env.example leaves required %s empty", name)
		}
	}
}

// interpolation matches ${VAR}, ${VAR:-default}, ${VAR:?message} in compose files.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}`)

// TestComposeVariablesComeFromEnvExample: `cp .env.example .env` gives compose every variable
// it asks for without a default.
func TestComposeVariablesComeFromEnvExample(t *testing.T) {
	vals := dotenv(t, filepath.Join(root(), ".env.example"))
	for _, name := range []string{devFile, fullFile} {
		raw, err := os.ReadFile(filepath.Join(root(), name))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range interpolation.FindAllStringSubmatch(string(raw), -1) {
			hasDefault := strings.HasPrefix(m[2], ":-") || strings.HasPrefix(m[2], "-")
			if _, ok := vals[m[1]]; !ok && !hasDefault {
				t.Errorf("%s uses ${%s} without a default and .env.example does not set it", name, m[1])
			}
		}
	}
}

// TestFullStackIgnoresDevelopmentSettings: .env.example serves the server on the host too, so
// `cp .env.example .env` must not give docker-compose.yml's server development settings, and
// every secret compose takes from it must be a placeholder nobody mistakes for a real value.
func TestFullStackIgnoresDevelopmentSettings(t *testing.T) {
	c := load(t, fullFile)
	servers := serverServices(c)
	if len(servers) != 1 {
		t.Fatalf("want one service running the server image's default entrypoint, got %v", servers)
	}
	env := c.Services[servers[0]].Environment
	for name, want := range map[string]string{"ENV": "production", "LOG_LEVEL": "info"} {
		if env[name] != want {
			t.Errorf("%s: %s=%q, want %q set in the compose file, not taken from .env", servers[0], name, env[name], want)
		}
	}

	vals := dotenv(t, filepath.Join(root(), ".env.example"))
	raw, err := os.ReadFile(filepath.Join(root(), fullFile))
	if err != nil {
		t.Fatal(err)
	}
	secrets := 0
	for _, m := range interpolation.FindAllStringSubmatch(string(raw), -1) {
		required := strings.HasPrefix(m[2], ":?") || strings.HasPrefix(m[2], "?")
		if !required || (!strings.HasSuffix(m[1], "PASSWORD") && !strings.HasSuffix(m[1], "API_KEY")) {
			continue // optional ones (SMTP_PASSWORD) stay empty
		}
		secrets++
		if v := vals[m[1]]; !strings.HasPrefix(v, "change-me") {
			t.Errorf(".env.example: %s=%q, want a change-me placeholder", m[1], v)
		}
	}
	if secrets == 0 {
		t.Fatalf("%s requires no password or API key from .env", fullFile)
	}
	// The server on the host connects with DATABASE_URL to the PostgreSQL compose starts with
	// POSTGRES_PASSWORD: one value.
	u, err := url.Parse(vals["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != vals["POSTGRES_PASSWORD"] {
		t.Errorf(".env.example: DATABASE_URL's password %q differs from POSTGRES_PASSWORD %q", pw, vals["POSTGRES_PASSWORD"])
	}
}

// TestServerGetsEveryRequiredVariable: the server's container in docker-compose.yml sets every
// variable the server requires, only names the server reads, and URLs that point at services
// of the same file.
func TestServerGetsEveryRequiredVariable(t *testing.T) {
	env := serverEnv(t)
	c := load(t, fullFile)
	servers := serverServices(c)
	if len(servers) != 1 {
		t.Fatalf("want one service running the server image's default entrypoint, got %v", servers)
	}
	svc := c.Services[servers[0]]
	for name := range env.Required {
		if strings.TrimSpace(svc.Environment[name]) == "" {
			t.Errorf("%s: required %s is not set", servers[0], name)
		}
	}
	for name := range svc.Environment {
		if !contains(env.Names, name) {
			t.Errorf("%s sets %s, which the server does not read (names: %v)", servers[0], name, env.Names)
		}
	}
	schemes := map[string][]string{"DATABASE_URL": {"postgres", "postgresql"}, "REDIS_URL": {"redis", "rediss"}, "FUSIONAUTH_URL": {"http", "https"}}
	for name, want := range schemes {
		u, err := url.Parse(interpolation.ReplaceAllString(svc.Environment[name], "x"))
		if err != nil {
			t.Errorf("%s=%q: %v", name, svc.Environment[name], err)
			continue
		}
		if !contains(want, u.Scheme) {
			t.Errorf("%s scheme %q, want one of %v", name, u.Scheme, want)
		}
		if _, ok := c.Services[u.Hostname()]; !ok {
			t.Errorf("%s points at %q, which is no service of %s", name, u.Hostname(), fullFile)
		}
		if dep, ok := svc.DependsOn[u.Hostname()]; !ok || dep.Condition != "service_healthy" {
			t.Errorf("%s does not wait for %s to be healthy", servers[0], u.Hostname())
		}
	}
	for _, name := range []string{"JWT_PRIVATE_KEY_PATH", "JWT_PUBLIC_KEY_PATH"} {
		if !underMount(svc.Volumes, svc.Environment[name]) {
			t.Errorf("%s=%q is not inside a mounted volume %v", name, svc.Environment[name], svc.Volumes)
		}
	}
	// Migrations run before the server, once per start of the stack.
	var migrated bool
	for dep, d := range svc.DependsOn {
		if d.Condition == "service_completed_successfully" && strings.Contains(strings.Join(c.Services[dep].Entrypoint, " "), "migrate") {
			migrated = true
			if c.Services[dep].Environment["DATABASE_URL"] != svc.Environment["DATABASE_URL"] {
				t.Errorf("%s migrates another database than the server uses", dep)
			}
		}
	}
	if !migrated {
		t.Errorf("%s does not wait for a migration service", servers[0])
	}
}

// serverServices are the services built from Dockerfile.server that keep its entrypoint.
func serverServices(c composeFile) []string {
	var out []string
	for name, s := range c.Services {
		if s.Build != nil && filepath.Base(s.Build.Dockerfile) == "Dockerfile.server" && len(s.Entrypoint) == 0 {
			out = append(out, name)
		}
	}
	return out
}

func underMount(volumes []string, path string) bool {
	for _, v := range volumes {
		parts := strings.Split(interpolation.ReplaceAllString(v, "x"), ":")
		if len(parts) >= 2 && path != "" && strings.HasPrefix(path, strings.TrimSuffix(parts[1], "/")+"/") {
			return true
		}
	}
	return false
}

// pinned is a tag with at least major.minor (e.g. 14.18, 7.4.2-alpine, 1.27.4-alpine).
var pinned = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)?(-[a-z0-9.]+)?$`)

func TestImagesArePinned(t *testing.T) {
	for _, file := range []string{devFile, fullFile} {
		for name, s := range load(t, file).Services {
			if s.Build != nil {
				// Built here from the repository: a local name, never "latest".
				if s.Image == "" || strings.HasSuffix(s.Image, ":latest") || !strings.Contains(s.Image, ":") {
					t.Errorf("%s/%s: built image %q needs an explicit, non-latest tag", file, name, s.Image)
				}
				continue
			}
			if _, digest, ok := strings.Cut(s.Image, "@sha256:"); ok && len(digest) == 64 {
				continue
			}
			i := strings.LastIndex(s.Image, ":")
			if i < 0 || i < strings.LastIndex(s.Image, "/") {
				t.Errorf("%s/%s: image %q has no tag", file, name, s.Image)
				continue
			}
			if tag := s.Image[i+1:]; !pinned.MatchString(tag) {
				t.Errorf("%s/%s: image %q: tag %q is not a pinned version", file, name, s.Image, tag)
			}
		}
	}
}

// TestImagesMatchTheOperatorDefaults: the local stack runs the versions the operator deploys by
// default (the CRD's defaults for spec.<component>.managed.version).
func TestImagesMatchTheOperatorDefaults(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root(), "config", "crd", "bases", "heimdall.io_heimdallinstances.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := map[string]any{}
	if err := yaml.Unmarshal(raw, &crd); err != nil {
		t.Fatal(err)
	}
	versions, _, _ := unstructured.NestedSlice(crd, "spec", "versions")
	if len(versions) == 0 {
		t.Fatal("CRD has no versions")
	}
	spec := []string{"schema", "openAPIV3Schema", "properties", "spec", "properties"}
	for component, repo := range map[string]string{"postgres": "postgres", "redis": "redis", "fusionAuth": "fusionauth-app"} {
		path := append(append([]string{}, spec...), component, "properties", "managed", "properties", "version", "default")
		def, ok, _ := unstructured.NestedString(versions[0].(map[string]any), path...)
		if !ok || def == "" {
			t.Errorf("CRD has no default for spec.%s.managed.version", component)
			continue
		}
		for _, file := range []string{devFile, fullFile} {
			found := false
			for name, s := range load(t, file).Services {
				if !strings.Contains(s.Image, "/"+repo+":") {
					continue
				}
				found = true
				tag := s.Image[strings.LastIndex(s.Image, ":")+1:]
				if tag != def && !strings.HasPrefix(tag, def+".") && !strings.HasPrefix(tag, def+"-") {
					t.Errorf("%s/%s runs %s, the operator's default is %s", file, name, tag, def)
				}
			}
			if !found {
				t.Errorf("%s runs no %s image", file, repo)
			}
		}
	}
}

// TestHealthchecksAndRestartPolicies: every long-running service restarts and has a health check
// (the distroless server is probed through nginx); one-shot services are awaited to completion;
// nobody waits on the health of a service without a health check.
func TestHealthchecksAndRestartPolicies(t *testing.T) {
	for _, file := range []string{devFile, fullFile} {
		c := load(t, file)
		for name, s := range c.Services {
			if s.Restart == "no" {
				continue
			}
			if s.Restart != "unless-stopped" && s.Restart != "always" {
				t.Errorf("%s/%s: restart %q, want unless-stopped", file, name, s.Restart)
			}
			if contains(serverServices(c), name) {
				if !probedThroughProxy(c, name) {
					t.Errorf("%s/%s: no health check probes the server's /health/ready", file, name)
				}
				continue
			}
			if s.Healthcheck == nil || len(s.Healthcheck.Test) < 2 {
				t.Errorf("%s/%s: no health check", file, name)
			}
		}
		for name, s := range c.Services {
			for dep, d := range s.DependsOn {
				target, ok := c.Services[dep]
				switch {
				case !ok:
					t.Errorf("%s/%s depends on unknown %s", file, name, dep)
				case d.Condition == "service_healthy" && target.Healthcheck == nil:
					t.Errorf("%s/%s waits for %s to be healthy, which has no health check", file, name, dep)
				case d.Condition == "service_completed_successfully" && target.Restart != "no":
					t.Errorf("%s/%s waits for %s to complete, which restarts", file, name, dep)
				}
			}
		}
	}
}

// probedThroughProxy: a service with a health check proxies to server (nginx.conf upstream) and
// requests /health/ready.
func probedThroughProxy(c composeFile, server string) bool {
	upstreams := nginxUpstreams(c)
	for name, s := range c.Services {
		if s.Healthcheck != nil && strings.Contains(strings.Join(s.Healthcheck.Test, " "), "/health/ready") && contains(upstreams[name], server) {
			return true
		}
	}
	return false
}

var upstreamServer = regexp.MustCompile(`(?m)^\s*server\s+([a-z0-9-]+):([0-9]+)`)

// nginxUpstreams maps each service mounting an nginx.conf of the repository to the hosts it
// proxies to.
func nginxUpstreams(c composeFile) map[string][]string {
	out := map[string][]string{}
	for name, s := range c.Services {
		for _, v := range s.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasSuffix(src, "nginx.conf") {
				continue
			}
			raw, err := os.ReadFile(filepath.Join(root(), src))
			if err != nil {
				continue
			}
			for _, m := range upstreamServer.FindAllStringSubmatch(string(raw), -1) {
				out[name] = append(out[name], m[1])
			}
		}
	}
	return out
}

// TestBindMountsExist: every file or directory of the repository a service mounts is there
// (the JWT key directory is generated by the user, see hack/gen-jwt-keys.sh).
func TestBindMountsExist(t *testing.T) {
	for _, file := range []string{devFile, fullFile} {
		for name, s := range load(t, file).Services {
			for _, v := range s.Volumes {
				src, _, _ := strings.Cut(interpolation.ReplaceAllString(v, "x"), ":")
				if !strings.HasPrefix(src, "./") {
					continue // named volume, or a path from a variable
				}
				if _, err := os.Stat(filepath.Join(root(), src)); err != nil {
					t.Errorf("%s/%s mounts %s: %v", file, name, src, err)
				}
			}
		}
	}
}

func TestNginxProxiesToTheServerPort(t *testing.T) {
	c := load(t, fullFile)
	server := serverServices(c)
	if len(server) != 1 {
		t.Fatalf("want one server service, got %v", server)
	}
	port := c.Services[server[0]].Environment["PORT"]
	raw, err := os.ReadFile(filepath.Join(root(), "deploy", "nginx", "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	ms := upstreamServer.FindAllStringSubmatch(string(raw), -1)
	if len(ms) != 1 || ms[0][1] != server[0] || ms[0][2] != port {
		t.Errorf("nginx upstreams %v, want %s:%s", ms, server[0], port)
	}
}

// TestKickstartIsTheOperators: FusionAuth in compose is set up by the same kickstart the operator
// gives a managed FusionAuth, so the server finds the same API key and application either way.
func TestKickstartIsTheOperators(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root(), "deploy", "fusionauth", "kickstart.json"))
	if err != nil {
		t.Fatal(err)
	}
	hi := &heimdallv1.HeimdallInstance{}
	hi.Name = "heimdall"
	cm := resources.KickstartConfigMap(hi)
	var want, got any
	for _, v := range cm.Data {
		if err := json.Unmarshal([]byte(v), &want); err != nil {
			t.Fatal(err)
		}
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	gotJSON, _ := json.Marshal(got)
	if string(wantJSON) != string(gotJSON) {
		t.Errorf("deploy/fusionauth/kickstart.json differs from the operator's kickstart:\n got %s\nwant %s", gotJSON, wantJSON)
	}
	// The variable the kickstart reads the API key from is set from FUSIONAUTH_API_KEY.
	envRef := regexp.MustCompile(`#\{ENV\.([A-Z0-9_]+)\}`).FindStringSubmatch(string(raw))
	if envRef == nil {
		t.Fatal("kickstart reads no environment variable")
	}
	for _, file := range []string{devFile, fullFile} {
		for name, s := range load(t, file).Services {
			if !strings.Contains(s.Image, "fusionauth") {
				continue
			}
			if !strings.Contains(s.Environment[envRef[1]], "${FUSIONAUTH_API_KEY") {
				t.Errorf("%s/%s: %s is not set from FUSIONAUTH_API_KEY", file, name, envRef[1])
			}
		}
	}
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }
