package main

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// knownH2specFailures are h2spec v2.2.1 cases that Go's HTTP/2 server fails
// by design; a failure not listed here fails the test. A listed case may pass
// (4.2/3 does on some runs: it races the server's own answer), which is logged.
var knownH2specFailures = map[string]string{
	"http2/4.2/3":     "oversized HEADERS frame: Go reads the headers and answers; it considers the test wrong (golang/go#25023)",
	"http2/6.5.3/1":   "several SETTINGS_INITIAL_WINDOW_SIZE values in one frame: Go closes the connection (cf. golang/go#56760)",
	"http2/8.1.2.2/1": "connection-specific header: Go answers 400 on the stream instead of a PROTOCOL_ERROR stream error; the app is never reached",
	"http2/8.1.2.2/2": "TE other than trailers: Go answers 400 instead of a PROTOCOL_ERROR stream error; the app is never reached",
}

type junitReport struct {
	Suites []struct {
		Package string `xml:"package,attr"`
		Cases   []struct {
			Name    string  `xml:"classname,attr"`
			Error   *string `xml:"error"`
			Failure *string `xml:"failure"`
			Skipped *string `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

// TestH2Spec runs h2spec (pinned in go.mod, run through go tool) against a
// running rampart over TLS.
func TestH2Spec(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18560", "127.0.0.1:18587"
	// h2spec wants GET / and POST / to answer 200 with a body, big enough
	// for its flow-control cases (6.9.2/2 is skipped below the window size).
	page := strings.Repeat("rampart h2spec page\n", 4000)
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, page)
	}))
	start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "localhost", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", t.TempDir(), "--log-level", "warn")
	waitListening(t, httpsAddr)

	report := filepath.Join(t.TempDir(), "h2spec.xml")
	cmd := exec.Command(goTool(t, "h2spec"), "-t", "-k", "-h", "localhost", "-p", "18560", "-o", "2", "-j", report)
	out, _ := cmd.CombinedOutput() // non-zero whenever any case fails; the report is judged below
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("h2spec wrote no report: %v\n%s", err, out)
	}
	var rep junitReport
	if err := xml.Unmarshal(data, &rep); err != nil {
		t.Fatalf("reading the h2spec report: %v", err)
	}
	total, passed := 0, 0
	failed := map[string]bool{}
	for _, s := range rep.Suites {
		for i, c := range s.Cases {
			total++
			id := fmt.Sprintf("%s/%d", s.Package, i+1)
			switch {
			case c.Error != nil || c.Failure != nil:
				failed[id] = true
				if _, known := knownH2specFailures[id]; !known {
					t.Errorf("h2spec %s failed: %s", id, c.Name)
				}
			case c.Skipped == nil:
				passed++
			default:
				t.Logf("h2spec %s skipped: %s", id, c.Name)
			}
		}
	}
	for id := range knownH2specFailures {
		if !failed[id] {
			t.Logf("h2spec %s, a known Go failure, passed this time", id)
		}
	}
	if total < 140 {
		t.Fatalf("h2spec ran %d cases; want the full suite (145)\n%s", total, out)
	}
	ids := make([]string, 0, len(failed))
	for id := range failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	t.Logf("h2spec: %d cases, %d passed, failed %v", total, passed, ids)
}
