package main

import (
	"io"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/metrics"
)

// adminConfig is what the operator's listener serves from.
type adminConfig struct {
	ready     *atomic.Bool // listeners up and no stop begun
	registry  *prometheus.Registry
	pprof     bool
	domains   []string
	inventory func() []certs.Info
	grace     time.Duration // how long a name may wait for its first certificate and still count as ready
	started   time.Time
}

// adminMux serves /healthz (the process is alive), /readyz (send traffic
// here), /metrics, and /debug/pprof/ when asked for.
func adminMux(c adminConfig) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if reason := c.notReady(time.Now()); reason != "" {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, reason+"\n")
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(c.registry, promhttp.HandlerOpts{Registry: c.registry}))
	if c.pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// notReady returns why rampart should not get traffic now, or "".
func (c adminConfig) notReady(now time.Time) string {
	if !c.ready.Load() {
		return "not ready: listeners not up, or stopping"
	}
	var missing []string
	inv := c.inventory()
	for _, d := range c.domains {
		if !hasValidCertificate(inv, d, now) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	if now.Sub(c.started) < c.grace {
		return "" // first orders still within the start-up grace
	}
	return "not ready: no valid certificate for " + strings.Join(missing, ", ")
}

func hasValidCertificate(inv []certs.Info, domain string, now time.Time) bool {
	for _, info := range inv {
		if now.After(info.NotAfter) {
			continue
		}
		for _, n := range info.Names {
			if strings.EqualFold(n, domain) {
				return true
			}
		}
	}
	return false
}

// certificateSeries turns the inventory into one entry per served name.
func certificateSeries(inv []certs.Info) []metrics.Certificate {
	var out []metrics.Certificate
	for _, info := range inv {
		for _, n := range info.Names {
			out = append(out, metrics.Certificate{Domain: n, KeyType: info.KeyType, Issuer: info.Issuer, NotAfter: info.NotAfter})
		}
	}
	return out
}
