package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/redact/redacttest"
)

// loggedChain is the HTTPS handler chain as setUp builds it (the access log
// through rampart's own log encoder, the proxy) in front of two apps that
// refuse every connection: one over http (the lean way, whose error names
// no URL) and one over https (http.Transport, whose error quotes the whole
// URL). Every request ends in the access line and a 502 line.
type loggedChain struct {
	mu  sync.Mutex
	out bytes.Buffer
	h   http.Handler
}

func newLoggedChain(tb testing.TB) *loggedChain {
	tb.Helper()
	c := &loggedChain{}
	log := zap.New(zapcore.NewCore(logEncoder("json"), zapcore.AddSync(&c.out), zapcore.DebugLevel))
	// Nothing listens on these: each dial is refused at once.
	plain, _ := url.Parse("http://127.0.0.1:18997")
	secure, _ := url.Parse("https://127.0.0.1:18998")
	p, err := proxy.New(proxy.Config{
		Routes: []proxy.Route{{Host: "shop.test", Upstream: plain}, {Host: "pay.test", Upstream: secure}},
		Logger: log.Named("proxy"),
	})
	if err != nil {
		tb.Fatal(err)
	}
	c.h = proxy.AccessLog(log.Named("access"), p)
	return c
}

// serve reads raw as net/http would and serves it, returning the log lines
// it wrote and the request id the client got; nil if net/http would have
// refused the request itself.
func (c *loggedChain) serve(raw string) (lines []string, id string) {
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
	if err != nil {
		return nil, ""
	}
	req.RemoteAddr = "192.0.2.7:5555"
	req.TLS = &tls.ConnectionState{Version: tls.VersionTLS13, ServerName: canonicalName(req.Host)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out.Reset()
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return strings.Split(strings.TrimSpace(c.out.String()), "\n"), rec.Header().Get("X-Request-Id")
}

func canonicalName(host string) string {
	if h, _, ok := strings.Cut(host, ":"); ok {
		return h
	}
	return host
}

// FuzzLogNeverHoldsCard: a test card number, spelled as a browser or a
// client could, planted anywhere in a request (path, query, an encoded URL
// in a parameter, the user agent, the request id), cannot be read back from
// any line that request writes to the log: the access line, or the 502
// line with the app's error. And the request id logged is always the one
// the client got.
func FuzzLogNeverHoldsCard(f *testing.F) {
	f.Add(uint8(0), uint8(0), uint64(0), "", "")
	f.Add(uint8(1), uint8(1), uint64(7), "x", "y")
	f.Add(uint8(2), uint8(2), uint64(12345), "a=", "")
	f.Add(uint8(3), uint8(3), uint64(99), "app/1.0 ", "")
	f.Add(uint8(4), uint8(4), uint64(31337), "", "")
	f.Add(uint8(5), uint8(5), uint64(2), "/pay/", "/confirm")
	c := newLoggedChain(f)
	f.Fuzz(func(t *testing.T, where, which uint8, seed uint64, prefix, suffix string) {
		planted := prefix + redacttest.PlantPAN(redacttest.TestPANs[int(which)%len(redacttest.TestPANs)], seed) + suffix
		// As a client puts it on the wire: in a target, what is not allowed
		// there is percent-encoded.
		inPath := url.PathEscape(planted)
		inQuery := url.QueryEscape(planted)
		target, ua, id := "/pay", "shop-client/1.0", "client-id-1"
		switch where % 6 {
		case 0:
			target = "/pay/" + inPath
		case 1:
			target = "/pay?card=" + inQuery + "&q=" + inQuery
		case 2:
			target = "/pay?x=" + inQuery
		case 3:
			target = "/cb?redirect=" + url.QueryEscape("https://shop.test/pay?n="+planted)
		case 4:
			ua = strings.Map(func(r rune) rune { // a header value holds no CR, LF or NUL
				if r == '\r' || r == '\n' || r == 0 {
					return -1
				}
				return r
			}, planted)
		case 5:
			id = planted
		}
		host := []string{"shop.test", "pay.test"}[seed%2]
		raw := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nX-Request-Id: %s\r\n\r\n", target, host, ua, id)
		lines, gotID := c.serve(raw)
		for _, line := range lines {
			cards, err := redacttest.CardsInLine(line)
			if err != nil {
				t.Fatalf("log line is not JSON: %v\n%s", err, line)
			}
			if len(cards) > 0 {
				t.Fatalf("request %q\nwrote %s\nwhich still holds card numbers %v", raw, line, cards)
			}
			// The id logged is the id the client (and the app) got.
			if strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"request_id":"`+gotID+`"`) {
				t.Fatalf("request %q got X-Request-Id %q, but the log line says otherwise:\n%s", raw, gotID, line)
			}
		}
		if lines != nil && len(lines) < 2 && !strings.Contains(strings.Join(lines, ""), `"status":4`) {
			t.Fatalf("request %q wrote %d lines; want the access line and the 502 line:\n%s", raw, len(lines), strings.Join(lines, "\n"))
		}
	})
}
