package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// serveFixedTLS is serveFixed with TLS and HTTP/2, like httptest's StartTLS.
func serveFixedTLS(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(h)
	s.Listener.Close()
	s.Listener = listenFixed(t)
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

// proxyTo builds a Proxy for shop.test in front of upstream.
func proxyTo(t testing.TB, upstream string, tc TransportConfig) *Proxy {
	t.Helper()
	return proxyVia(t, upstream, NewTransport(tc))
}

// proxyVia is proxyTo with the given transport.
func proxyVia(t testing.TB, upstream string, rt http.RoundTripper) *Proxy {
	t.Helper()
	u, _ := url.Parse(upstream)
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: u}}, Transport: rt})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// shopClient is front's client (HTTP/2 where front offers it) with SNI
// shop.test: rampart answers 421 to any other name. httptest's certificate
// does not name it, and the chain is not what these tests are about.
func shopClient(front *httptest.Server) *http.Client {
	client := front.Client()
	tc := client.Transport.(*http.Transport).TLSClientConfig
	tc.ServerName, tc.InsecureSkipVerify = "shop.test", true
	return client
}

// TestNoReplayOfIdempotencyKeyedPOST: http.Transport replays a bodiless
// request that carries Idempotency-Key when a reused connection breaks after
// the request was written. The app must see the payment once.
func TestNoReplayOfIdempotencyKeyedPOST(t *testing.T) {
	var payments atomic.Int32
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/pay" {
			io.WriteString(w, "warm")
			return
		}
		payments.Add(1)
		if r.Header.Get("Idempotency-Key") != "k-1" {
			t.Errorf("app got Idempotency-Key %q; want k-1", r.Header.Get("Idempotency-Key"))
		}
		// The app dies mid-exchange: the connection drops with no response.
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	upstream := serveFixed(t, app)
	front := serveFixed(t, proxyTo(t, upstream.URL, TransportConfig{}))

	client := front.Client()
	do := func(method, path string, hdr map[string]string) int {
		req, _ := http.NewRequest(method, front.URL+path, nil)
		req.Host = "shop.test"
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	do("GET", "/warm", nil) // leaves a keep-alive connection to the app in the pool
	if status := do("POST", "/pay", map[string]string{"Idempotency-Key": "k-1"}); status != http.StatusBadGateway {
		t.Errorf("status %d; want 502", status)
	}
	if n := payments.Load(); n != 1 {
		t.Errorf("the app received the payment %d times; want exactly once", n)
	}
}

func TestFailingApps(t *testing.T) {
	t.Run("refused is 502 at once", func(t *testing.T) {
		down := serveFixed(t, http.NotFoundHandler())
		down.Close()
		front := serveFixed(t, proxyTo(t, down.URL, TransportConfig{DialTimeout: 5 * time.Second}))
		start := time.Now()
		res := get(t, front, "shop.test", nil)
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d; want 502", res.StatusCode)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("took %v; want the answer within the 5 s dial timeout", took)
		}
	})

	t.Run("silent app is 504 at the timeout, asked once", func(t *testing.T) {
		var asked atomic.Int32
		release := make(chan struct{})
		defer close(release)
		upstream := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			asked.Add(1)
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		front := serveFixed(t, proxyTo(t, upstream.URL, TransportConfig{ResponseHeaderTimeout: 500 * time.Millisecond}))
		start := time.Now()
		res := get(t, front, "shop.test", nil)
		if res.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("status %d; want 504", res.StatusCode)
		}
		if took := time.Since(start); took > 500*time.Millisecond+2*time.Second {
			t.Errorf("took %v; want 504 soon after the 500 ms timeout", took)
		}
		if n := asked.Load(); n != 1 {
			t.Errorf("app asked %d times; want 1", n)
		}
	})

	// An app that breaks off mid-body: the client must see an aborted
	// response, never a short body that looks complete.
	resetter := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, strings.Repeat("x", 100))
		http.NewResponseController(w).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	t.Run("reset mid-body aborts an HTTP/1 response", func(t *testing.T) {
		upstream := serveFixed(t, resetter)
		front := serveFixed(t, proxyTo(t, upstream.URL, TransportConfig{}))
		req, _ := http.NewRequest("GET", front.URL+"/", nil)
		req.Host = "shop.test"
		res, err := front.Client().Do(req)
		if err != nil {
			return // aborted before the headers left rampart's buffer: also no complete-looking answer
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err == nil {
			t.Errorf("status %d, read %d bytes and a clean end; want an error", res.StatusCode, len(body))
		}
	})
	t.Run("reset mid-body resets an HTTP/2 stream", func(t *testing.T) {
		upstream := serveFixed(t, resetter)
		front := serveFixedTLS(t, proxyTo(t, upstream.URL, TransportConfig{}))
		req, _ := http.NewRequest("GET", front.URL+"/", nil)
		req.Host = "shop.test"
		res, err := shopClient(front).Do(req)
		if err != nil {
			// Aborted before the headers left rampart: it must be a stream
			// reset, and the connection must live on for other streams.
			if !strings.Contains(err.Error(), "stream error") {
				t.Errorf("got %v; want an HTTP/2 stream error", err)
			}
			return
		}
		defer res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("HTTP/%d; the test needs HTTP/2", res.ProtoMajor)
		}
		body, err := io.ReadAll(res.Body)
		if err == nil {
			t.Errorf("status %d, read %d bytes and a clean end; want a stream error", res.StatusCode, len(body))
		}
	})

	t.Run("slow dripping app is not cut off", func(t *testing.T) {
		upstream := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for range 10 {
				io.WriteString(w, "drip\n")
				http.NewResponseController(w).Flush()
				time.Sleep(100 * time.Millisecond)
			}
		}))
		front := serveFixed(t, proxyTo(t, upstream.URL, TransportConfig{}))
		res := get(t, front, "shop.test", nil)
		body, err := io.ReadAll(res.Body)
		if err != nil || res.StatusCode != 200 || strings.Count(string(body), "drip") != 10 {
			t.Errorf("status %d, %d drips, err %v; want 200 and all 10", res.StatusCode, strings.Count(string(body), "drip"), err)
		}
	})
}

// TestNoReplayOfGET: a GET written on a keep-alive connection that then
// breaks is not sent again (http.Transport would replay it).
func TestNoReplayOfGET(t *testing.T) {
	var asked atomic.Int32
	upstream := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/once" {
			io.WriteString(w, "warm")
			return
		}
		asked.Add(1)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	front := serveFixed(t, proxyTo(t, upstream.URL, TransportConfig{}))
	for _, path := range []string{"/warm", "/once"} {
		req, _ := http.NewRequest("GET", front.URL+path, nil)
		req.Host = "shop.test"
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if path == "/once" && res.StatusCode != http.StatusBadGateway {
			t.Errorf("status %d; want 502", res.StatusCode)
		}
	}
	if n := asked.Load(); n != 1 {
		t.Errorf("the app received the GET %d times; want once", n)
	}
}

// dialFails is a RoundTripper whose first round trips fail to dial. It
// stands in for http.Transport because no real app can be made to refuse one
// dial and accept the next on cue. It records the hosts it was asked for.
type dialFails struct {
	failures int
	calls    int
	hosts    []string
}

func (d *dialFails) RoundTrip(req *http.Request) (*http.Response, error) {
	d.calls++
	d.hosts = append(d.hosts, req.URL.Host)
	if d.calls <= d.failures {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
}

// TestRetryOnDialOnly: a request whose connection could not be made (so
// nothing of it was sent) goes once more, to another member when the pool
// has one; a body still streaming in cannot go again; nothing else is retried.
func TestRetryOnDialOnly(t *testing.T) {
	tests := []struct {
		method    string
		streamed  bool // a body still arriving from the client
		members   int
		failures  int
		wantCalls int
		wantErr   bool
	}{
		{"GET", false, 1, 1, 2, false}, // one retry after a dial error
		{"GET", false, 1, 2, 2, true},  // and only one
		{"HEAD", false, 1, 1, 2, false},
		{"POST", false, 1, 1, 2, false}, // its body in memory, never sent
		{"DELETE", false, 1, 1, 2, false},
		{"POST", true, 1, 1, 1, true},  // the failed attempt closed a streamed body
		{"GET", false, 3, 1, 2, false}, // to another member
		{"GET", false, 3, 2, 2, true},
		{"POST", false, 3, 1, 2, false},
	}
	for _, tt := range tests {
		var r registry
		r.log = zaptest.NewLogger(t)
		pc := &Pool{}
		for i := range tt.members {
			pc.Members = append(pc.Members, &url.URL{Scheme: "http", Host: fmt.Sprintf("app%d.test:80", i)})
		}
		var held []*member
		d := &dialFails{failures: tt.failures}
		pt := &poolTransport{pool: r.acquire(pc, &held), next: d}
		req, _ := http.NewRequest(tt.method, "http://app.test/", nil)
		if tt.method == "POST" {
			req.Body = io.NopCloser(bytes.NewBufferString("order")) // in memory, as prepareBody leaves it
			if tt.streamed {
				req.Body = io.NopCloser(struct{ io.Reader }{strings.NewReader("order")}) // not a buffer: as net/http hands a body still arriving
			}
		}
		_, err := pt.RoundTrip(req)
		if d.calls != tt.wantCalls || (err != nil) != tt.wantErr {
			t.Errorf("%s after %d dial failures: %d calls, err %v; want %d calls, error %v", tt.method, tt.failures, d.calls, err, tt.wantCalls, tt.wantErr)
		}
		if tt.members > 1 && len(d.hosts) == 2 && d.hosts[0] == d.hosts[1] {
			t.Errorf("%s retried on the member that failed (%s)", tt.method, d.hosts[0])
		}
		r.release(held)
	}
}

// TestStreamedBodyFaultsAreTheClients: a body too big for the read-ahead
// buffer is streamed to the app; when the client's part of it fails, the
// client gets the 4xx, not a 502 blamed on the app.
func TestStreamedBodyFaultsAreTheClients(t *testing.T) {
	upstream := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	u, _ := url.Parse(upstream.URL)
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: u}}, Limits: Limits{MaxBodyBytes: 200 << 10}, Logger: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	tests := []struct {
		name string
		body string // chunked: net/http's parser judges the framing
		want int
	}{
		{"over the size limit", strings.Repeat("x", 300<<10), http.StatusRequestEntityTooLarge},
		{"within the limit", strings.Repeat("x", 100<<10), http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", front.URL+"/", io.NopCloser(strings.NewReader(tt.body)))
			req.Host = "shop.test"
			req.ContentLength = -1 // sent chunked, so only reading tells the size
			res, err := front.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("status %d; want %d", res.StatusCode, tt.want)
			}
		})
	}
}
