package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// countingApp is a test app that answers with its name and counts requests.
type countingApp struct {
	name   string
	srv    *httptest.Server
	addr   string
	served atomic.Int64
	health atomic.Int32  // the status its /healthz answers; 0 means 200
	hold   chan struct{} // when set, /slow waits on it
}

func startApp(t *testing.T, name string) *countingApp {
	t.Helper()
	a := &countingApp{name: name}
	a.srv = serveFixed(t, a)
	a.addr = a.srv.Listener.Addr().String()
	t.Cleanup(a.srv.Close)
	return a
}

func (a *countingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" {
		if s := a.health.Load(); s != 0 {
			w.WriteHeader(int(s))
		}
		return
	}
	a.served.Add(1)
	if r.URL.Path == "/slow" && a.hold != nil {
		<-a.hold
	}
	io.WriteString(w, a.name)
}

// restart serves the app again on its old address.
func (a *countingApp) restart(t *testing.T) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old socket may linger a moment
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	a.srv = httptest.NewUnstartedServer(a)
	a.srv.Listener.Close()
	a.srv.Listener = ln
	a.srv.Start()
	t.Cleanup(a.srv.Close)
}

func (a *countingApp) url() *url.URL { return &url.URL{Scheme: "http", Host: a.addr} }

func poolProxy(t *testing.T, pc *Pool) (*Proxy, *httptest.Server) {
	t.Helper()
	p, err := New(Config{
		Sites:          []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Pool: pc}}}},
		Transport:      NewTransport(TransportConfig{ResponseHeaderTimeout: 2 * time.Second, DialTimeout: time.Second}),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Logger:         zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.StopHealthChecks)
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	return p, front
}

func send(t *testing.T, front *httptest.Server, method, path, client string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, front.URL+path, nil)
	req.Host = "shop.test"
	if client != "" {
		req.Header.Set("X-Forwarded-For", client)
	}
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func healthOf(p *Proxy) map[string]bool {
	out := map[string]bool{}
	for _, u := range p.Upstreams() {
		out[u.Upstream] = u.Healthy
	}
	return out
}

// TestPoolRoundRobin: requests go to the members in turn.
func TestPoolRoundRobin(t *testing.T) {
	a, b, c := startApp(t, "a"), startApp(t, "b"), startApp(t, "c")
	_, front := poolProxy(t, &Pool{Name: "shop", Members: []*url.URL{a.url(), b.url(), c.url()}})
	for i := 0; i < 30; i++ {
		if status, _ := send(t, front, "GET", "/", ""); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	for _, app := range []*countingApp{a, b, c} {
		if n := app.served.Load(); n != 10 {
			t.Errorf("%s served %d of 30; want 10", app.name, n)
		}
	}
}

// TestPoolLeastRequests: a member busy with slow requests gets no more while
// the others are idle.
func TestPoolLeastRequests(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	a.hold, b.hold = make(chan struct{}), make(chan struct{})
	_, front := poolProxy(t, &Pool{Members: []*url.URL{a.url(), b.url()}, Balance: LeastRequests})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); send(t, front, "GET", "/slow", "") }()
	deadline := time.Now().Add(5 * time.Second)
	for a.served.Load()+b.served.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	busy, idle := a, b
	if b.served.Load() == 1 {
		busy, idle = b, a
	}
	for i := 0; i < 10; i++ {
		if _, body := send(t, front, "GET", "/", ""); body != idle.name {
			t.Errorf("request %d went to %s, which holds a request; want %s", i, body, idle.name)
		}
	}
	if n := busy.served.Load(); n != 1 {
		t.Errorf("%s, holding the slow request, served %d; want only that one", busy.name, n)
	}
	close(a.hold)
	close(b.hold)
	wg.Wait()
}

// TestPoolClientHash: a client stays on one member; when its member leaves,
// only that member's clients move.
func TestPoolClientHash(t *testing.T) {
	apps := []*countingApp{startApp(t, "a"), startApp(t, "b"), startApp(t, "c")}
	p, front := poolProxy(t, &Pool{Members: []*url.URL{apps[0].url(), apps[1].url(), apps[2].url()}, Balance: ClientHash, EjectAfter: 1, EjectFor: time.Minute})
	where := map[string]string{}
	for i := 0; i < 60; i++ {
		client := fmt.Sprintf("203.0.113.%d", i)
		_, first := send(t, front, "GET", "/", client)
		for j := 0; j < 3; j++ {
			if _, again := send(t, front, "GET", "/", client); again != first {
				t.Fatalf("client %s went to %s, then %s", client, first, again)
			}
		}
		where[client] = first
	}
	per := map[string]int{}
	for _, m := range where {
		per[m]++
	}
	if len(per) != 3 {
		t.Errorf("60 clients spread over %v; want all three members", per)
	}
	// b stops; its clients move (a dial failure ejects it at once here),
	// the others stay where they were.
	apps[1].srv.Close()
	for client, was := range where {
		status, now := send(t, front, "GET", "/", client)
		switch {
		case status != 200:
			t.Errorf("client %s: status %d after b stopped", client, status)
		case was != "b" && now != was:
			t.Errorf("client %s moved from %s to %s when b stopped", client, was, now)
		case was == "b" && now == "b":
			t.Errorf("client %s still on b", client)
		}
	}
	if h := healthOf(p); h["http://"+apps[1].addr] {
		t.Errorf("health %v: b still healthy", h)
	}
}

// TestPoolPassiveHealth: a member that refuses connections is ejected after
// EjectAfter failures, every GET meanwhile succeeds on another member, and
// after EjectFor it is tried and readmitted.
func TestPoolPassiveHealth(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	p, front := poolProxy(t, &Pool{Members: []*url.URL{a.url(), b.url()}, EjectAfter: 2, EjectFor: 500 * time.Millisecond})
	b.srv.Close()
	for i := 0; i < 20; i++ {
		if status, body := send(t, front, "GET", "/", ""); status != 200 || body != "a" {
			t.Fatalf("request %d with b down: %d %q; want 200 from a", i, status, body)
		}
	}
	if h := healthOf(p); !h["http://"+a.addr] || h["http://"+b.addr] {
		t.Fatalf("health %v; want a healthy, b not", h)
	}
	// Ejected, b is not tried: no request waits on its dial.
	if n := p.registry.members; len(n) != 2 {
		t.Fatalf("registry %v", n)
	}
	for _, m := range p.registry.members {
		if m.label == "http://"+b.addr && m.ejectedUntil.Load() <= monoNow() {
			t.Fatal("b is not ejected")
		}
	}
	b.restart(t)
	deadline := time.Now().Add(5 * time.Second)
	for b.served.Load() == 0 && time.Now().Before(deadline) {
		send(t, front, "GET", "/", "")
		time.Sleep(20 * time.Millisecond)
	}
	if b.served.Load() == 0 {
		t.Fatal("b restarted but never readmitted")
	}
	if h := healthOf(p); !h["http://"+b.addr] {
		t.Errorf("health %v: b readmitted but not healthy", h)
	}
}

// TestPoolActiveHealth: a member failing its health check leaves the
// rotation within interval × threshold and comes back when it passes again.
func TestPoolActiveHealth(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	const interval = 100 * time.Millisecond
	p, front := poolProxy(t, &Pool{Members: []*url.URL{a.url(), b.url()},
		Health: &HealthCheck{Path: "/healthz", Interval: interval, Timeout: 50 * time.Millisecond, Healthy: 2, Unhealthy: 3}})
	b.health.Store(500)
	deadline := time.Now().Add(interval*3 + 5*interval) // the bound, and room for a slow machine
	for healthOf(p)["http://"+b.addr] && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if healthOf(p)["http://"+b.addr] {
		t.Fatal("b answers 500 on its health path and is still in rotation")
	}
	before := b.served.Load()
	for i := 0; i < 10; i++ {
		if _, body := send(t, front, "GET", "/", ""); body != "a" {
			t.Fatalf("request %d went to %s, which fails its checks", i, body)
		}
	}
	if b.served.Load() != before {
		t.Error("b served requests while unhealthy")
	}
	b.health.Store(0)
	deadline = time.Now().Add(interval*2 + 5*interval)
	for !healthOf(p)["http://"+b.addr] && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !healthOf(p)["http://"+b.addr] {
		t.Fatal("b passes its checks again and is not back")
	}
	for i := 0; i < 4; i++ {
		send(t, front, "GET", "/", "")
	}
	if b.served.Load() == before {
		t.Error("b back in rotation but served nothing")
	}
}

// TestPoolStateSurvivesUpdate: a reload that keeps a member keeps its
// ejection; one that drops it drops it from the registry; a refused one
// changes nothing.
func TestPoolStateSurvivesUpdate(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	pc := &Pool{Members: []*url.URL{a.url(), b.url()}, EjectAfter: 1, EjectFor: time.Minute}
	p, front := poolProxy(t, pc)
	b.srv.Close()
	send(t, front, "GET", "/", "")
	send(t, front, "GET", "/", "")
	if healthOf(p)["http://"+b.addr] {
		t.Fatal("b not ejected")
	}
	cfg := Config{Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Match: RouteMatch{Path: "/v2"}, Pool: pc}, {Pool: pc}}}}}
	if err := p.Update(cfg); err != nil {
		t.Fatal(err)
	}
	if healthOf(p)["http://"+b.addr] {
		t.Error("b's ejection was lost on reload")
	}
	if n := len(p.registry.members); n != 2 {
		t.Errorf("registry holds %d members after reload; want 2", n)
	}
	if err := p.Update(Config{Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Pool: &Pool{Members: []*url.URL{a.url()}}}}}}}); err != nil {
		t.Fatal(err)
	}
	if n := len(p.registry.members); n != 1 {
		t.Errorf("registry holds %d members after b was removed; want 1", n)
	}
	// A refused update leaves the registry as it was.
	if err := p.Update(Config{Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Pool: pc}, {Respond: &Respond{Status: 204, Body: "x"}}}}}}); err == nil {
		t.Fatal("a bad table was accepted")
	}
	if n := len(p.registry.members); n != 1 {
		t.Errorf("registry holds %d members after a refused update; want 1", n)
	}
}

// TestPoolUnixAndH2C: a member on a Unix socket, and one speaking HTTP/2
// without TLS (what a gRPC app serves), each reached through the pool.
func TestPoolUnixAndH2C(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	unixApp := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "unix %s %s", r.Proto, r.Host)
	})}
	go unixApp.Serve(ln)
	t.Cleanup(func() { unixApp.Close() })

	h2app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "Grpc-Status")
		fmt.Fprintf(w, "h2c %s", r.Proto)
		w.(http.Flusher).Flush() // streamed, as gRPC answers: no Content-Length, so HTTP/1.1 can carry the trailer
		w.Header().Set("Grpc-Status", "0")
	}))
	h2app.Listener.Close()
	h2app.Listener = listenFixed(t)
	h2app.Config.Protocols = new(http.Protocols)
	h2app.Config.Protocols.SetUnencryptedHTTP2(true) // prior knowledge only, as a gRPC server
	h2app.Start()
	t.Cleanup(h2app.Close)

	for _, tt := range []struct {
		member *url.URL
		want   string
	}{
		{&url.URL{Scheme: "unix", Opaque: sock}, "unix HTTP/1.1 shop.test"},
		{&url.URL{Scheme: "unix", Path: sock}, "unix HTTP/1.1 shop.test"},
		{&url.URL{Scheme: "h2c", Host: h2app.Listener.Addr().String()}, "h2c HTTP/2.0"},
	} {
		_, front := poolProxy(t, &Pool{Members: []*url.URL{tt.member}})
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, front.URL+"/", strings.NewReader("x"))
			req.Host = "shop.test"
			res, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != tt.want {
				t.Errorf("%s %s: %d %q; want 200 %q", method, tt.member, res.StatusCode, b, tt.want)
			}
			if tt.member.Scheme == "h2c" && res.Trailer.Get("Grpc-Status") != "0" {
				t.Errorf("%s %s: trailer Grpc-Status %q; want 0", method, tt.member, res.Trailer.Get("Grpc-Status"))
			}
		}
	}
}
