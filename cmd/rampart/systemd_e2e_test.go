package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
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
	// Point ExecStart at the binary under test: verify checks that it exists.
	dir := t.TempDir()
	file := filepath.Join(dir, "rampart.service")
	os.WriteFile(file, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/rampart", rampartBin)), 0o644)
	if out, err := exec.Command(analyze, "verify", file).CombinedOutput(); err != nil {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	} else {
		t.Logf("systemd-analyze verify: passed")
	}
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
