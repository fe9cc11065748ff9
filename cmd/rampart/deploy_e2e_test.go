package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-proxy/rampart/metrics"
)

// TestDeployMonitoring: the alert rules pass promtool (check and unit tests),
// the dashboard is valid JSON, and every rampart_* metric that either names
// is one a running rampart exports.
func TestDeployMonitoring(t *testing.T) {
	promtool := requireTool(t, "promtool")
	deploy := filepath.Join("..", "..", "deploy")
	rules := filepath.Join(deploy, "prometheus", "rampart-alerts.yml")
	for _, args := range [][]string{
		{"check", "rules", rules},
		{"test", "rules", filepath.Join(deploy, "prometheus", "rampart-alerts.test.yml")},
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s %s: %s", args[0], args[1], strings.TrimSpace(lastLine(string(out))))
		}
	}

	dashboard, err := os.ReadFile(filepath.Join(deploy, "grafana", "rampart-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(dashboard, &d); err != nil || len(d.Panels) == 0 {
		t.Fatalf("dashboard: %v (%d panels)", err, len(d.Panels))
	}
	ruleText, _ := os.ReadFile(rules)

	const app, httpsAddr, adminAddr = "127.0.0.1:18606", "127.0.0.1:18570", "127.0.0.1:18607"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	// A payment page too, so that its series exist.
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte("sites:\n  - hosts: [pay.test]\n    routes:\n      - payment_page: {mode: learn}\n        upstream: http://"+app+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, client, _ := startInternal(t, httpsAddr, "", app, "--admin-addr", adminAddr, "--config", conf)
	res, err := client.Get("https://shop.test/") // so that every request series exists
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	exposition := scrape(t, adminAddr)
	// The renewal series exist only with ACME certificates (TestACMERenewal
	// scrapes them from a rampart served by Pebble); here the collector
	// shows their names for one.
	exposition += "\n" + renewalExposition(t)

	name := regexp.MustCompile(`rampart_[a-z_]+`)
	used := map[string]bool{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				used[n] = true
			}
		}
	}
	for _, n := range name.FindAllString(string(ruleText), -1) {
		used[n] = true
	}
	var missing []string
	for n := range used {
		if !strings.Contains(exposition, "\n"+n) && !strings.HasPrefix(exposition, n) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Fatalf("the dashboard or the alerts use metrics rampart does not export: %v", missing)
	}
	t.Logf("dashboard: %d panels; %d rampart metrics used, all exported", len(d.Panels), len(used))
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// renewalExposition is the metrics package's exposition for one ACME
// certificate's renewal plan, with a window and a last renewal.
func renewalExposition(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	now := time.Now()
	if _, err := metrics.New(metrics.Config{Registerer: reg, Hosts: []string{"shop.test"}, Renewals: func() []metrics.Renewal {
		return []metrics.Renewal{{Domain: "shop.test", KeyType: "ecdsa", Planned: now, WindowStart: now, WindowEnd: now.Add(time.Hour),
			LastRenewed: now, LastReason: "ari"}}
	}}); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range families {
		names = append(names, f.GetName())
	}
	return strings.Join(names, "\n")
}
