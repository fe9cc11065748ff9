package main

import (
	"context"
	"fmt"
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

// poolApp is one instance of a test app: it counts what it serves, holds
// each request a little (so some are in flight when it dies), and records
// every POST's id, so a POST sent twice is seen.
type poolApp struct {
	name, addr string
	srv        *http.Server
	gets       atomic.Int64
	mu         *sync.Mutex
	posts      map[string]int // id → times seen, shared by all instances

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState // open connections and where each stands
}

func (a *poolApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost {
		a.mu.Lock()
		a.posts[r.Header.Get("X-Test-Id")]++
		a.mu.Unlock()
	} else {
		a.gets.Add(1)
	}
	time.Sleep(5 * time.Millisecond)
	io.WriteString(w, a.name)
}

func (a *poolApp) start(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ { // a restart may find the old socket lingering a moment
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	a.conns = map[net.Conn]http.ConnState{}
	a.srv = &http.Server{Handler: a, ConnState: func(c net.Conn, s http.ConnState) {
		a.connMu.Lock()
		defer a.connMu.Unlock()
		if s == http.StateClosed || s == http.StateHijacked {
			delete(a.conns, c)
		} else {
			a.conns[c] = s
		}
	}}
	go func() { _ = a.srv.Serve(ln) }()
	srv := a.srv
	t.Cleanup(func() { srv.Close() })
}

// kill stops the instance as a crash would: every connection closed at
// once, requests in flight cut off. It returns how many were in flight: on
// each connection, one being read or answered (active), or one rampart has
// written that the app has not begun to read (bytes waiting on an idle
// connection). Each connection is judged and closed in one step, so no
// request slips in between.
func (a *poolApp) kill() int {
	n := 0
	a.connMu.Lock()
	for c, st := range a.conns {
		if st == http.StateActive || st == http.StateNew || pending(c) {
			n++
		}
		_ = c.Close()
	}
	a.connMu.Unlock()
	a.srv.Close()
	return n
}

// pending tells whether bytes wait unread on a connection.
func pending(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var b [1]byte
	waiting := false
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		waiting = err == nil && n > 0
		return true
	})
	return waiting
}

// TestPoolMemberKilledUnderLoad: three instances behind one pool under a
// constant load of GETs and POSTs; one is killed, then restarted. Only what
// was in flight on it may fail; every later GET succeeds (a dial failure
// goes once more, to another member); no POST reaches an app twice; the
// member is ejected and readmitted, and rampart_upstream_healthy follows.
func TestPoolMemberKilledUnderLoad(t *testing.T) {
	const httpsAddr, adminAddr = "127.0.0.1:18850", "127.0.0.1:18851"
	var mu sync.Mutex
	posts := map[string]int{}
	apps := []*poolApp{
		{name: "a", addr: "127.0.0.1:18852", mu: &mu, posts: posts},
		{name: "b", addr: "127.0.0.1:18853", mu: &mu, posts: posts},
		{name: "c", addr: "127.0.0.1:18854", mu: &mu, posts: posts},
	}
	for _, a := range apps {
		a.start(t)
	}
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: `+adminAddr+`
sites:
  - hosts: [shop.test]
    routes:
      - pool: shop
pools:
  shop:
    members: [http://`+apps[0].addr+`, http://`+apps[1].addr+`, http://`+apps[2].addr+`]
    eject_after: 2
    eject_for: 1s
`), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	client := internalClient(t, dataDir, httpsAddr)
	healthy := func(app string) string {
		for _, l := range strings.Split(scrape(t, adminAddr), "\n") {
			if strings.HasPrefix(l, `rampart_upstream_healthy{pool="shop",upstream="http://`+app+`"}`) {
				return l[strings.LastIndexByte(l, ' ')+1:]
			}
		}
		return "missing"
	}
	if h := healthy(apps[1].addr); h != "1" {
		t.Fatalf("b's health series at start: %s; want 1", h)
	}

	// The load: four clients, each a request every 2 ms, one in four a POST
	// with an id of its own; bounded by count and time. Each client has one
	// request out at a time. The kill is a moment [killStart, killEnd]: a
	// request that began before its end may have been on its way to b; one
	// that began after it must succeed.
	var (
		getOK, getFailed, postOK, postFailed atomic.Int64
		seq                                  atomic.Int64
		killEnd                              atomic.Int64 // unix nanoseconds; 0 before the kill
		failedLater                          atomic.Int64 // requests begun after the kill that failed
	)
	ctx, stop := context.WithTimeout(context.Background(), 30*time.Second)
	defer stop()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000 && ctx.Err() == nil; i++ {
				n := seq.Add(1)
				method := "GET"
				if n%4 == 0 {
					method = "POST"
				}
				req, _ := http.NewRequestWithContext(ctx, method, "https://shop.test/", strings.NewReader("order"))
				req.Header.Set("X-Test-Id", fmt.Sprint(n))
				begun := time.Now().UnixNano()
				res, err := client.Do(req)
				ok := err == nil && res.StatusCode == 200
				if err == nil {
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
				if !ok && ctx.Err() == nil {
					if k := killEnd.Load(); k != 0 && begun > k {
						failedLater.Add(1)
						t.Logf("%s %d, begun after the kill, failed: %v", method, n, err)
					}
				}
				switch {
				case ctx.Err() != nil:
				case method == "GET" && ok:
					getOK.Add(1)
				case method == "GET":
					getFailed.Add(1)
				case ok:
					postOK.Add(1)
				default:
					postFailed.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}

	time.Sleep(time.Second)
	bBefore := apps[1].gets.Load()
	inFlightOnB := apps[1].kill()
	killEnd.Store(time.Now().UnixNano())
	t.Logf("killed b with %d requests in flight on it by its own count (it had served %d GETs)", inFlightOnB, bBefore)

	deadline := time.Now().Add(5 * time.Second)
	for healthy(apps[1].addr) != "0" && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if h := healthy(apps[1].addr); h != "0" {
		t.Errorf("b killed: health series %s; want 0 (ejected)", h)
	}
	time.Sleep(1500 * time.Millisecond) // b stays down past one ejection: it is tried again, fails, and rests again
	getsWhileDown := apps[1].gets.Load()
	apps[1].start(t)
	t.Log("restarted b")
	deadline = time.Now().Add(10 * time.Second)
	for (healthy(apps[1].addr) != "1" || apps[1].gets.Load() == getsWhileDown) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if h := healthy(apps[1].addr); h != "1" || apps[1].gets.Load() == getsWhileDown {
		t.Errorf("b restarted: health series %s, %d GETs since; want 1 and some (readmitted)", h, apps[1].gets.Load()-getsWhileDown)
	}
	time.Sleep(500 * time.Millisecond)
	stop()
	wg.Wait()

	mu.Lock()
	twice := 0
	for id, n := range posts {
		if n > 1 {
			twice++
			t.Errorf("POST %s reached the apps %d times", id, n)
		}
	}
	mu.Unlock()
	t.Logf("GET: %d ok, %d failed; POST: %d ok, %d failed, %d sent twice; failed after the kill: %d; GETs served: a %d, b %d, c %d",
		getOK.Load(), getFailed.Load(), postOK.Load(), postFailed.Load(), twice, failedLater.Load(),
		apps[0].gets.Load(), apps[1].gets.Load(), apps[2].gets.Load())
	// Only what was on its way to b as it died may fail: requests begun
	// before the kill's end, of which there are at most the four clients'.
	if f := getFailed.Load() + postFailed.Load(); f > 4 {
		t.Errorf("%d requests failed; only those on their way to b as it died (at most 4, one per client) may", f)
	}
	if failedLater.Load() != 0 {
		t.Errorf("%d requests begun after the kill failed; every one should have gone to a live member", failedLater.Load())
	}
	if getOK.Load() < 500 || postOK.Load() < 100 {
		t.Errorf("only %d GETs and %d POSTs succeeded: not a real load", getOK.Load(), postOK.Load())
	}
	out := r.out.String()
	if !strings.Contains(out, "upstream ejected") {
		t.Error("the ejection is not logged")
	}
}

// TestReadyRequiresUpstream: with --ready-requires-upstream, /readyz fails
// while the sidecar's app fails its health check, and passes again when it
// recovers.
func TestReadyRequiresUpstream(t *testing.T) {
	const httpsAddr, adminAddr, appAddr = "127.0.0.1:18855", "127.0.0.1:18856", "127.0.0.1:18857"
	var sick atomic.Bool
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	conf := filepath.Join(t.TempDir(), "rampart.yaml")
	if err := os.WriteFile(conf, []byte(`tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: `+adminAddr+`
ready-requires-upstream: true
sites:
  - hosts: [shop.test]
    routes: [{pool: app}]
pools:
  app:
    members: [http://`+appAddr+`]
    health: {path: /healthz, interval: 200ms, timeout: 100ms, healthy: 1, unhealthy: 2}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", t.TempDir())
	waitListening(t, httpsAddr)
	readyz := func() (int, string) {
		res, err := http.Get("http://" + adminAddr + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	wait := func(want int) (int, string) {
		deadline := time.Now().Add(5 * time.Second)
		for {
			code, body := readyz()
			if code == want || time.Now().After(deadline) {
				return code, body
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if code, body := wait(200); code != 200 {
		t.Fatalf("/readyz with a healthy app: %d %q", code, body)
	}
	sick.Store(true)
	if code, body := wait(503); code != 503 || !strings.Contains(body, "pool app") {
		t.Errorf("/readyz with the app failing its checks: %d %q; want 503 naming the pool", code, body)
	}
	sick.Store(false)
	if code, body := wait(200); code != 200 {
		t.Errorf("/readyz after the app recovered: %d %q; want 200", code, body)
	}
}

// TestReloadKeepsUpstreamConnections: reloads that change a route but not
// the pool keep the pool's idle connections to the app: the app sees no new
// connection for them.
func TestReloadKeepsUpstreamConnections(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18887", "127.0.0.1:18888"
	var conns atomic.Int64
	ln, err := net.Listen("tcp", appAddr)
	if err != nil {
		t.Fatal(err)
	}
	app := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}
	go app.Serve(ln)
	t.Cleanup(func() { app.Close() })
	dir, dataDir := t.TempDir(), t.TempDir()
	conf := filepath.Join(dir, "rampart.yaml")
	write := func(robots string) {
		body := "tls: internal\nhttps-addr: " + httpsAddr + "\nhttp-addr: \"\"\nadmin-addr: \"\"\nsites:\n  - hosts: [shop.test]\n    routes:\n" +
			"      - exact_path: /robots.txt\n        respond: {body: \"" + robots + "\"}\n      - pool: app\npools:\n  app: {members: [\"http://" + appAddr + "\"]}\n"
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("v0")
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	client := internalClient(t, dataDir, httpsAddr)
	get := func() {
		t.Helper()
		if err := statusOK(client.Get("https://shop.test/")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 5; i++ {
		get()
	}
	before := conns.Load()
	for i := 1; i <= 3; i++ {
		write(fmt.Sprintf("v%d", i))
		_ = r.cmd.Process.Signal(syscall.SIGHUP)
		want := fmt.Sprintf("v%d", i)
		waitFor(t, 10*time.Second, "reload "+want, func() error {
			res, err := client.Get("https://shop.test/robots.txt")
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if string(b) != want {
				return fmt.Errorf("robots.txt %q", b)
			}
			return nil
		})
		for j := 0; j < 5; j++ {
			get()
		}
	}
	if after := conns.Load(); after != before {
		t.Errorf("the app saw %d new connections over three reloads (%d before, %d after); want none: the pool's idle ones are kept", after-before, before, after)
	}
}
