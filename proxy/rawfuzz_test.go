package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeListener hands net/http one in-memory connection per Accept.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// FuzzRawRequest feeds raw bytes to net/http with rampart's handler and
// checks what reaches the app: only allowed methods, served names and clean
// paths, and never a request with both framings; and rampart itself never
// answers 5xx for a parse problem.
func FuzzRawRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: shop.test\r\n\r\n",
		"POST /pay HTTP/1.1\r\nHost: shop.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"GET /a/../b HTTP/1.1\r\nHost: shop.test\r\n\r\n",
		"get / HTTP/1.1\r\nHost: shop.test\r\n\r\nGET /2 HTTP/1.1\r\nHost: shop.test\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: shop.test\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
	} {
		f.Add(s)
	}
	var mu sync.Mutex
	var bad []string
	app := serveFixed(f, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		problem := ""
		switch {
		case !allowedMethods[r.Method]:
			problem = "method " + r.Method
		case canonicalHost(r.Host) != "shop.test":
			problem = "host " + r.Host
		case !cleanPath(r.URL.EscapedPath()):
			problem = "path " + r.URL.EscapedPath()
		case len(r.TransferEncoding) > 0 && r.Header.Get("Content-Length") != "":
			problem = "both Content-Length and Transfer-Encoding"
		}
		if problem != "" {
			mu.Lock()
			bad = append(bad, problem)
			mu.Unlock()
		}
	}))
	u, _ := url.Parse(app.URL)
	p, err := New(Config{Routes: []Route{{Host: "shop.test", Upstream: u}}})
	if err != nil {
		f.Fatal(err)
	}
	ln := &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: time.Second, MaxHeaderBytes: 32 << 10}
	go func() { _ = srv.Serve(ln) }()
	f.Cleanup(func() { srv.Close(); ln.Close() })

	f.Fuzz(func(t *testing.T, raw string) {
		client, server := net.Pipe()
		defer client.Close()
		_ = client.SetDeadline(time.Now().Add(500 * time.Millisecond))
		ln.conns <- server
		go func() { _, _ = io.WriteString(client, raw) }()
		br := bufio.NewReader(client)
		for range 8 {
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				break
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode >= 500 && res.StatusCode != 501 && res.StatusCode != 505 {
				t.Fatalf("status %d for %q", res.StatusCode, raw)
			}
		}
		mu.Lock()
		defer mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("the app received a request it should not have (%s) from %q", strings.Join(bad, "; "), raw)
		}
	})
}
