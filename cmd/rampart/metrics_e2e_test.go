package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func scrape(t *testing.T, adminAddr string) string {
	t.Helper()
	res, err := http.Get("http://" + adminAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

// seriesCount counts the samples in an exposition.
func seriesCount(exposition string) int {
	n := 0
	for _, l := range strings.Split(exposition, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// TestMetricsCardinalityAndLint: 10,000 requests with random Host headers add
// no series; the exposition passes promtool check metrics.
func TestMetricsCardinalityAndLint(t *testing.T) {
	const app, httpsAddr, adminAddr = "127.0.0.1:18600", "127.0.0.1:18568", "127.0.0.1:18601"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	_, client, _ := startInternal(t, httpsAddr, "", app, "--admin-addr", adminAddr)
	waitListening(t, adminAddr)
	// Warm every series a request can create: a served request, and one for another name.
	for _, h := range []string{"shop.test", "warm.example"} {
		req, _ := http.NewRequest("GET", "https://shop.test/", nil)
		req.Host = h
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	before := seriesCount(stripRuntime(scrape(t, adminAddr)))

	for i := range 10000 {
		req, _ := http.NewRequest("GET", "https://shop.test/", nil)
		req.Host = fmt.Sprintf("%x-%d.example:%d", rand.Uint64(), i, rand.IntN(65535))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusMisdirectedRequest {
			t.Fatalf("random host: %d; want 421", res.StatusCode)
		}
	}
	exposition := scrape(t, adminAddr)
	after := seriesCount(stripRuntime(exposition))
	t.Logf("series before %d, after 10,000 random hosts %d", before, after)
	if after != before {
		t.Errorf("series went from %d to %d; random hosts must not add any", before, after)
	}
	if !strings.Contains(exposition, `rampart_http_requests_total{code="421",host="other",method="GET"} 10001`) {
		t.Errorf("the 10,001 misdirected requests are not counted under host=\"other\"")
	}
	if !strings.Contains(exposition, `rampart_rejected_requests_total{reason="misdirected"} 10001`) {
		t.Errorf("the refusals are not counted by reason")
	}

	promtool := requireTool(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	} else {
		t.Logf("promtool check metrics: passed (%d bytes of exposition)", len(exposition))
	}
}

// stripRuntime drops the Go and process collectors' samples, which move on
// their own (goroutines, memory), from an exposition.
func stripRuntime(exposition string) string {
	var keep []string
	for _, l := range strings.Split(exposition, "\n") {
		if strings.HasPrefix(l, "rampart_") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// TestPrometheusScrapes: a real Prometheus server scrapes a running rampart;
// its API shows up == 1 and, for each served name, an expiry series equal to
// the certificate's real NotAfter.
func TestPrometheusScrapes(t *testing.T) {
	prom := requireTool(t, "prometheus")
	const app, httpsAddr, adminAddr, promAddr = "127.0.0.1:18602", "127.0.0.1:18569", "127.0.0.1:18603", "127.0.0.1:18604"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	dataDir := t.TempDir()
	start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test,api.shop.test", "--upstream", "http://"+app,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", adminAddr, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))
	notAfter := map[string]time.Time{}
	for _, name := range []string{"shop.test", "api.shop.test"} {
		leaf, err := handshake(httpsAddr, name, roots)
		if err != nil {
			t.Fatal(err)
		}
		notAfter[name] = leaf.NotAfter
	}

	dir := t.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	os.WriteFile(conf, []byte(`global:
  scrape_interval: 1s
scrape_configs:
  - job_name: rampart
    static_configs:
      - targets: ["`+adminAddr+`"]
`), 0o600)
	start(t, "prometheus", nil, prom, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	waitListening(t, promAddr)

	query := func(q string) []float64 {
		res, err := http.Get("http://" + promAddr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer res.Body.Close()
		var body struct {
			Data struct {
				Result []struct {
					Value [2]any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(res.Body).Decode(&body) != nil {
			return nil
		}
		var out []float64
		for _, r := range body.Data.Result {
			s, _ := r.Value[1].(string)
			v, _ := strconv.ParseFloat(s, 64)
			out = append(out, v)
		}
		return out
	}
	waitFor(t, 30*time.Second, "Prometheus sees up == 1", func() error {
		if v := query(`up{job="rampart"}`); len(v) != 1 || v[0] != 1 {
			return fmt.Errorf("up = %v", v)
		}
		return nil
	})
	for name, want := range notAfter {
		v := query(`rampart_certificate_not_after_timestamp_seconds{domain="` + name + `"}`)
		if len(v) != 1 || math.Abs(v[0]-float64(want.Unix())) > 0.5 {
			t.Errorf("%s: expiry series %v; want %d (the served certificate's NotAfter)", name, v, want.Unix())
		} else {
			t.Logf("Prometheus: up 1; %s expires %v, series %.0f", name, want.UTC().Format(time.RFC3339), v[0])
		}
	}
}

// TestAdminPprofOnlyWhenAsked: /debug/pprof/ is absent unless --admin-pprof.
func TestAdminPprofOnlyWhenAsked(t *testing.T) {
	for _, tc := range []struct {
		adminAddr, httpsAddr string
		extra                []string
		want                 int
	}{
		{"127.0.0.1:18610", "127.0.0.1:18572", nil, http.StatusNotFound},
		{"127.0.0.1:18611", "127.0.0.1:18573", []string{"--admin-pprof"}, http.StatusOK},
	} {
		args := append([]string{"--tls", "internal", "--domain", "shop.test", "--upstream", "http://127.0.0.1:18612",
			"--https-addr", tc.httpsAddr, "--http-addr", "", "--admin-addr", tc.adminAddr, "--data-dir", t.TempDir()}, tc.extra...)
		start(t, "rampart", nil, rampartBin, args...)
		waitListening(t, tc.adminAddr)
		res, err := http.Get("http://" + tc.adminAddr + "/debug/pprof/")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%v: /debug/pprof/ = %d; want %d", tc.extra, res.StatusCode, tc.want)
		}
	}
}
