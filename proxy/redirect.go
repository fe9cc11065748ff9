package proxy

import (
	"net/http"

	"github.com/rampart-proxy/rampart/hostname"
)

// Redirect returns the plain-HTTP handler: a served name gets 308 to the same
// path and query over HTTPS; any other name gets 404 and no Location, so the
// listener is never an open redirect. No HSTS is sent over plain HTTP
// (RFC 6797 §7.2: it would be ignored).
func (p *Proxy) Redirect() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := p.table.Load()
		prefix, served := t.redirectTo(hostname.Canonical(r.Host))
		if !served {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(errorPages[http.StatusNotFound]))
			return
		}
		target := r.URL.RequestURI()
		if target == "" || target[0] != '/' {
			target = "/" // "OPTIONS *" and other odd forms go to the root
		}
		w.Header().Set("Location", prefix+target)
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}
