package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2conn is a raw HTTP/2 client connection that writes frames as given.
type h2conn struct {
	t    *testing.T
	conn *tls.Conn
	fr   *http2.Framer
	dec  *hpack.Decoder
}

func dialH2(t *testing.T, addr string, roots *x509.CertPool) *h2conn {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "shop.test", RootCAs: roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if conn.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatal("server did not negotiate h2")
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = nil
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &h2conn{t: t, conn: conn, fr: fr, dec: hpack.NewDecoder(4096, nil)}
}

// headers encodes fields in order, exactly as given (no validation).
func headerBlock(fields [][2]string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range fields {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return buf.Bytes()
}

// outcome is how the server answered one stream.
type outcome struct {
	status int           // :status of the response, or 0
	rst    http2.ErrCode // RST_STREAM code, if reset
	reset  bool
	goaway bool
}

// await reads frames until stream id is answered, reset, or the connection goes away.
func (c *h2conn) await(id uint32) outcome {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			return outcome{goaway: true}
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = c.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			_ = c.fr.WritePing(true, f.Data)
		case *http2.GoAwayFrame:
			return outcome{goaway: true}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return outcome{reset: true, rst: f.ErrCode}
			}
		case *http2.HeadersFrame:
			if f.StreamID != id {
				continue
			}
			fields, _ := c.dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range fields {
				if hf.Name == ":status" {
					status, _ := strconv.Atoi(hf.Value)
					return outcome{status: status}
				}
			}
		}
	}
}

func base(method, path string, extra ...[2]string) [][2]string {
	return append([][2]string{{":method", method}, {":scheme", "https"}, {":authority", "shop.test"}, {":path", path}}, extra...)
}

// badRequest is a 400, or the stream reset (where net/http's HTTP/2 server
// refuses it before rampart sees it).
func badRequest(o outcome) bool { return o.status == 400 || o.reset }

// TestHTTP2Frames sends hand-made HTTP/2 frames to a running rampart.
func TestHTTP2Frames(t *testing.T) {
	const httpsAddr, appAddr = "127.0.0.1:18562", "127.0.0.1:18589"
	app := &recordingApp{}
	startApp(t, appAddr, app)
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--tls", "internal", "--domain", "shop.test", "--upstream", "http://"+appAddr,
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", "", "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	roots := poolFromFile(t, filepath.Join(dataDir, "internal-ca", "root.pem"))

	cases := []struct {
		name   string
		fields [][2]string
		data   string // sent as one DATA frame with END_STREAM; empty: END_STREAM on HEADERS
		want   func(outcome) bool
		expect string
		app    int
	}{
		{"plain GET", base("GET", "/"), "", func(o outcome) bool { return o.status == 200 }, "200", 1},
		{"POST with a body", base("POST", "/pay", [2]string{"content-length", "5"}), "hello", func(o outcome) bool { return o.status == 200 }, "200", 1},
		{"DATA longer than content-length", base("POST", "/pay", [2]string{"content-length", "5"}), "hellohello", func(o outcome) bool { return o.reset && o.rst == http2.ErrCodeProtocol }, "RST_STREAM PROTOCOL_ERROR", 0},
		{"DATA shorter than content-length", base("POST", "/pay", [2]string{"content-length", "20"}), "hellohello", func(o outcome) bool { return o.status == 400 || (o.reset && o.rst == http2.ErrCodeProtocol) }, "400 or RST_STREAM", 0},
		{"connection-specific header", base("GET", "/", [2]string{"connection", "keep-alive"}), "", func(o outcome) bool { return o.status == 400 || o.reset }, "400 or RST_STREAM", 0},
		{"transfer-encoding header", base("POST", "/pay", [2]string{"transfer-encoding", "chunked"}), "5\r\nhello\r\n0\r\n\r\n", func(o outcome) bool { return o.status == 400 || o.reset }, "400 or RST_STREAM", 0},
		{"te other than trailers", base("GET", "/", [2]string{"te", "gzip"}), "", func(o outcome) bool { return o.status == 400 || o.reset }, "400 or RST_STREAM", 0},
		{"upper-case header name", base("GET", "/", [2]string{"X-Upper", "1"}), "", func(o outcome) bool { return o.reset && o.rst == http2.ErrCodeProtocol }, "RST_STREAM PROTOCOL_ERROR", 0},
		{"CR LF in a value", base("GET", "/", [2]string{"x-a", "a\r\nx-b: b"}), "", func(o outcome) bool { return o.reset && o.rst == http2.ErrCodeProtocol }, "RST_STREAM PROTOCOL_ERROR", 0},
		{":path without a slash", base("GET", "x"), "", func(o outcome) bool { return o.reset && o.rst == http2.ErrCodeProtocol }, "RST_STREAM PROTOCOL_ERROR", 0},
		{"CONNECT", [][2]string{{":method", "CONNECT"}, {":authority", "evil.test:443"}}, "", func(o outcome) bool { return o.status == 405 || o.status == 421 }, "405 or 421", 0},
		{"authority not served", [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "evil.test"}, {":path", "/"}}, "", func(o outcome) bool { return o.status == 421 }, "421", 0},
		{"absolute :path for another host", base("GET", "https://evil.test/x"), "", func(o outcome) bool { return o.status == 400 }, "400", 0},
		{"absolute :path for the same host", base("GET", "https://shop.test/x"), "", func(o outcome) bool { return o.status == 400 }, "400", 0},
		{"h2c-style upgrade header", base("GET", "/", [2]string{"upgrade", "h2c"}), "", func(o outcome) bool { return o.status == 400 || o.reset }, "400 or RST_STREAM", 0},

		// What HTTP/1.1 refuses gets the same answer over HTTP/2.
		{"two differing content-lengths", base("POST", "/pay", [2]string{"content-length", "5"}, [2]string{"content-length", "6"}), "hello", badRequest, "400 or RST_STREAM", 0},
		{"content-length +5", base("POST", "/pay", [2]string{"content-length", "+5"}), "hello", badRequest, "400 or RST_STREAM", 0},
		{"content-length list", base("POST", "/pay", [2]string{"content-length", "5, 5"}), "hello", badRequest, "400 or RST_STREAM", 0},
		{"host differing from :authority", base("GET", "/", [2]string{"host", "evil.test"}), "", badRequest, "400 or RST_STREAM", 0},
		{"host equal to :authority", base("GET", "/", [2]string{"host", "shop.test"}), "", func(o outcome) bool { return o.status == 200 }, "200", 1},
		{":authority with a port not served", [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "shop.test:1"}, {":path", "/"}}, "", func(o outcome) bool { return o.status == 421 }, "421", 0},
		{"101 ranges", base("GET", "/", [2]string{"range", "bytes=" + ranges(101)}), "", func(o outcome) bool { return o.status == 416 }, "416", 0},
		{":path with a fragment", base("GET", "/a#f"), "", badRequest, "400 or RST_STREAM", 0},
		{":path with a dot-dot and an encoded backslash", base("GET", "/a/..%5Cb"), "", badRequest, "400 or RST_STREAM", 0},
		{"underscore header dropped", base("GET", "/", [2]string{"x_forwarded_for", "6.6.6.6"}), "", func(o outcome) bool { return o.status == 200 }, "200", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app.take()
			c := dialH2(t, httpsAddr, roots)
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(tc.fields),
				EndHeaders: true, EndStream: tc.data == ""}); err != nil {
				t.Fatal(err)
			}
			if tc.data != "" {
				if err := c.fr.WriteData(1, true, []byte(tc.data)); err != nil {
					t.Fatal(err)
				}
			}
			got := c.await(1)
			if !tc.want(got) {
				t.Errorf("got %+v; want %s", got, tc.expect)
			}
			time.Sleep(20 * time.Millisecond)
			seen := app.take()
			if len(seen) != tc.app {
				t.Errorf("app received %d requests; want %d", len(seen), tc.app)
			}
			for _, s := range seen {
				for k := range s.header {
					if strings.Contains(k, "_") {
						t.Errorf("app received header %s; want names with an underscore dropped", k)
					}
				}
			}
		})
	}

	t.Run("rapid reset", func(t *testing.T) {
		before := strings.Count(r.out.String(), "\n")
		c := dialH2(t, httpsAddr, roots)
		const streams = 2000
		block := headerBlock(base("GET", "/"))
		for i := range streams {
			id := uint32(2*i + 1)
			if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndHeaders: true, EndStream: true}); err != nil {
				break // the server may hang up on the flood: that is allowed
			}
			if err := c.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
				break
			}
		}
		time.Sleep(time.Second)
		// rampart keeps serving, on a fresh connection.
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "shop.test"}, ForceAttemptHTTP2: true}}
		req, _ := http.NewRequest("GET", "https://"+httpsAddr+"/after", nil)
		req.Host = "shop.test"
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("after the flood: %v", err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("after the flood: %d; want 200", res.StatusCode)
		}
		lines := strings.Count(r.out.String(), "\n") - before
		t.Logf("rapid reset of %d streams: %d log lines; %d requests reached the app", streams, lines, len(app.take()))
		if lines > 100 {
			t.Errorf("the flood wrote %d log lines; want a bounded few", lines)
		}
	})
}
