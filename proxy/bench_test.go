package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"
)

// BenchmarkProxyGET measures one small GET through the proxy over loopback,
// client and app in the same process (a relative figure: compare runs side
// by side, never across machines).
func BenchmarkProxyGET(b *testing.B) {
	upstream := serveFixed(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer upstream.Close()
	front := serveFixed(b, proxyTo(b, upstream.URL, TransportConfig{}))
	defer front.Close()
	client := front.Client()
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "shop.test"
	b.ReportAllocs()
	for b.Loop() {
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// BenchmarkForwarding measures the forwarding path alone: one small GET, and
// one 4 KiB POST whose body is in memory, sent to an app over loopback, the
// lean way and through http.Transport (the fallback), side by side. Run it
// with -cpu 1: on one P, ns/op is the CPU that the exchange costs (the app's
// side included); with more, http.Transport's two goroutines per connection
// spread one exchange over several cores and ns/op shows latency instead.
func BenchmarkForwarding(b *testing.B) {
	upstream := serveFixed(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer upstream.Close()
	body := strings.Repeat("a", 4096)
	for _, way := range []struct {
		name string
		rt   func(*Transport, *http.Request) (*http.Response, error)
	}{
		{"lean", func(t *Transport, r *http.Request) (*http.Response, error) { return t.lean.roundTrip(r) }},
		{"http.Transport", func(t *Transport, r *http.Request) (*http.Response, error) {
			return t.fallback.RoundTrip(unreplayable(r))
		}},
	} {
		for _, method := range []string{"GET", "POST"} {
			b.Run(way.name+"/"+method, func(b *testing.B) {
				tr := NewTransport(TransportConfig{})
				defer tr.CloseIdleConnections()
				b.ReportAllocs()
				for b.Loop() {
					var req *http.Request
					if method == "POST" {
						// In memory, as prepareBody leaves it.
						req, _ = http.NewRequest("POST", upstream.URL+"/pay", io.NopCloser(bytes.NewBufferString(body)))
						req.ContentLength = int64(len(body))
					} else {
						req, _ = http.NewRequest("GET", upstream.URL+"/", nil)
					}
					res, err := way.rt(tr, req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, res.Body)
					res.Body.Close()
				}
			})
		}
	}
}
