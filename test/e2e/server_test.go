//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/heimdall-io/heimdall-operator/controllers/resources"
	"github.com/heimdall-io/heimdall-operator/hack/simcluster"
)

// renderedEnv resolves a container's env the way the kubelet does: values from Secrets and
// ConfigMaps, then $(VAR) references to variables declared earlier.
func renderedEnv(ctx context.Context, ns string, env []corev1.EnvVar) []string {
	GinkgoHelper()
	vals := map[string]string{}
	var out []string
	for _, e := range env {
		v := e.Value
		switch src := e.ValueFrom; {
		case src == nil:
			for name, val := range vals {
				v = strings.ReplaceAll(v, "$("+name+")", val)
			}
		case src.SecretKeyRef != nil:
			s := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.SecretKeyRef.Name}, s)).To(Succeed())
			Expect(s.Data).To(HaveKey(src.SecretKeyRef.Key), "%s from Secret %s", e.Name, s.Name)
			v = string(s.Data[src.SecretKeyRef.Key])
		case src.ConfigMapKeyRef != nil:
			cm := &corev1.ConfigMap{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.ConfigMapKeyRef.Name}, cm)).To(Succeed())
			v = cm.Data[src.ConfigMapKeyRef.Key]
		default:
			Fail("unsupported env source for " + e.Name)
		}
		vals[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out
}

// relocate points in-cluster addresses at their loopback stand-ins and /keys at a local copy.
func relocate(env []string, hosts map[string]string, keysDir string, port int) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		switch {
		case name == "PORT":
			v = strconv.Itoa(port)
		case strings.HasSuffix(name, "_KEY_PATH"):
			v = filepath.Join(keysDir, filepath.Base(v))
		case strings.HasSuffix(name, "_URL"):
			if u, err := url.Parse(v); err == nil {
				if local, ok := hosts[u.Host]; ok {
					u.Host = local
					v = u.String()
				}
			}
		}
		out = append(out, name+"="+v)
	}
	return out
}

func startLocal(bin string, env []string, log *bytes.Buffer) *exec.Cmd {
	GinkgoHelper()
	cmd := exec.Command(bin)
	cmd.Env = env // exactly what the operator rendered, nothing inherited
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	Expect(cmd.Start()).To(Succeed())
	everyPID = append(everyPID, cmd.Process.Pid)
	DeferCleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	return cmd
}

func call(method, url, token string, body any) (int, map[string]any) {
	GinkgoHelper()
	var rd bytes.Buffer
	if body != nil {
		Expect(json.NewEncoder(&rd).Encode(body)).To(Succeed())
	}
	req, err := http.NewRequest(method, url, &rd)
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func freePort() int {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var _ = Describe("Scenario 10: the rendered configuration runs the real server", func() {
	It("migrates, starts and serves register, login and /v1/users/me with the env the operator wrote", func(ctx SpecContext) {
		serverBin := filepath.Join(repoRoot, "server", "bin")
		for _, b := range []string{"heimdall-server", "heimdall-migrate", "heimdall-e2e-backends"} {
			Expect(filepath.Join(serverBin, b)).To(BeAnExistingFile(), "run `make test-e2e`, which builds the server's binaries")
		}
		ns := newNamespace(ctx, "e2e-server", nil)
		hi := sample(ctx, ns, fixedReplicas(1))
		waitReady(ctx, hi)

		d := serverDeployment(hi)
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(d), d)).To(Succeed())
		var server corev1.Container
		for _, c := range d.Spec.Template.Spec.Containers {
			if c.Name == "heimdall" {
				server = c
			}
		}
		Expect(server.Command).To(BeEmpty(), "the image's entrypoint, /heimdall-server, runs")
		job := &batchv1.Job{}
		Expect(k8s.Get(ctx, client.ObjectKeyFromObject(migrationJob(hi, hi.Spec.Version)), job)).To(Succeed())
		migrate := job.Spec.Template.Spec.Containers[0]
		Expect(migrate.Command).To(Equal([]string{"/heimdall-migrate", "up"}))
		serverEnv := renderedEnv(ctx, ns, server.Env)
		migrateEnv := renderedEnv(ctx, ns, migrate.Env)

		By("starting PostgreSQL, Redis and the FusionAuth fake with the generated credentials")
		secret := func(name, key string) string {
			s := &corev1.Secret{}
			Expect(k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, s)).To(Succeed())
			return string(s.Data[key])
		}
		pgSecret, faSecret := resources.ComponentName(hi, resources.ComponentPostgres), resources.ComponentName(hi, resources.ComponentFusionAuth)
		backends, err := simcluster.StartProcess(GinkgoT().TempDir(), "e2e-backends", filepath.Join(serverBin, "heimdall-e2e-backends"), nil, []string{
			"E2E_DB_USERNAME=" + secret(pgSecret, "username"), "E2E_DB_PASSWORD=" + secret(pgSecret, "password"), "E2E_DB_NAME=heimdall",
			"E2E_REDIS_PASSWORD=" + secret(resources.ComponentName(hi, resources.ComponentRedis), "password"),
			"E2E_FUSIONAUTH_API_KEY=" + secret(faSecret, "api-key"),
		})
		Expect(err).NotTo(HaveOccurred())
		everyPID = append(everyPID, backends.PID())
		DeferCleanup(func() { _ = backends.Stop(10 * time.Second) })
		var addrs struct{ Postgres, Redis, FusionAuth string }
		Eventually(func() error {
			if backends.Exited() {
				StopTrying("e2e-backends exited").Wrap(backends.Err()).Attach("log", backends.Tail(30)).Now()
			}
			return json.Unmarshal([]byte(backends.Tail(1)), &addrs)
		}).WithTimeout(90 * time.Second).Should(Succeed())

		hosts := map[string]string{
			fmt.Sprintf("%s:%d", pgSecret, resources.PostgresPort):                                           addrs.Postgres,
			fmt.Sprintf("%s:%d", resources.ComponentName(hi, resources.ComponentRedis), resources.RedisPort): addrs.Redis,
			fmt.Sprintf("%s:%d", faSecret, resources.FusionAuthPort):                                         addrs.FusionAuth,
		}
		keys := GinkgoT().TempDir()
		jwt := resources.ComponentName(hi, resources.ComponentJWT)
		for _, k := range []string{"private.pem", "public.pem"} {
			Expect(os.WriteFile(filepath.Join(keys, k), []byte(secret(jwt, k)), 0o600)).To(Succeed())
		}
		port := freePort()

		By("running the migration Job's command, then the server")
		cmd := exec.CommandContext(ctx, filepath.Join(serverBin, "heimdall-migrate"), migrate.Command[1:]...)
		cmd.Env = relocate(migrateEnv, hosts, keys, port)
		out, err := cmd.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "heimdall-migrate up: %s", out)

		var log bytes.Buffer
		startLocal(filepath.Join(serverBin, "heimdall-server"), relocate(serverEnv, hosts, keys, port), &log)
		base := fmt.Sprintf("http://127.0.0.1:%d", port)
		Eventually(func() int { code, _ := callQuiet(base + "/health/ready"); return code }).
			WithTimeout(30*time.Second).Should(Equal(http.StatusOK), func() string { return log.String() })

		By("register, login, /v1/users/me")
		email := "e2e@example.com"
		code, body := call("POST", base+"/v1/auth/register", "", map[string]string{"email": email, "password": "Sup3r-secret-pw", "firstName": "E", "lastName": "Two"})
		Expect(code).To(Equal(http.StatusCreated), "%v\n%s", body, log.String())
		code, body = call("POST", base+"/v1/auth/login", "", map[string]string{"email": email, "password": "Sup3r-secret-pw"})
		Expect(code).To(Equal(http.StatusOK), "%v", body)
		token, _ := dig(body, "data", "accessToken").(string)
		Expect(token).NotTo(BeEmpty(), "%v", body)
		code, body = call("GET", base+"/v1/users/me", token, nil)
		Expect(code).To(Equal(http.StatusOK), "%v", body)
		Expect(dig(body, "data", "email")).To(Equal(email))
		// The token carries the issuer the operator rendered.
		Expect(serverEnv).To(ContainElement("JWT_ISSUER=" + hi.Spec.Issuer))
	})
})

func callQuiet(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}
