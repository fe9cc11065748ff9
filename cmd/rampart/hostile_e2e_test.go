package main

import (
	"bufio"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// seenRequest is what the app received.
type seenRequest struct {
	method, uri string
	header      http.Header
	body        string
	cl          int64
	te          []string
}

// recordingApp remembers every request that reaches it.
type recordingApp struct {
	mu   sync.Mutex
	seen []seenRequest
}

func (a *recordingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	a.mu.Lock()
	a.seen = append(a.seen, seenRequest{r.Method, r.RequestURI, r.Header.Clone(), string(body), r.ContentLength, r.TransferEncoding})
	a.mu.Unlock()
	io.WriteString(w, "app-ok")
}

func (a *recordingApp) take() []seenRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.seen
	a.seen = nil
	return s
}

// hostileCase is one raw HTTP/1.1 exchange over TLS.
type hostileCase struct {
	name     string
	raw      string
	statuses []int // the responses expected on the connection, in order
	closed   bool  // the connection must be closed afterwards
	app      int   // requests the app must have received
	check    func(t *testing.T, seen []seenRequest)
}

// crlf joins lines into a request head with CRLF line ends and the blank line.
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n\r\n" }

const host = "Host: shop.test"

func hostileCorpus() []hostileCase {
	get := func(target string) string { return crlf("GET "+target+" HTTP/1.1", host) }
	chunkedPost := func(chunks string, extra ...string) string {
		return crlf(append([]string{"POST /pay HTTP/1.1", host, "Transfer-Encoding: chunked"}, extra...)...) + chunks
	}
	bodyIs := func(want string) func(*testing.T, []seenRequest) {
		return func(t *testing.T, seen []seenRequest) {
			if seen[0].body != want {
				t.Errorf("app got body %q; want %q", seen[0].body, want)
			}
			if len(seen[0].te) != 0 || seen[0].cl != int64(len(want)) {
				t.Errorf("app got Transfer-Encoding %v, Content-Length %d; want a plain Content-Length %d", seen[0].te, seen[0].cl, len(want))
			}
		}
	}
	uriIs := func(want string) func(*testing.T, []seenRequest) {
		return func(t *testing.T, seen []seenRequest) {
			if seen[0].uri != want {
				t.Errorf("app got %q; want %q", seen[0].uri, want)
			}
		}
	}
	headerIs := func(key string, want ...string) func(*testing.T, []seenRequest) {
		return func(t *testing.T, seen []seenRequest) {
			if got := seen[0].header.Values(key); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("app got %s %q; want %q", key, got, want)
			}
		}
	}
	bad := func(name, raw string) hostileCase {
		return hostileCase{name: name, raw: raw, statuses: []int{400}, closed: true}
	}
	notImpl := func(name, te string) hostileCase {
		// net/http answers unknown transfer codings itself with 501 and closes.
		return hostileCase{name: name, raw: crlf("POST /pay HTTP/1.1", host, te) + "5\r\nhello\r\n0\r\n\r\n", statuses: []int{501}, closed: true}
	}

	return []hostileCase{
		// Baselines: the corpus must be able to see success.
		{name: "plain GET", raw: get("/"), statuses: []int{200}, app: 1},
		{name: "POST with Content-Length", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5") + "hello", statuses: []int{200}, app: 1, check: bodyIs("hello")},
		{name: "two pipelined GETs", raw: get("/1") + get("/2"), statuses: []int{200, 200}, app: 2},
		{name: "identical duplicate Content-Length", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "Content-Length: 5") + "hello", statuses: []int{200}, app: 1, check: bodyIs("hello")},

		// Chunked requests: the app gets a Content-Length; the connection closes (RFC 9112 §6.1).
		{name: "chunked body", raw: chunkedPost("5\r\nhello\r\n0\r\n\r\n"), statuses: []int{200}, closed: true, app: 1, check: bodyIs("hello")},
		{name: "CL and TE together", raw: chunkedPost("5\r\nhello\r\n0\r\n\r\n", "Content-Length: 5"), statuses: []int{200}, closed: true, app: 1, check: bodyIs("hello")},
		{name: "CL.TE with a smuggled request behind", raw: chunkedPost("5\r\nhello\r\n0\r\n\r\n", "Content-Length: 40") + get("/smuggled"), statuses: []int{200}, closed: true, app: 1, check: bodyIs("hello")},
		{name: "TE.CL with a smuggled request in the body", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 4", "Transfer-Encoding: chunked") +
			fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(get("/smuggled")), get("/smuggled")), statuses: []int{200}, closed: true, app: 1, check: bodyIs(get("/smuggled"))},

		// Content-Length forms net/http refuses.
		bad("differing duplicate Content-Length", crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "Content-Length: 6")+"hello!"),
		bad("Content-Length list", crlf("POST /pay HTTP/1.1", host, "Content-Length: 5, 5")+"hello"),
		bad("Content-Length +5", crlf("POST /pay HTTP/1.1", host, "Content-Length: +5")+"hello"),
		bad("Content-Length 0x5", crlf("POST /pay HTTP/1.1", host, "Content-Length: 0x5")+"hello"),
		bad("Content-Length -1", crlf("POST /pay HTTP/1.1", host, "Content-Length: -1")+"hello"),
		bad("empty Content-Length", crlf("POST /pay HTTP/1.1", host, "Content-Length: ")+"hello"),

		// Transfer codings other than a single chunked.
		notImpl("TE ,chunked", "Transfer-Encoding: ,chunked"),
		notImpl("TE chunked, chunked", "Transfer-Encoding: chunked, chunked"),
		notImpl("TE identity", "Transfer-Encoding: identity"),
		notImpl("TE gzip, chunked", "Transfer-Encoding: gzip, chunked"),
		notImpl("TE xchunked", "Transfer-Encoding: xchunked"),
		{name: "two TE lines", raw: crlf("POST /pay HTTP/1.1", host, "Transfer-Encoding: chunked", "Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", statuses: []int{501}, closed: true},

		// Malformed header sections.
		bad("space before the colon", crlf("POST /pay HTTP/1.1", host, "Transfer-Encoding : chunked")+"5\r\nhello\r\n0\r\n\r\n"),
		bad("space inside a header name", crlf("GET / HTTP/1.1", host, "X Bad: 1")),
		bad("0x85 in a header name", crlf("GET / HTTP/1.1", host, "X-Bad\x85: 1")),
		bad("empty header name", crlf("GET / HTTP/1.1", host, ": 1")),
		bad("header line without a colon", crlf("GET / HTTP/1.1", host, "X-Bad")),
		bad("CR inside a value", crlf("GET / HTTP/1.1", host, "X-Bad: a\rb")),
		bad("NUL inside a value", crlf("GET / HTTP/1.1", host, "X-Bad: a\x00b")),
		bad("two Host headers", crlf("GET / HTTP/1.1", host, "Host: evil.test")),
		bad("Host with a path", crlf("GET / HTTP/1.1", "Host: shop.test/x")),
		bad("Host with userinfo", crlf("GET / HTTP/1.1", "Host: u@shop.test")),
		bad("Host with NUL (CVE-2023-29406 class)", crlf("GET / HTTP/1.1", "Host: shop.test\x00.evil.test")),
		bad("no Host in HTTP/1.1", crlf("GET / HTTP/1.1", "X-A: 1")),
		bad("HTTP/0.9 request line", "GET /\r\n\r\n"),
		bad("mangled version", crlf("GET / HTTP/\r\r1.1", host)),
		bad("space in the target", crlf("GET /a b HTTP/1.1", host)),
		{name: "HTTP/2.0 over HTTP/1", raw: crlf("GET / HTTP/2.0", host), statuses: []int{505}, closed: true},
		{name: "40 KiB of headers", raw: crlf("GET / HTTP/1.1", host, "X-Big: "+strings.Repeat("a", 40<<10)), statuses: []int{431}, closed: true},

		// Malformed chunked bodies: the app sees nothing (the body is read before it is contacted).
		bad("bare LF in the chunk size line (CVE-2025-22871)", chunkedPost("5\nhello\r\n0\r\n\r\n")),
		bad("bare LF after chunk data", chunkedPost("5\r\nhello\n0\r\n\r\n")),
		bad("LF inside a chunk extension", chunkedPost("5;a\nb\r\nhello\r\n0\r\n\r\n")),
		bad("chunk size 0x5", chunkedPost("0x5\r\nhello\r\n0\r\n\r\n")),
		bad("chunk size +5", chunkedPost("+5\r\nhello\r\n0\r\n\r\n")),
		bad("chunk size -1", chunkedPost("-1\r\nhello\r\n0\r\n\r\n")),
		bad("chunk size with a leading space", chunkedPost(" 5\r\nhello\r\n0\r\n\r\n")),
		bad("chunk size of 18 hex digits", chunkedPost("000000000000000005\r\nhello\r\n0\r\n\r\n")),
		bad("empty chunk size", chunkedPost("\r\nhello\r\n0\r\n\r\n")),
		bad("chunk longer than its size", chunkedPost("3\r\nhello\r\n0\r\n\r\n")),

		// Line folding (obs-fold) and line ends: accepted, with no change of
		// framing. net/http joins a folded line to the one before with a
		// space before any handler runs, so rampart cannot refuse it: the
		// app gets one header line, never a line of its own.
		{name: "obs-fold joins the value", raw: crlf("GET / HTTP/1.1", host, "X-A: a", " b"), statuses: []int{200}, app: 1, check: headerIs("X-A", "a b")},
		{name: "a folded line is never a header of its own", raw: crlf("GET / HTTP/1.1", host, "X-A: a", " X-Admin: yes"), statuses: []int{200}, app: 1,
			check: func(t *testing.T, seen []seenRequest) {
				headerIs("X-A", "a X-Admin: yes")(t, seen)
				headerIs("X-Admin")(t, seen)
			}},
		{name: "folded Transfer-Encoding stays inside the value", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "X-A: a", " Transfer-Encoding: chunked") + "hello", statuses: []int{200}, app: 1, check: bodyIs("hello")},
		{name: "bare LF line ends", raw: "GET /lf HTTP/1.1\nHost: shop.test\n\n", statuses: []int{200}, app: 1, check: uriIs("/lf")},

		// Targets, methods and upgrades rampart refuses.
		{name: "absolute-form for another host", raw: crlf("GET https://evil.test/x HTTP/1.1", host), statuses: []int{421}},
		{name: "absolute-form for the served host", raw: crlf("GET https://shop.test/x HTTP/1.1", host), statuses: []int{200}, app: 1, check: uriIs("/x")},
		{name: "Host not served", raw: crlf("GET / HTTP/1.1", "Host: evil.test"), statuses: []int{421}},
		{name: "Host served but not the TLS name", raw: crlf("GET / HTTP/1.1", "Host: api.shop.test"), statuses: []int{421}},
		{name: "CONNECT", raw: crlf("CONNECT evil.test:443 HTTP/1.1", "Host: evil.test:443"), statuses: []int{405}},
		{name: "CONNECT to the served host", raw: crlf("CONNECT shop.test:443 HTTP/1.1", host), statuses: []int{405}},
		{name: "TRACE", raw: crlf("TRACE / HTTP/1.1", host), statuses: []int{405}},
		{name: "lower-case method", raw: crlf("get / HTTP/1.1", host), statuses: []int{405}},
		{name: "unknown method", raw: crlf("PROPFIND / HTTP/1.1", host), statuses: []int{405}},
		bad("method that is not a token", crlf("G(T / HTTP/1.1", host)),
		{name: "h2c upgrade", raw: crlf("GET / HTTP/1.1", host, "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c", "HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA"), statuses: []int{400}},
		{name: "other upgrade", raw: crlf("GET / HTTP/1.1", host, "Connection: Upgrade", "Upgrade: foo/1"), statuses: []int{400}},
		{name: "websocket upgrade on POST", raw: crlf("POST / HTTP/1.1", host, "Connection: Upgrade", "Upgrade: websocket", "Content-Length: 0"), statuses: []int{400}},
		{name: "OPTIONS * answered by rampart", raw: crlf("OPTIONS * HTTP/1.1", host), statuses: []int{200}},

		// Paths: dot segments and encoded NUL refused; everything else passes unchanged.
		{name: "dot-dot segment", raw: get("/pub/../admin"), statuses: []int{400}},
		{name: "leading dot-dot", raw: get("/../../etc/passwd"), statuses: []int{400}},
		{name: "encoded dot-dot", raw: get("/pub/%2e%2e/admin"), statuses: []int{400}},
		{name: "mixed-case encoded dot-dot", raw: get("/pub/%2E%2e/admin"), statuses: []int{400}},
		{name: "half-encoded dot-dot", raw: get("/pub/.%2e/admin"), statuses: []int{400}},
		{name: "dot segment", raw: get("/pub/./admin"), statuses: []int{400}},
		{name: "encoded NUL", raw: get("/a%00b"), statuses: []int{400}},
		{name: "encoded slash passes as sent", raw: get("/a%2Fb"), statuses: []int{200}, app: 1, check: uriIs("/a%2Fb")},
		{name: "double slash passes as sent", raw: get("//admin"), statuses: []int{200}, app: 1, check: uriIs("//admin")},
		{name: "fragment-like percent passes as sent", raw: get("/a%23f"), statuses: []int{200}, app: 1, check: uriIs("/a%23f")},
		{name: "dots inside a name are fine", raw: get("/file..txt"), statuses: []int{200}, app: 1, check: uriIs("/file..txt")},

		// Header identity: hop-by-hop tricks and spoofing.
		{name: "spoofed X-Forwarded-For replaced", raw: crlf("GET / HTTP/1.1", host, "X-Forwarded-For: 6.6.6.6"), statuses: []int{200}, app: 1, check: headerIs("X-Forwarded-For", "127.0.0.1")},
		{name: "Connection naming X-Forwarded-For (CVE-2022-32148 class)", raw: crlf("GET / HTTP/1.1", host, "Connection: keep-alive, X-Forwarded-For", "X-Forwarded-For: 6.6.6.6"), statuses: []int{200}, app: 1, check: headerIs("X-Forwarded-For", "127.0.0.1")},
		{name: "empty Connection then a named header (CVE-2021-33197)", raw: crlf("GET / HTTP/1.1", host, "Connection:", "Connection: X-Secret", "X-Secret: s3cr3t"), statuses: []int{200}, app: 1, check: headerIs("X-Secret")},
		{name: "Expect 100-continue (CVE-2024-24791 class)", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "Expect: 100-continue") + "hello" + get("/after"), statuses: []int{200, 200}, app: 2, check: bodyIs("hello")},
		{name: "Expect something else", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "Expect: 200-ok") + "hello", statuses: []int{417}, closed: true},

		// Paths, round two: every spelling of a dot segment, backslashes,
		// overlong and invalid UTF-8, encoded control characters, fragments.
		{name: "backslash before a dot-dot", raw: get(`/a/..\c`), statuses: []int{400}},
		{name: "raw backslash anywhere", raw: get(`/a\b`), statuses: []int{400}},
		{name: "dot-dot then an encoded backslash", raw: get("/a/..%5Cc"), statuses: []int{400}},
		{name: "dot-dot between encoded backslashes", raw: get("/a/%5C..%5Cb"), statuses: []int{400}},
		{name: "dot-dot then an encoded slash", raw: get("/a/..%2Fb"), statuses: []int{400}},
		{name: "encoded backslash elsewhere passes as sent", raw: get("/a%5Cb"), statuses: []int{200}, app: 1, check: uriIs("/a%5Cb")},
		{name: "overlong UTF-8 dots", raw: get("/%c0%ae%c0%ae/etc/passwd"), statuses: []int{400}},
		{name: "three-byte overlong dot", raw: get("/a/%e0%80%ae%e0%80%ae/b"), statuses: []int{400}},
		{name: "overlong UTF-8 slash", raw: get("/a/..%c0%afb"), statuses: []int{400}},
		{name: "invalid UTF-8 byte", raw: get("/a%ffb"), statuses: []int{400}},
		{name: "valid UTF-8 passes as sent", raw: get("/caf%C3%A9"), statuses: []int{200}, app: 1, check: uriIs("/caf%C3%A9")},
		{name: "dots encoded twice", raw: get("/a/%252e%252e/b"), statuses: []int{400}},
		{name: "full-width dots", raw: get("/a/%EF%BC%8E%EF%BC%8E/b"), statuses: []int{400}},
		{name: "dot-dot with a path parameter", raw: get("/a/..;/b"), statuses: []int{400}},
		{name: "dot with a path parameter", raw: get("/a/.;x=1/b"), statuses: []int{400}},
		{name: "path parameter elsewhere passes as sent", raw: get("/a;jsessionid=1/b"), statuses: []int{200}, app: 1, check: uriIs("/a;jsessionid=1/b")},
		{name: "encoded CR LF", raw: get("/a%0d%0aSet-Cookie:x=1"), statuses: []int{400}},
		{name: "encoded control character", raw: get("/a%1fb"), statuses: []int{400}},
		{name: "encoded DEL", raw: get("/a%7fb"), statuses: []int{400}},
		{name: "fragment in the target", raw: get("/a#f"), statuses: []int{400}},
		{name: "fragment after a query", raw: get("/a?x=1#f"), statuses: []int{400}},

		// Headers that would let the client choose what the app believes.
		{name: "client-IP headers dropped, X-Real-IP set", raw: crlf("GET / HTTP/1.1", host, "X-Real-IP: 6.6.6.6", "True-Client-IP: 6.6.6.6",
			"CF-Connecting-IP: 6.6.6.6", "X-Client-IP: 6.6.6.6", "Client-IP: 6.6.6.6", "X-Cluster-Client-IP: 6.6.6.6", "X-Originating-IP: 6.6.6.6",
			"X-Forwarded: for=6.6.6.6", "Forwarded-For: 6.6.6.6", "Fastly-Client-IP: 6.6.6.6", "X-Forwarded-Server: evil.test",
			"X-Forwarded-Port: 1", "X-Forwarded-Scheme: http", "X-Forwarded-Ssl: off", "X-Forwarded-Prefix: /evil", "X-Original-URL: /admin",
			"X-Rewrite-URL: /admin", "X-Original-Host: evil.test", "X-Host: evil.test", "Front-End-Https: off", "X-Url-Scheme: http"),
			statuses: []int{200}, app: 1, check: func(t *testing.T, seen []seenRequest) {
				for _, k := range []string{"True-Client-IP", "CF-Connecting-IP", "X-Client-IP", "Client-IP", "X-Cluster-Client-IP",
					"X-Originating-IP", "X-Forwarded", "Forwarded-For", "Fastly-Client-IP", "X-Forwarded-Server", "X-Forwarded-Port",
					"X-Forwarded-Scheme", "X-Forwarded-Ssl", "X-Forwarded-Prefix", "X-Original-URL", "X-Rewrite-URL", "X-Original-Host",
					"X-Host", "Front-End-Https", "X-Url-Scheme"} {
					if v := seen[0].header.Values(k); len(v) != 0 {
						t.Errorf("app got %s %q; want it dropped", k, v)
					}
				}
				if v := seen[0].header.Values("X-Real-IP"); len(v) != 1 || v[0] != "127.0.0.1" {
					t.Errorf("app got X-Real-IP %q; want rampart's 127.0.0.1", v)
				}
			}},
		{name: "Connection cannot remove what rampart sets", raw: crlf("GET / HTTP/1.1", host,
			"Connection: X-Request-Id, X-Forwarded-Host, X-Forwarded-For, X-Forwarded-Proto, X-Real-IP", "X-Request-Id: shop-req-42"),
			statuses: []int{200}, app: 1, check: func(t *testing.T, seen []seenRequest) {
				for k, want := range map[string]string{"X-Request-Id": "shop-req-42", "X-Forwarded-Host": "shop.test",
					"X-Forwarded-For": "127.0.0.1", "X-Forwarded-Proto": "https", "X-Real-IP": "127.0.0.1"} {
					if got := seen[0].header.Values(k); len(got) != 1 || got[0] != want {
						t.Errorf("app got %s %q; want %q", k, got, want)
					}
				}
			}},
		{name: "header with an underscore dropped (two framings)", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 5", "Transfer_Encoding: chunked") + "hello",
			statuses: []int{200}, app: 1, check: func(t *testing.T, seen []seenRequest) {
				bodyIs("hello")(t, seen)
				headerIs("Transfer_Encoding")(t, seen)
			}},
		{name: "any header with an underscore dropped", raw: crlf("GET / HTTP/1.1", host, "X_Forwarded_For: 6.6.6.6", "X-Ok: 1"),
			statuses: []int{200}, app: 1, check: func(t *testing.T, seen []seenRequest) {
				headerIs("X_Forwarded_For")(t, seen)
				headerIs("X-Ok", "1")(t, seen)
			}},
		{name: "method override to a refused method", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 0", "X-HTTP-Method-Override: TRACE"), statuses: []int{405}},
		{name: "method override to an allowed method", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 0", "X-HTTP-Method-Override: DELETE"), statuses: []int{200}, app: 1},
		{name: "client request id with a card number replaced", raw: crlf("GET / HTTP/1.1", host, "X-Request-Id: 4111111111111111"), statuses: []int{200}, app: 1,
			check: func(t *testing.T, seen []seenRequest) {
				if v := seen[0].header.Values("X-Request-Id"); len(v) != 1 || strings.ContainsAny(v[0], "0123456789") || len(v[0]) != 32 {
					t.Errorf("app got X-Request-Id %q; want one of rampart's own", v)
				}
			}},
		{name: "client request id with a secret replaced", raw: crlf("GET / HTTP/1.1", host, "X-Request-Id: password=hunter2"), statuses: []int{200}, app: 1,
			check: func(t *testing.T, seen []seenRequest) {
				if v := seen[0].header.Values("X-Request-Id"); len(v) != 1 || strings.Contains(v[0], "hunter2") {
					t.Errorf("app got X-Request-Id %q; want one of rampart's own", v)
				}
			}},
		{name: "two client request ids: the app gets one", raw: crlf("GET / HTTP/1.1", host, "X-Request-Id: first-1", "X-Request-Id: second-2"), statuses: []int{200}, app: 1,
			check: func(t *testing.T, seen []seenRequest) {
				if v := seen[0].header.Values("X-Request-Id"); len(v) != 1 {
					t.Errorf("app got X-Request-Id %q; want exactly one", v)
				}
			}},

		// Ports and ranges.
		{name: "Host with a port rampart does not serve", raw: crlf("GET / HTTP/1.1", "Host: shop.test:1"), statuses: []int{421}},
		{name: "Host with rampart's own port", raw: crlf("GET / HTTP/1.1", "Host: shop.test:18559"), statuses: []int{200}, app: 1},
		{name: "Host with the HTTPS default port", raw: crlf("GET / HTTP/1.1", "Host: shop.test:443"), statuses: []int{200}, app: 1},
		{name: "absolute-form with a port rampart does not serve", raw: crlf("GET https://shop.test:1/x HTTP/1.1", host), statuses: []int{421}},
		{name: "101 ranges", raw: crlf("GET / HTTP/1.1", host, "Range: bytes="+ranges(101)), statuses: []int{416}},
		{name: "100 ranges pass", raw: crlf("GET / HTTP/1.1", host, "Range: bytes="+ranges(100)), statuses: []int{200}, app: 1},
		{name: "Apache Killer: 22 KB of overlapping ranges", raw: crlf("GET / HTTP/1.1", host, "Range: bytes=0-,"+strings.Repeat("5-0,5-1,5-2,5-3,", 1300)+"5-4"), statuses: []int{416}},
		{name: "too many ranges in Request-Range", raw: crlf("GET / HTTP/1.1", host, "Request-Range: bytes="+ranges(200)), statuses: []int{416}},

		// Size limits (this rampart runs with --max-body-size 64KiB).
		{name: "Content-Length over the limit", raw: crlf("POST /pay HTTP/1.1", host, "Content-Length: 100000") + "x", statuses: []int{413}, closed: true},
		{name: "chunked body over the limit", raw: chunkedPost("11170\r\n" + strings.Repeat("x", 70000) + "\r\n0\r\n\r\n"), statuses: []int{413}, closed: true},
	}
}

// ranges returns n byte ranges, comma-separated.
func ranges(n int) string {
	r := make([]string, n)
	for i := range r {
		r[i] = fmt.Sprintf("%d-%d", i*10, i*10+5)
	}
	return strings.Join(r, ",")
}

// writeFuzzSeeds, when set, writes the corpus as seeds for the proxy's
// FuzzRawRequest (go test ./cmd/rampart -run TestHostileHTTP1 -write-fuzz-seeds ../../proxy/testdata/fuzz/FuzzRawRequest).
var writeFuzzSeeds = flag.String("write-fuzz-seeds", "", "directory to write the hostile corpus into as fuzz seeds")

// TestHostileHTTP1 sends each corpus request over its own TLS connection to a
// running rampart and checks the statuses, whether the connection was closed,
// and what the app received.
func TestHostileHTTP1(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18559", "127.0.0.1:18586"
	app := &recordingApp{}
	startApp(t, appAddr, app)
	dataDir := t.TempDir()
	start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test,api.shop.test", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir, "--max-body-size", "64KiB")
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))

	corpus := hostileCorpus()
	if len(corpus) < 60 {
		t.Fatalf("corpus has %d cases; the issue asks for at least 60", len(corpus))
	}
	if dir := *writeFuzzSeeds; dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, tc := range corpus {
			seed := fmt.Sprintf("go test fuzz v1\nstring(%q)\n", tc.raw)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("hostile-%02d", i)), []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range corpus {
		t.Run(tc.name, func(t *testing.T) {
			app.take()
			conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "shop.test", RootCAs: roots, NextProtos: []string{"http/1.1"}})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.WriteString(conn, tc.raw); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(conn)
			var got []int
			for len(got) < len(tc.statuses) {
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					break
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusContinue {
					continue
				}
				got = append(got, res.StatusCode)
			}
			if !slices.Equal(got, tc.statuses) {
				t.Errorf("statuses %v; want %v", got, tc.statuses)
			}
			if closed := isClosed(conn, br); closed != tc.closed {
				t.Errorf("connection closed = %v; want %v", closed, tc.closed)
			}
			time.Sleep(20 * time.Millisecond) // let the app's record land
			seen := app.take()
			if len(seen) != tc.app {
				t.Fatalf("app received %d requests; want %d: %+v", len(seen), tc.app, seen)
			}
			if tc.check != nil {
				tc.check(t, seen)
			}
		})
	}
}

// isClosed tells whether the server closed the connection: a read that ends
// in EOF (or a reset) rather than a timeout.
func isClosed(conn net.Conn, br *bufio.Reader) bool {
	_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}
