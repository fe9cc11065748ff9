package proxy

import (
	"io"
	"net/http"
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
