package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestSystemdUnit: deploy/systemd/rampart.service passes systemd-analyze
// verify, scores 2.0 or lower on systemd-analyze security, and holds the
// settings the edge relies on. (systemd is not PID 1 on these machines, so the
// unit is checked offline, not started.)
func TestSystemdUnit(t *testing.T) {
	analyze := requireTool(t, "systemd-analyze")
	unit, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "rampart.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE", "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
		"NoNewPrivileges=yes", "ProtectSystem=strict", "StateDirectory=rampart", "PrivateTmp=yes", "ProtectHome=yes",
		"SystemCallFilter=@system-service", "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
		"ExecReload=/bin/kill -HUP $MAINPID", "Environment=RAMPART_DATA_DIR=/var/lib/rampart",
	} {
		if !strings.Contains(string(unit), "\n"+want+"\n") {
			t.Errorf("the unit lacks %s", want)
		}
	}
	file := verifyUnit(t, analyze, unit, rampartBin)
	out, err := exec.Command(analyze, "security", "--offline=true", file).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for rampart.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure score in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 2.0 {
		t.Errorf("exposure %.1f; want 2.0 or lower\n%s", score, out)
	}
}

// verifyUnit runs systemd-analyze verify on a copy of unit whose ExecStart
// names binary (verify checks that it exists; a root given with --root would
// need the whole of systemd under it) and returns the copy's path.
func verifyUnit(t *testing.T, analyze string, unit []byte, binary string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "rampart.service")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/rampart", binary)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", file).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else {
		t.Logf("systemd-analyze verify: passed")
	}
	return file
}

// runInstall runs deploy/systemd/install.sh with DESTDIR=root from the
// repository's root, as the README has a newcomer do.
func runInstall(t *testing.T, root string, args ...string) (string, error) {
	t.Helper()
	c := exec.Command(filepath.Join("deploy", "systemd", "install.sh"), args...)
	c.Dir = filepath.Join("..", "..")
	c.Env = append(os.Environ(), "DESTDIR="+root)
	out, err := c.CombinedOutput()
	return string(out), err
}

// TestSystemdInstall: deploy/systemd/install.sh, run into a scratch root,
// makes the directories it writes into, installs the binary and the unit
// with their modes and writes rampart.yaml from the settings given, and a
// second run keeps that file; the unit it installed names the binary and the
// file it installed and passes systemd-analyze verify.
func TestSystemdInstall(t *testing.T) {
	root := t.TempDir()
	settings := []string{"--domain", "shop.example.com", "--upstream=http://127.0.0.1:8080", "--acme-email", "ops@example.com"}
	if out, err := runInstall(t, root, append([]string{rampartBin}, settings...)...); err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	unit, _ := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "rampart.service"))
	conf := filepath.Join(root, "etc", "rampart", "rampart.yaml")
	for _, f := range []struct {
		path string
		mode os.FileMode
		same []byte // the installed file's content, where it is known
	}{
		{filepath.Join(root, "usr", "local", "bin"), os.ModeDir | 0o755, nil},
		{filepath.Join(root, "usr", "local", "bin", "rampart"), 0o755, nil},
		{filepath.Join(root, "etc", "systemd", "system", "rampart.service"), 0o644, unit},
		{filepath.Join(root, "etc", "rampart"), os.ModeDir | 0o755, nil},
		// Readable by all: the unit's dynamic user, unknown in advance, reads it.
		{conf, 0o644, nil},
	} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("not installed: %v", err)
			continue
		}
		if fi.Mode() != f.mode {
			t.Errorf("%s: mode %v; want %v", f.path, fi.Mode(), f.mode)
		}
		if got, _ := os.ReadFile(f.path); f.same != nil && !bytes.Equal(got, f.same) {
			t.Errorf("%s differs from the repository's copy", f.path)
		}
	}
	written, _ := os.ReadFile(conf)
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(written)), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	if want := []string{`domain: "shop.example.com"`, `upstream: "http://127.0.0.1:8080"`, `acme-email: "ops@example.com"`}; !slices.Equal(lines, want) {
		t.Errorf("rampart.yaml settings %q; want %q", lines, want)
	}

	// Again, with other settings: an upgrade, which keeps the operator's file.
	out, err := runInstall(t, root, rampartBin, "--domain", "other.example.com", "--upstream", "http://127.0.0.1:9")
	if err != nil {
		t.Fatalf("install.sh, second run: %v\n%s", err, out)
	}
	if again, _ := os.ReadFile(conf); !bytes.Equal(again, written) || !strings.Contains(out, "kept") {
		t.Errorf("the second run changed rampart.yaml or did not say it kept it:\n%s\n%s", again, out)
	}
	t.Logf("install.sh into %s: binary 0755, unit 0644, rampart.yaml 0644 with the settings given, kept on a second run", root)

	// The unit starts the binary installed with the file written.
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+) --config (\S+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("no ExecStart=BINARY --config FILE in the unit")
	}
	for _, p := range [][]byte{m[1], m[2]} {
		if _, err := os.Stat(filepath.Join(root, string(p))); err != nil {
			t.Errorf("the unit's ExecStart names %s, which install.sh did not install: %v", p, err)
		}
	}
	verifyUnit(t, requireTool(t, "systemd-analyze"), unit, filepath.Join(root, string(m[1])))
}

// TestSystemdInstallRefuses: install.sh names the fix and writes nothing
// when the binary is missing, when a first install lacks --domain or
// --upstream, when rampart check refuses the settings, or when a real
// install (no DESTDIR) runs without root.
func TestSystemdInstallRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, fix string
		args      []string
	}{
		{"no binary", "make build", []string{"bin/no-such-rampart", "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080"}},
		{"no upstream", "--domain and --upstream", []string{rampartBin, "--domain", "shop.example.com"}},
		{"a value missing", "http://host:port", []string{rampartBin, "--domain", "shop.example.com", "--upstream"}},
		{"a misspelt setting", "did you mean acme-email?", []string{rampartBin, "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080", "--acme-emial", "ops@example.com"}},
		{"a value rampart refuses", "TLS 1.0 and 1.1 are broken", []string{rampartBin, "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080", "--tls-min-version", "1.1"}},
		{"a data directory the unit overrides", "drop --data-dir", []string{rampartBin, "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080", "--data-dir", "/srv/rampart"}},
		{"a secret", "EnvironmentFile=", []string{rampartBin, "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080", "--acme-eab-hmac", "c2VjcmV0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "root")
			out, err := runInstall(t, root, tc.args...)
			if err == nil || !strings.Contains(out, "fix: ") || !strings.Contains(out, tc.fix) {
				t.Errorf("install.sh %s: %v\n%s\nwant a failure whose fix names %q", strings.Join(tc.args, " "), err, out, tc.fix)
			}
			if _, err := os.Stat(root); err == nil {
				t.Errorf("install.sh wrote into %s before failing", root)
			}
		})
	}

	t.Run("not root", func(t *testing.T) {
		// A copy of the script and a stand-in binary that an unprivileged
		// user can reach; as root, the test drops to nobody (65534) to run it.
		dir := t.TempDir()
		os.Chmod(dir, 0o755)
		os.Chmod(filepath.Dir(dir), 0o755) // the test's own temporary directory, 0700
		script, _ := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "install.sh"))
		for name, content := range map[string][]byte{"install.sh": script, "rampart": []byte("#!/bin/sh\n")} {
			if err := os.WriteFile(filepath.Join(dir, name), content, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		c := exec.Command(filepath.Join(dir, "install.sh"), filepath.Join(dir, "rampart"), "--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080")
		c.Env = append(os.Environ(), "DESTDIR=")
		if os.Geteuid() == 0 {
			c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		}
		out, err := c.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "fix: sudo ") {
			t.Errorf("install.sh into / without root: %v\n%s\nwant a failure whose fix is sudo", err, out)
		}
	})
}

// TestSystemdInstallAsDocumented: the install command the README, the unit
// and install.sh itself give runs as written (into a scratch root, without
// sudo), on the binary `make build` writes.
func TestSystemdInstallAsDocumented(t *testing.T) {
	build := exec.Command(requireTool(t, "make"), "-n", "build", "VERSION=documented")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil || !strings.Contains(string(out), " -o bin/rampart ") {
		t.Errorf("make -n build: %v\n%s\nwant it to write bin/rampart, the binary the documented command installs", err, out)
	}
	const command = "deploy/systemd/install.sh bin/rampart "
	for _, doc := range []string{"README.md", "deploy/systemd/rampart.service", "deploy/systemd/install.sh"} {
		data, err := os.ReadFile(filepath.Join("..", "..", doc))
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, line := range strings.Split(string(data), "\n") {
			_, rest, ok := strings.Cut(line, "sudo "+command)
			if !ok {
				continue
			}
			found++
			args := append([]string{rampartBin}, strings.Fields(rest)...)
			if out, err := runInstall(t, t.TempDir(), args...); err != nil || !strings.Contains(out, "wrote ") {
				t.Errorf("%s: %q, run into a scratch root: %v\n%s", doc, strings.TrimSpace(line), err, out)
			}
		}
		if found == 0 {
			t.Errorf("%s does not give the command sudo %s...", doc, command)
		}
	}
}

// TestSystemdInstallYAML: the settings given reach rampart.yaml as given
// (quotes, backslashes, '#', ': ' and a repeated --domain), rampart check
// reads them back, and an earlier install's rampart.conf (name = value)
// carries over, below what is given.
func TestSystemdInstallYAML(t *testing.T) {
	root := t.TempDir()
	csp := `default-src 'self'; script-src "x" \y # z: w`
	out, err := runInstall(t, root, rampartBin, "--domain", "shop.example.com", "--domain", "www.shop.example.com",
		"--upstream", "http://127.0.0.1:8080", "--csp", csp, "--hsts-preload")
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	conf := filepath.Join(root, "etc", "rampart", "rampart.yaml")
	data, _ := os.ReadFile(conf)
	if !strings.Contains(string(data), `domain: ["shop.example.com", "www.shop.example.com"]`) {
		t.Errorf("a repeated --domain is not a list:\n%s", data)
	}
	// rampart reads the file back to the same values: its check names them.
	cfg, err := parse([]string{"--config", conf}, nil)
	if err != nil {
		t.Fatalf("rampart does not read what install.sh wrote: %v\n%s", err, data)
	}
	if cfg.headers.CSP != csp || len(cfg.domains) != 2 || !cfg.headers.HSTSPreload {
		t.Errorf("read back CSP %q, domains %v, preload %v; want %q, two, true", cfg.headers.CSP, cfg.domains, cfg.headers.HSTSPreload, csp)
	}

	old := t.TempDir()
	if err := os.MkdirAll(filepath.Join(old, "etc", "rampart"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(old, "etc", "rampart", "rampart.conf"),
		[]byte("# an earlier install\ndomain = shop.example.com\nupstream = http://127.0.0.1:8080\nacme-email = \"ops@example.com\"\n"), 0o644)
	out, err = runInstall(t, old, rampartBin, "--upstream", "http://127.0.0.1:9000")
	if err != nil {
		t.Fatalf("install.sh over an earlier install: %v\n%s", err, out)
	}
	data, _ = os.ReadFile(filepath.Join(old, "etc", "rampart", "rampart.yaml"))
	for _, want := range []string{`domain: "shop.example.com"`, `upstream: "http://127.0.0.1:9000"`, `acme-email: "ops@example.com"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the converted file lacks %s:\n%s", want, data)
		}
	}
	if !strings.Contains(out, "rampart.conf") {
		t.Errorf("install.sh did not say it carried rampart.conf over:\n%s", out)
	}
}
