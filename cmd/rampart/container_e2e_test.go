package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// sidecarApp is the test app: static, in its own FROM scratch image,
// listening on the loopback of the network namespace it shares with rampart.
const sidecarApp = `package main

import (
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := "127.0.0.1:8081" // the network namespace it shares with rampart
	if a := os.Getenv("APP_ADDR"); a != "" {
		addr = a
	}
	http.ListenAndServe(addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * time.Second)
		}
		io.WriteString(w, "hello from the app\n")
	}))
}
`

// containerTestImage is the tag the container tests build rampart's image
// under, apart from the localhost/rampart:latest a user's make image gives.
const containerTestImage = "localhost/rampart:container-test"

// podman runs podman with the settings these machines need: limits the
// sandbox may not raise, and runc (crun refuses the hybrid cgroup layout).
type podman struct {
	t    *testing.T
	bin  string
	conf string
}

func newPodman(t *testing.T) *podman {
	bin := requireTool(t, "podman")
	conf := filepath.Join(t.TempDir(), "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &podman{t: t, bin: bin, conf: conf}
}

func (p *podman) cmd(args ...string) *exec.Cmd {
	c := exec.Command(p.bin, args...)
	c.Env = append(os.Environ(), "CONTAINERS_CONF="+p.conf)
	return c
}

// run runs podman and returns its trimmed output, failing the test on error.
func (p *podman) run(args ...string) string {
	p.t.Helper()
	out, err := p.cmd(args...).CombinedOutput()
	if err != nil {
		p.t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// buildImages builds rampart's image from the repository's Dockerfile (the
// binary built static, as make image does) and the test app's image.
func buildImages(t *testing.T, p *podman) (rampartImage, appImage string) {
	t.Helper()
	ctx := t.TempDir()
	if err := os.MkdirAll(filepath.Join(ctx, "bin", "data"), 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=container-test", "-o", filepath.Join(ctx, "bin", "rampart"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	dockerfile, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), dockerfile, 0o644)
	rampartImage = containerTestImage
	p.run("build", "--format", "docker", "-t", rampartImage, ctx)

	appDir := t.TempDir()
	os.WriteFile(filepath.Join(appDir, "go.mod"), []byte("module sidecarapp\n\ngo 1.26\n"), 0o644)
	os.WriteFile(filepath.Join(appDir, "main.go"), []byte(sidecarApp), 0o644)
	appBuild := exec.Command("go", "build", "-trimpath", "-o", "app", ".")
	appBuild.Dir = appDir
	appBuild.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if out, err := appBuild.CombinedOutput(); err != nil {
		t.Fatalf("app build: %v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(appDir, "Dockerfile"), []byte("FROM scratch\nCOPY app /app\nUSER 65532:65532\nENTRYPOINT [\"/app\"]\n"), 0o644)
	appImage = "localhost/rampart-test-app:latest"
	p.run("build", "--format", "docker", "-t", appImage, appDir)
	return rampartImage, appImage
}

// dockerfileListeners reads the Dockerfile's ENV RAMPART_*_ADDR settings and
// its EXPOSE ports (instructions may continue over lines ending in \).
func dockerfileListeners(t *testing.T) (addrs map[string]string, exposed []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	addrs = map[string]string{}
	for _, line := range strings.Split(strings.ReplaceAll(string(data), "\\\n", " "), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		switch strings.ToUpper(fields[0]) {
		case "ENV":
			for _, kv := range fields[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(k, "RAMPART_") && strings.HasSuffix(k, "_ADDR") {
					addrs[k] = v
				}
			}
		case "EXPOSE":
			for _, p := range fields[1:] {
				exposed = append(exposed, strings.TrimSuffix(p, "/tcp"))
			}
		}
	}
	return addrs, exposed
}

// TestDockerfileExposes: the image EXPOSEs the port of each listener that
// binds beyond loopback, and not the admin listener, which binds loopback
// inside the container: an exposed port there answers no one.
func TestDockerfileExposes(t *testing.T) {
	addrs, exposed := dockerfileListeners(t)
	if len(addrs) == 0 {
		t.Fatal("no ENV RAMPART_*_ADDR in the Dockerfile")
	}
	var want []string
	for name, addr := range addrs {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s=%s: %v", name, addr, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			want = append(want, port)
		}
	}
	slices.Sort(want)
	slices.Sort(exposed)
	if !slices.Equal(exposed, want) {
		t.Errorf("EXPOSE %s; want %s, the ports of %v that bind beyond loopback", strings.Join(exposed, " "), strings.Join(want, " "), addrs)
	}
}

func rootFromVolume(t *testing.T, p *podman, volume string) (pem []byte, roots *x509.CertPool) {
	t.Helper()
	mount := p.run("volume", "inspect", volume, "--format", "{{.Mountpoint}}")
	waitFor(t, 20*time.Second, "the internal CA's root in the volume", func() (err error) {
		pem, err = os.ReadFile(filepath.Join(mount, "internal-ca", "root.pem"))
		return err
	})
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	return pem, roots
}

func sidecarClient(roots *x509.CertPool, addr string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "shop.test"},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// TestContainerSidecar: rampart's image beside a test app, sharing its network
// namespace, locked down (read-only, no capabilities, no new privileges,
// uid 65532): HTTPS reaches the app, the health check passes, podman stop lets
// a request in flight finish, and a recreated container finds its CA in /data.
func TestContainerSidecar(t *testing.T) {
	p := newPodman(t)
	rampartImage, appImage := buildImages(t, p)
	size := p.run("image", "inspect", rampartImage, "--format", "{{.Size}}")
	t.Logf("image %s: %s bytes", rampartImage, size)
	var n int64
	fmt.Sscan(size, &n)
	// About 14 MB of it is the edge; about 28 MB the Kubernetes mode's
	// client-go (its typed clients register every API group's types).
	if n == 0 || n > 45<<20 {
		t.Errorf("image size %s bytes; want under 45 MB", size)
	}
	if ports := p.run("image", "inspect", rampartImage, "--format", "{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}"); ports != "8080/tcp 8443/tcp" {
		t.Errorf("image exposes %q; want 8080/tcp 8443/tcp (the admin listener stays on loopback)", ports)
	}

	const app, edge, volume = "rampart-test-app", "rampart-test-edge", "rampart-test-data"
	cleanup := func() {
		// rampart first: it holds the app's network namespace.
		p.cmd("rm", "-f", "-t", "0", edge).Run()
		p.cmd("rm", "-f", "-t", "0", app).Run()
		p.cmd("volume", "rm", "-f", volume).Run()
	}
	cleanup()
	t.Cleanup(cleanup)
	p.run("run", "-d", "--name", app, "-p", "127.0.0.1:18700:8443", "--read-only", "--cap-drop", "all",
		"--security-opt", "no-new-privileges", appImage)
	runEdge := func() {
		p.run("run", "-d", "--name", edge, "--network", "container:"+app, "--read-only", "--cap-drop", "all",
			"--security-opt", "no-new-privileges", "--user", "65532:65532", "-v", volume+":/data", "--memory", "256m",
			rampartImage, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://127.0.0.1:8081",
			"--shutdown-delay", "1s", "--shutdown-timeout", "20s")
	}
	runEdge()

	rootPEM, roots := rootFromVolume(t, p, volume)
	client := sidecarClient(roots, "127.0.0.1:18700")
	waitFor(t, 30*time.Second, "HTTPS through the sidecar", func() error {
		res, err := client.Get("https://shop.test/")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(body) != "hello from the app\n" {
			return fmt.Errorf("%d %q", res.StatusCode, body)
		}
		if res.Header.Get("Strict-Transport-Security") == "" {
			return fmt.Errorf("no HSTS")
		}
		return nil
	})
	t.Logf("HTTPS via 127.0.0.1:18700 reached the app through %s, running as %s, read-only, no capabilities",
		p.run("exec", edge, "/rampart", "version"), p.run("inspect", edge, "--format", "{{.Config.User}}"))

	// The cgroup's 256 MiB cap reaches Go's collector as a 90% soft limit.
	if logs, _ := p.cmd("logs", edge).CombinedOutput(); !strings.Contains(string(logs), `"memory_limit_bytes":241591910`) {
		t.Errorf("start line without memory_limit_bytes 241591910 (90%% of --memory 256m); logs:\n%s", logs)
	} else {
		t.Log("--memory 256m: rampart's start line says memory_limit_bytes 241591910")
	}

	out, err := p.cmd("healthcheck", "run", edge).CombinedOutput()
	if err != nil {
		t.Errorf("podman healthcheck run: %v %s", err, out)
	} else {
		t.Logf("podman healthcheck run %s: healthy", edge)
	}

	before := servedSerial(t, roots, "127.0.0.1:18700")

	// podman stop: a request in flight finishes, rampart exits 0.
	slow := make(chan error, 1)
	go func() {
		res, err := client.Get("https://shop.test/slow")
		if err == nil {
			res.Body.Close()
			if res.StatusCode != 200 {
				err = fmt.Errorf("status %d", res.StatusCode)
			}
		}
		slow <- err
	}()
	time.Sleep(500 * time.Millisecond)
	start := time.Now()
	p.run("stop", "-t", "30", edge)
	if err := <-slow; err != nil {
		t.Errorf("request in flight across podman stop: %v", err)
	}
	if code := p.run("inspect", edge, "--format", "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("rampart exited %s; want 0", code)
	}
	t.Logf("podman stop took %.1fs; the in-flight request finished with 200; exit 0", time.Since(start).Seconds())

	// Recreated: the same CA and the same certificate, from the volume.
	p.run("rm", edge)
	runEdge()
	if again, _ := rootFromVolume(t, p, volume); !bytes.Equal(again, rootPEM) {
		t.Error("the recreated container made a new CA; want the one in /data")
	}
	waitFor(t, 30*time.Second, "HTTPS after recreation, trusted by the old root", func() error {
		res, err := client.Get("https://shop.test/")
		if err != nil {
			return err
		}
		res.Body.Close()
		return nil
	})
	if after := servedSerial(t, roots, "127.0.0.1:18700"); after != before {
		t.Errorf("certificate serial %s after recreation; want %s, kept in /data", after, before)
	} else {
		t.Logf("recreated container serves the same certificate (serial %s) from /data", after)
	}
}

// TestComposeSidecar: deploy/compose/compose.yaml brings up the same pair with podman-compose.
func TestComposeSidecar(t *testing.T) {
	p := newPodman(t)
	compose := requireTool(t, "podman-compose")
	rampartImage, appImage := buildImages(t, p)
	file, _ := filepath.Abs(filepath.Join("..", "..", "deploy", "compose", "compose.yaml"))
	env := append(os.Environ(), "CONTAINERS_CONF="+p.conf, "PROXY_IMAGE="+rampartImage, "APP_IMAGE="+appImage,
		"HTTPS_PORT=18702", "HTTP_PORT=18703")
	composeCmd := func(args ...string) ([]byte, error) {
		c := exec.Command(compose, append([]string{"-p", "rampart-compose-test", "-f", file}, args...)...)
		c.Env = env
		return c.CombinedOutput()
	}
	down := func() {
		composeCmd("down", "-v", "-t", "5")
		p.cmd("network", "rm", "-f", "rampart-compose-test_default").Run() // podman-compose 1.0 leaves it
	}
	down()
	t.Cleanup(down)
	if out, err := composeCmd("up", "-d"); err != nil {
		t.Fatalf("podman-compose up: %v\n%s", err, out)
	}
	_, roots := rootFromVolume(t, p, "rampart-compose-test_rampart-data")
	client := sidecarClient(roots, "127.0.0.1:18702")
	waitFor(t, 30*time.Second, "HTTPS through the compose pair", func() error {
		return statusOK(client.Get("https://shop.test/"))
	})
	t.Logf("podman-compose up: HTTPS via 127.0.0.1:18702 reached the app")
}

func servedSerial(t *testing.T, roots *x509.CertPool, addr string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "shop.test", RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}
