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

	"github.com/rampart-proxy/rampart/hostname"
)

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
		case hostname.Canonical(r.Host) != "shop.test":
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
	ln := listenFixed(f)
	srv := &http.Server{Handler: p, ReadHeaderTimeout: time.Second, MaxHeaderBytes: 32 << 10}
	go func() { _ = srv.Serve(ln) }()
	f.Cleanup(func() { srv.Close() })

	f.Fuzz(func(t *testing.T, raw string) {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		client := conn.(*net.TCPConn)
		defer client.Close()
		_ = client.SetDeadline(time.Now().Add(2 * time.Second))
		// All of the input, then end of stream: the server answers what it
		// parsed and closes, so no input waits for a timeout.
		_, _ = io.WriteString(client, raw)
		_ = client.CloseWrite()
		br := bufio.NewReader(client)
		for range 64 {
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
