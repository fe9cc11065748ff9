package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	"golang.org/x/net/websocket"
)

// nextPort hands out fixed loopback ports below 32768 (the machine's
// ephemeral range starts there); this package owns 19100–19399.
var nextPort = func() *atomic.Int32 { var n atomic.Int32; n.Store(19100); return &n }()

// listenFixed listens on the next free fixed port.
func listenFixed(t testing.TB) net.Listener {
	t.Helper()
	for {
		port := nextPort.Add(1)
		if port > 19399 {
			t.Fatal("out of test ports")
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			return ln
		}
		// taken by something else; try the next
	}
}

// serveFixed starts h on the next fixed port, like httptest.NewServer.
func serveFixed(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = listenFixed(t)
	s.Start()
	return s
}

// newProxy starts rampart's proxy in front of app, serving shop.test.
func newProxy(t *testing.T, app http.Handler, mutate func(*Config)) *httptest.Server {
	t.Helper()
	upstream := serveFixed(t, app)
	t.Cleanup(upstream.Close)
	u, _ := url.Parse(upstream.URL)
	cfg := Config{
		Routes:    []Route{{Host: "shop.test", Upstream: u}},
		Transport: NewTransport(TransportConfig{ResponseHeaderTimeout: 300 * time.Millisecond}),
		Logger:    zaptest.NewLogger(t),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	t.Cleanup(front.Close)
	return front
}

func get(t *testing.T, front *httptest.Server, host string, hdr map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("GET", front.URL+"/x", nil)
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestForwardedHeaders(t *testing.T) {
	var seen http.Header
	var seenHost string
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, seenHost = r.Header.Clone(), r.Host
	})
	spoof := map[string]string{
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Host":  "evil.test",
		"X-Forwarded-Proto": "gopher",
		"Forwarded":         "for=6.6.6.6",
	}

	t.Run("untrusted client", func(t *testing.T) {
		front := newProxy(t, app, nil)
		get(t, front, "shop.test", spoof)
		if got := seen.Get("X-Forwarded-For"); got != "127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q; want 127.0.0.1", got)
		}
		if got := seen.Get("X-Forwarded-Host"); got != "shop.test" {
			t.Errorf("X-Forwarded-Host = %q; want shop.test", got)
		}
		if got := seen.Get("X-Forwarded-Proto"); got != "http" {
			t.Errorf("X-Forwarded-Proto = %q; want http (this test server has no TLS)", got)
		}
		if got := seen.Get("Forwarded"); got != "" {
			t.Errorf("Forwarded = %q; want it dropped", got)
		}
		if seenHost != "shop.test" {
			t.Errorf("app saw Host %q; want shop.test", seenHost)
		}
	})

	t.Run("trusted proxy", func(t *testing.T) {
		front := newProxy(t, app, func(c *Config) {
			c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		})
		get(t, front, "shop.test", spoof)
		if got := seen.Get("X-Forwarded-For"); got != "6.6.6.6, 127.0.0.1" {
			t.Errorf("X-Forwarded-For = %q; want the chain extended", got)
		}
		if got := seen.Get("X-Forwarded-Host"); got != "evil.test" {
			t.Errorf("X-Forwarded-Host = %q; want the trusted proxy's", got)
		}
		if got := seen.Get("Forwarded"); got != "for=6.6.6.6" {
			t.Errorf("Forwarded = %q; want kept", got)
		}
	})
}

func TestMisdirected(t *testing.T) {
	reached := false
	front := newProxy(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }), nil)
	res := get(t, front, "other.test", nil)
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("status = %d; want 421", res.StatusCode)
	}
	if reached {
		t.Error("the app was reached for a name that is not served")
	}
	if res.Header.Get("Strict-Transport-Security") == "" {
		t.Error("421 page lacks HSTS")
	}
	if res := get(t, front, "SHOP.test.:443", nil); res.StatusCode != 200 {
		t.Errorf("Host SHOP.test.:443: status %d; want 200 (same name)", res.StatusCode)
	}
}

func TestUpstreamErrors(t *testing.T) {
	t.Run("unreachable is 502", func(t *testing.T) {
		down := serveFixed(t, http.NotFoundHandler())
		u, _ := url.Parse(down.URL)
		down.Close()
		p, _ := New(Config{Routes: []Route{{Host: "shop.test", Upstream: u}}, Logger: zaptest.NewLogger(t)})
		front := serveFixed(t, p)
		defer front.Close()
		res := get(t, front, "shop.test", nil)
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("status = %d; want 502", res.StatusCode)
		}
		if strings.Contains(string(body), u.Host) || strings.Contains(string(body), "refused") {
			t.Errorf("502 page leaks internal detail: %q", body)
		}
	})
	t.Run("slow is 504", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		front := newProxy(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}), nil)
		res := get(t, front, "shop.test", nil)
		if res.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("status = %d; want 504", res.StatusCode)
		}
	})
}

func TestSecurityHeaders(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "Apache/2.2.3")
		w.Header().Set("X-Powered-By", "PHP/5.2")
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("X-Frame-Options", "DENY")
	})
	front := newProxy(t, app, nil)
	res := get(t, front, "shop.test", nil)
	h := res.Header
	if got := h.Get("Strict-Transport-Security"); got != "max-age=63072000; includeSubDomains" {
		t.Errorf("HSTS = %q", got)
	}
	if got := h.Values("Content-Security-Policy"); len(got) != 2 || got[0] != "default-src 'self'" || got[1] != DefaultCSP {
		t.Errorf("CSP = %q; want the app's and rampart's", got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q; want the app's DENY kept", got)
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q; want nosniff", got)
	}
	if got := h.Get("Referrer-Policy"); got != "strict-origin-when-cross-origin" {
		t.Errorf("Referrer-Policy = %q", got)
	}
	if h.Get("Server") != "" || h.Get("X-Powered-By") != "" {
		t.Errorf("Server %q, X-Powered-By %q; want both removed", h.Get("Server"), h.Get("X-Powered-By"))
	}
}

func TestHeaderPolicyValues(t *testing.T) {
	tests := []struct {
		in       Headers
		wantHSTS string
		wantCSP  string
	}{
		{Headers{}, "max-age=63072000; includeSubDomains", DefaultCSP},
		{Headers{HSTSMaxAge: 300, HSTSPreload: true}, "max-age=300; includeSubDomains; preload", DefaultCSP},
		{Headers{HSTS: "max-age=0"}, "max-age=0", DefaultCSP},
		{Headers{HSTSMaxAge: -1, CSP: CSPOff}, "", ""},
		{Headers{CSP: "default-src https:"}, "max-age=63072000; includeSubDomains", "default-src https:"},
	}
	for _, tt := range tests {
		h := http.Header{}
		newHeaderPolicy(tt.in).apply(h)
		if got := h.Get("Strict-Transport-Security"); got != tt.wantHSTS {
			t.Errorf("%+v: HSTS = %q; want %q", tt.in, got, tt.wantHSTS)
		}
		if got := h.Get("Content-Security-Policy"); got != tt.wantCSP {
			t.Errorf("%+v: CSP = %q; want %q", tt.in, got, tt.wantCSP)
		}
	}
}

func TestHeaderPolicySharedValuesStayIntact(t *testing.T) {
	p := newHeaderPolicy(Headers{})
	a := http.Header{}
	p.apply(a)
	a.Add("X-Content-Type-Options", "extra")
	a.Add("Content-Security-Policy", "extra")
	b := http.Header{}
	p.apply(b)
	if got := b.Values("X-Content-Type-Options"); len(got) != 1 {
		t.Errorf("second response got %q; a write to the first leaked into the shared value", got)
	}
	if got := b.Values("Content-Security-Policy"); len(got) != 1 {
		t.Errorf("second response got CSP %q; want one value", got)
	}
}

func TestRedirect(t *testing.T) {
	tests := []struct {
		httpsPort int
		host      string
		target    string
		want      int
		location  string
	}{
		{0, "shop.test", "/a/b?c=d&e=f", 308, "https://shop.test/a/b?c=d&e=f"},
		{443, "shop.test:80", "/", 308, "https://shop.test/"},
		{8443, "shop.test:8080", "/p%20q?x=%2F", 308, "https://shop.test:8443/p%20q?x=%2F"},
		{0, "SHOP.TEST", "/", 308, "https://shop.test/"},
		{0, "evil.test", "/", 404, ""},
		{0, "shop.test.evil.test", "/", 404, ""},
		{0, "", "/", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.target, func(t *testing.T) {
			p, err := New(Config{
				Routes:    []Route{{Host: "shop.test", Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}},
				HTTPSPort: tt.httpsPort,
			})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", tt.target, nil)
			req.Host = tt.host
			rec := httptest.NewRecorder()
			p.Redirect().ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d; want %d", rec.Code, tt.want)
			}
			if got := rec.Header().Get("Location"); got != tt.location {
				t.Errorf("Location = %q; want %q", got, tt.location)
			}
			if rec.Header().Get("Strict-Transport-Security") != "" {
				t.Error("HSTS sent over plain HTTP")
			}
		})
	}
}

func TestWebSocket(t *testing.T) {
	echo := websocket.Handler(func(ws *websocket.Conn) { _, _ = io.Copy(ws, ws) })
	front := newProxy(t, echo, nil)
	raw, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	cfg, _ := websocket.NewConfig("ws://shop.test/ws", "http://shop.test/")
	conn, err := websocket.NewClient(cfg, raw) // the handshake goes through the proxy
	if err != nil {
		t.Fatalf("websocket handshake through the proxy: %v", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Errorf("echo = %q, %v; want ping", buf, err)
	}
}

func TestServerSentEventsStream(t *testing.T) {
	release := make(chan struct{})
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
		_, _ = io.WriteString(w, "data: second\n\n")
	})
	front := newProxy(t, app, func(c *Config) { c.Transport = NewTransport(TransportConfig{}) })
	res := get(t, front, "shop.test", nil)
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(res.Body).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if line != "data: first\n" {
			t.Errorf("first line = %q; want data: first", line)
		}
	case <-time.After(5 * time.Second):
		t.Error("first event did not arrive while the response was still open")
	}
	close(release)
}

// FuzzRedirect: whatever the Host and target, the plain-HTTP handler either
// redirects to the served name over https or answers 404 with no Location.
func FuzzRedirect(f *testing.F) {
	for _, s := range [][2]string{{"shop.test", "/a?b=c"}, {"evil.test", "/"}, {"shop.test:80", "//evil.test/x"}, {"SHOP.TEST.", "/%0d%0aSet-Cookie:x"}} {
		f.Add(s[0], s[1])
	}
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}}}, HTTPSPort: 8443})
	if err != nil {
		f.Fatal(err)
	}
	h := p.Redirect()
	f.Fuzz(func(t *testing.T, host, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := &http.Request{Method: "GET", Host: host, URL: u, Header: http.Header{}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		loc := rec.Header().Get("Location")
		switch rec.Code {
		case http.StatusPermanentRedirect:
			if strings.ContainsAny(loc, "\r\n") {
				t.Fatalf("Location %q has a line break", loc)
			}
			got, err := url.Parse(loc)
			if err != nil || got.Scheme != "https" || got.Host != "shop.test:8443" {
				t.Fatalf("Host %q, target %q: Location %q leaves shop.test:8443 over https", host, target, loc)
			}
		case http.StatusNotFound:
			if loc != "" {
				t.Fatalf("404 with Location %q", loc)
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}

// FuzzHeaderPolicy: whatever headers the app sends, rampart's policy holds.
func FuzzHeaderPolicy(f *testing.F) {
	f.Add("Strict-Transport-Security", "max-age=0", "Content-Security-Policy", "default-src *")
	f.Add("Server", "x", "X-Frame-Options", "ALLOWALL")
	pol := newHeaderPolicy(Headers{})
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		h := http.Header{}
		h.Add(k1, v1)
		h.Add(k2, v2)
		appCSP := len(h.Values("Content-Security-Policy"))
		pol.apply(h)
		if got := h.Values("Strict-Transport-Security"); len(got) != 1 || got[0] != "max-age=63072000; includeSubDomains" {
			t.Fatalf("HSTS %q", got)
		}
		csp := h.Values("Content-Security-Policy")
		if len(csp) != appCSP+1 || csp[len(csp)-1] != DefaultCSP {
			t.Fatalf("CSP %q; want the app's %d and rampart's last", csp, appCSP)
		}
		if h.Get("Server") != "" || h.Get("X-Powered-By") != "" {
			t.Fatal("Server or X-Powered-By kept")
		}
		for _, k := range []string{"X-Content-Type-Options", "Referrer-Policy", "X-Frame-Options"} {
			if len(h.Values(k)) == 0 {
				t.Fatalf("%s missing", k)
			}
		}
	})
}
