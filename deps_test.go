// Package rampart_test holds the tests that keep the module's shape: the
// library packages are leaves wired by cmd/rampart, and every package says
// what it owns.
package rampart_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/rampart-proxy/rampart"

// libraries may import nothing of this module but its base packages
// (ARCHITECTURE.md); base packages import nothing of it at all.
var (
	libraries = []string{"tlsconfig", "certs", "proxy", "metrics", "redact", "audit", "webhook", "paymentpage"}
	base      = []string{"hostname"}
)

type goPackage struct {
	ImportPath string
	Name       string
	Doc        string
	Imports    []string
	GoFiles    []string
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []goPackage
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 4 {
		t.Fatalf("go list found %d packages; want at least tlsconfig, certs, proxy and cmd/rampart", len(pkgs))
	}
	return pkgs
}

func TestLibrariesAreLeaves(t *testing.T) {
	for _, p := range listPackages(t) {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		isLib, isBase := false, false
		for _, l := range libraries {
			isLib = isLib || rel == l
		}
		for _, b := range base {
			isBase = isBase || rel == b
		}
		if !isLib && !isBase {
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			allowed := false
			for _, b := range base {
				allowed = allowed || (isLib && imp == module+"/"+b)
			}
			if !allowed {
				t.Errorf("%s imports %s; library packages import only base packages (%v), and those nothing of this module (cmd/rampart wires them)", rel, imp, base)
			}
		}
	}
}

func TestEveryPackageHasDoc(t *testing.T) {
	for _, p := range listPackages(t) {
		if len(p.GoFiles) == 0 {
			continue // test-only directory, like this one
		}
		if strings.TrimSpace(p.Doc) == "" {
			t.Errorf("%s has no package doc comment saying what it owns", p.ImportPath)
		}
	}
}

// TestConfigSourceImports: a configuration source (config, the file; kube,
// the cluster) stands above the leaves and imports only the configuration
// types it produces (proxy's, and the webhook verifiers a route's policy
// holds) and the base packages; it never imports cmd/rampart or another
// source.
func TestConfigSourceImports(t *testing.T) {
	allowed := map[string]bool{module + "/proxy": true, module + "/webhook": true}
	for _, b := range base {
		allowed[module+"/"+b] = true
	}
	found := map[string]bool{}
	for _, p := range listPackages(t) {
		src := strings.TrimPrefix(p.ImportPath, module+"/")
		if src != "config" && src != "kube" {
			continue
		}
		found[src] = true
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module+"/") && !allowed[imp] {
				t.Errorf("%s imports %s; a configuration source may import only proxy, webhook and the base packages", src, imp)
			}
		}
	}
	if !found["config"] || !found["kube"] {
		t.Errorf("configuration sources found: %v; want config and kube", found)
	}
}
