package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countConns starts app on a fixed port and counts the connections it accepts.
func countConns(t *testing.T, app http.Handler) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	s := httptest.NewUnstartedServer(app)
	s.Listener.Close()
	s.Listener = listenFixed(t)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &conns
}

func doReq(t *testing.T, front *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, front.URL+path, strings.NewReader(body))
	req.Host = "shop.test"
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return res.StatusCode, string(b)
}

// TestLeanPathReusesConnections: sequential exchanges, with and without a
// body, with a 204 and a HEAD, share one connection to the app, and every
// request reaches it whole.
func TestLeanPathReusesConnections(t *testing.T) {
	app, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/none":
			w.WriteHeader(http.StatusNoContent)
		default:
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("X-Length", r.Header.Get("Content-Length"))
			io.WriteString(w, r.Method+" "+string(b))
		}
	}))
	front := serveFixed(t, proxyTo(t, app.URL, TransportConfig{}))
	defer front.Close()
	for i := range 10 {
		if status, body := doReq(t, front, "GET", "/", ""); status != 200 || body != "GET " {
			t.Fatalf("GET %d: %d %q; want 200 %q", i, status, body, "GET ")
		}
		if status, body := doReq(t, front, "POST", "/", "amount=10"); status != 200 || body != "POST amount=10" {
			t.Fatalf("POST %d: %d %q; want 200 %q", i, status, body, "POST amount=10")
		}
		if status, _ := doReq(t, front, "GET", "/none", ""); status != http.StatusNoContent {
			t.Fatalf("GET /none %d: %d; want 204", i, status)
		}
		if status, _ := doReq(t, front, "HEAD", "/", ""); status != 200 {
			t.Fatalf("HEAD %d: %d; want 200", i, status)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("the app accepted %d connections for 40 sequential requests; want 1", n)
	}
}

// TestLeanPathSkipsClosedIdleConnection: an app that closed an idle
// connection (as Node.js does after 5 s) costs the next request nothing: it
// goes on a new connection and gets its answer, not a 502.
func TestLeanPathSkipsClosedIdleConnection(t *testing.T) {
	app, conns := countConns(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	front := serveFixed(t, proxyTo(t, app.URL, TransportConfig{}))
	defer front.Close()
	if status, _ := doReq(t, front, "GET", "/", ""); status != 200 {
		t.Fatalf("first GET: %d; want 200", status)
	}
	app.CloseClientConnections() // the pooled connection is now closed by the app
	time.Sleep(50 * time.Millisecond)
	for _, method := range []string{"GET", "POST"} {
		if status, body := doReq(t, front, method, "/", "x"); status != 200 || body != "ok" {
			t.Errorf("%s after the app closed the idle connection: %d %q; want 200 \"ok\"", method, status, body)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("the app accepted %d connections; want 2", n)
	}
}

// rawApp serves each connection with answer, whatever is asked, reading one
// request head at a time. It is an app that breaks HTTP on purpose.
func rawApp(t *testing.T, answer func(n int) string) string {
	t.Helper()
	ln := listenFixed(t)
	t.Cleanup(func() { ln.Close() })
	var count atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					a := answer(int(count.Add(1)))
					if _, err := io.WriteString(c, a); err != nil || strings.Contains(a, "Connection: close") {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestLeanPathRefusesSmuggledResponses: bytes an app sends past its answer
// are never taken as the answer to the next request.
func TestLeanPathRefusesSmuggledResponses(t *testing.T) {
	const evil = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"
	app := rawApp(t, func(n int) string {
		return "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok" + string(rune('0'+n%10)) + evil
	})
	front := serveFixed(t, proxyTo(t, app, TransportConfig{}))
	defer front.Close()
	for i := range 3 {
		status, body := doReq(t, front, "GET", "/", "")
		if status != 200 || !strings.HasPrefix(body, "ok") {
			t.Errorf("request %d: %d %q; want 200 and the app's own answer", i, status, body)
		}
	}
}

// TestLeanPathInformationalAndBrokenHeads: a 100 Continue before the answer
// is skipped; a head that never ends, endless 1xx answers and an unasked
// protocol switch are 502s.
func TestLeanPathInformationalAndBrokenHeads(t *testing.T) {
	tests := []struct {
		name, answer string
		status       int
		body         string
	}{
		{"100 Continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\npaid", 201, "paid"},
		{"103 then 200", "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok"},
		{"endless 1xx", strings.Repeat("HTTP/1.1 102 Processing\r\n\r\n", 20) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 502, ""},
		{"unasked 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", 502, ""},
		{"2 MiB head", "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 2<<20) + "\r\nContent-Length: 2\r\n\r\nok", 502, ""},
		{"no length, until close", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-close", 200, "until-close"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := rawApp(t, func(int) string { return tt.answer })
			front := serveFixed(t, proxyTo(t, app, TransportConfig{}))
			defer front.Close()
			for range 2 { // the second exchange shows the first left no mess behind
				status, body := doReq(t, front, "POST", "/", "card=4111")
				if status != tt.status || (tt.body != "" && body != tt.body) {
					t.Errorf("%d %q; want %d %q", status, body, tt.status, tt.body)
				}
			}
		})
	}
}

// TestLeanPathClientGoneCancelsApp: a client that leaves while the app is
// thinking ends the app's request too, as with http.Transport.
func TestLeanPathClientGoneCancelsApp(t *testing.T) {
	cancelled := make(chan struct{})
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	}))
	defer app.Close()
	front := serveFixed(t, proxyTo(t, app.URL, TransportConfig{}))
	defer front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", front.URL+"/", nil)
	req.Host = "shop.test"
	if res, err := front.Client().Do(req); err == nil {
		res.Body.Close()
		t.Fatalf("status %d; want the client's own timeout", res.StatusCode)
	}
	select {
	case <-cancelled:
	case <-time.After(5 * time.Second):
		t.Error("the app's request was not cancelled within 5 s of the client leaving")
	}
}

// TestLeanPathForwardsEarlyHints: a 103 Early Hints from the app reaches the
// client with its Link header before the final answer, as it does through
// http.Transport; the 100 Continue for a body rampart already holds does not.
func TestLeanPathForwardsEarlyHints(t *testing.T) {
	app := rawApp(t, func(int) string {
		return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n" +
			"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	})
	front := serveFixed(t, proxyTo(t, app, TransportConfig{}))
	defer front.Close()
	var got []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", front.URL+"/", strings.NewReader("card=4111"))
	req.Host = "shop.test"
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if want := []string{"103 </app.css>; rel=preload"}; res.StatusCode != 200 || string(body) != "ok" || !slices.Equal(got, want) {
		t.Errorf("%d %q, 1xx %q; want 200 \"ok\", 1xx %q", res.StatusCode, body, got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestEmptyBodiesGoAsNoBody: a request with nothing in its body (an HTTP/2
// GET, whose server-side Body is never nil; an HTTP/2 POST of nothing; an
// HTTP/1.1 POST whose chunked body is only its last chunk) is handed to the
// transport with no body, so it takes the lean path rather than
// http.Transport's probe of an opaque body, and reaches the app framed as
// bodiless: no Transfer-Encoding, Content-Length: 0 only where a POST needs it.
func TestEmptyBodiesGoAsNoBody(t *testing.T) {
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s cl=%q te=%q body=%q", r.Method, r.Header.Get("Content-Length"), r.TransferEncoding, b)
	}))
	var bodied atomic.Int32
	lean := NewTransport(TransportConfig{})
	front := serveFixedTLS(t, proxyVia(t, app.URL, roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil && r.Body != http.NoBody {
			bodied.Add(1)
		}
		return lean.RoundTrip(r)
	})))
	client := shopClient(front)

	for _, method := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(method, front.URL+"/", nil)
		req.Host = "shop.test"
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.ProtoMajor != 2 {
			t.Fatalf("%s: HTTP/%d; the test needs HTTP/2", method, res.ProtoMajor)
		}
		want := `GET cl="" te=[] body=""`
		if method == "POST" {
			want = `POST cl="0" te=[] body=""`
		}
		if string(b) != want {
			t.Errorf("HTTP/2 %s of nothing: the app saw %s; want %s", method, b, want)
		}
	}

	// HTTP/1.1, chunked, nothing but the last chunk.
	conn, err := tls.Dial("tcp", front.Listener.Addr().String(), &tls.Config{ServerName: "shop.test", InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	if want := `POST cl="0" te=[] body=""`; string(b) != want {
		t.Errorf("HTTP/1.1 chunked POST of nothing: the app saw %s; want %s", b, want)
	}
	if n := bodied.Load(); n != 0 {
		t.Errorf("%d of 3 empty-bodied requests reached the transport with a body; want none", n)
	}
}
