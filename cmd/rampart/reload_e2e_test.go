package main

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// steadyLoad sends a GET every interval until stopped (or until allowed
// returns false, as a load balancer stops on a failing /readyz), and counts
// the outcomes and which app answered.
type steadyLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	answers    []string
	stop       chan struct{}
	done       sync.WaitGroup
}

func startLoad(t *testing.T, client *http.Client, url string, interval time.Duration, allowed func() bool) *steadyLoad {
	l := &steadyLoad{stop: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
			if allowed != nil && !allowed() {
				return
			}
			req, _ := http.NewRequest("GET", url, nil)
			req.Host = "shop.test"
			res, err := client.Do(req)
			if err != nil {
				l.failed.Add(1)
				t.Logf("load: %v", err)
				continue
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 {
				l.failed.Add(1)
				t.Logf("load: status %d, %v", res.StatusCode, err)
				continue
			}
			l.ok.Add(1)
			l.mu.Lock()
			if n := len(l.answers); n == 0 || l.answers[n-1] != string(body) {
				l.answers = append(l.answers, string(body))
			}
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *steadyLoad) finish() {
	close(l.stop)
	l.done.Wait()
}

func internalClient(t *testing.T, dataDir, httpsAddr string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem")), ServerName: "shop.test"},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
	}}
}

// TestReloadUnderLoad: ten SIGHUPs under a steady load, one of which moves
// the upstream and one of which carries a broken file, lose no request.
func TestReloadUnderLoad(t *testing.T) {
	const httpsAddr, appA, appB = "127.0.0.1:18563", "127.0.0.1:18593", "127.0.0.1:18594"
	startApp(t, appA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "A") }))
	startApp(t, appB, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "B") }))
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	write := func(body string) {
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("# rampart under test\ndomain: shop.test\nupstream: http://" + appA + "\n")
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--tls", "internal",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)

	load := startLoad(t, internalClient(t, dataDir, httpsAddr), "https://shop.test/", 10*time.Millisecond, nil)
	for i := 1; i <= 10; i++ {
		time.Sleep(200 * time.Millisecond)
		switch i {
		case 4:
			write("domain: shop.test\nupstream: http://" + appB + "\n")
		case 7:
			write("domain: shop.test\nupstream: ftp://" + appB + "\n") // refused: A or B stays
		case 9:
			write("domain: shop.test\nupstream: http://" + appB + "\n")
		}
		if err := r.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	load.finish()

	ok, failed := load.ok.Load(), load.failed.Load()
	t.Logf("10 reloads under load: %d ok, %d failed; answers %v", ok, failed, load.answers)
	if failed != 0 || ok < 100 {
		t.Errorf("%d ok, %d failed; want 0 failed (and a real load)", ok, failed)
	}
	if got := strings.Join(load.answers, ""); got != "AB" {
		t.Errorf("answers went %q; want A then B, and no return to A after the broken file", got)
	}
	out := r.out.String()
	// SIGHUPs 7 and 8 both met the broken file. The file's changes may
	// each have been seen by the watcher too, before the signal came.
	watched := strings.Count(out, "the --config file changed")
	if applied, refused := strings.Count(out, `"reloaded"`), strings.Count(out, "reload refused"); applied+refused != 10+watched || refused < 2 || refused > 3 {
		t.Errorf("%d reloads applied, %d refused, %d on a change of the file; want 10 and those, 2 or 3 refused", applied, refused, watched)
	}
	if !strings.Contains(out, "reload refused") || !strings.Contains(out, "ftp://") {
		t.Errorf("the broken file's refusal is not logged with its cause:\n%s", out)
	}
}

// TestStopUnderLoad: a load balancer that watches /readyz and a steady load:
// across SIGTERM no request fails.
func TestStopUnderLoad(t *testing.T) {
	const httpsAddr, adminAddr, app = "127.0.0.1:18564", "127.0.0.1:18595", "127.0.0.1:18596"
	startApp(t, app, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // some requests are always in flight
		io.WriteString(w, "ok")
	}))
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--domain", "shop.test", "--upstream", "http://"+app, "--tls", "internal",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", adminAddr, "--data-dir", dataDir, "--shutdown-delay", "1s")
	waitListening(t, httpsAddr)
	waitListening(t, adminAddr)

	var ready atomic.Bool
	ready.Store(true)
	stopWatch := make(chan struct{})
	go func() { // the load balancer's health check
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
			res, err := http.Get("http://" + adminAddr + "/readyz")
			if err != nil || res.StatusCode != 200 {
				ready.Store(false)
			}
			if err == nil {
				res.Body.Close()
			}
		}
	}()
	defer close(stopWatch)

	// Several clients, so that requests overlap the stop.
	var loads []*steadyLoad
	for range 4 {
		loads = append(loads, startLoad(t, internalClient(t, dataDir, httpsAddr), "https://shop.test/", 20*time.Millisecond, ready.Load))
	}
	time.Sleep(time.Second)
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatal("rampart did not stop")
	}
	var ok, failed int64
	for _, l := range loads {
		l.finish()
		ok, failed = ok+l.ok.Load(), failed+l.failed.Load()
	}
	t.Logf("stop under load: %d ok, %d failed", ok, failed)
	if failed != 0 || ok < 50 {
		t.Errorf("%d ok, %d failed across SIGTERM; want 0 failed", ok, failed)
	}
	if code := r.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
}
