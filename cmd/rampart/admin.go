package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/metrics"
	"github.com/rampart-proxy/rampart/proxy"
)

// adminConfig is what the operator's listener serves from.
type adminConfig struct {
	ready     *atomic.Bool // listeners up and no stop begun
	registry  *prometheus.Registry
	pprof     bool
	names     *servedSince // the names served, each since when
	inventory func() []certs.Info
	grace     time.Duration // how long a name may wait for its first certificate and still count as ready

	poolsReady func() string // with --ready-requires-upstream: why a pool cannot take requests, or ""; nil without
	acme       *certs.ACME   // nil without --tls acme: nothing to renew
}

// adminMux serves /healthz (the process is alive), /readyz (send traffic
// here), /metrics, /certs (the certificates and their renewal plans, for
// rampart certs), POST /certs/renew, and /debug/pprof/ when asked for.
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
	mux.HandleFunc("GET /certs", c.listCerts)
	mux.HandleFunc("POST /certs/renew", c.renewCert)
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
	if c.poolsReady != nil {
		if why := c.poolsReady(); why != "" {
			return why
		}
	}
	var missing []string
	inv := c.inventory()
	for d, since := range c.names.all() {
		// A name still within its grace (after start, or after the reload
		// that added it) may wait for its first certificate.
		if now.Sub(since) >= c.grace && !hasValidCertificate(inv, d, now) {
			missing = append(missing, d)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	slices.Sort(missing)
	return "not ready: no valid certificate for " + strings.Join(missing, ", ")
}

// servedSince is the set of served names, each with when it joined: at the
// start, or by a reload.
type servedSince struct {
	mu    sync.Mutex
	names map[string]time.Time
}

func newServedSince(names []string, at time.Time) *servedSince {
	s := &servedSince{names: map[string]time.Time{}}
	s.set(names, at)
	return s
}

// set makes names the served ones: those new to the set join at at.
func (s *servedSince) set(names []string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]time.Time{}
	for _, n := range names {
		if since, ok := s.names[n]; ok {
			next[n] = since
		} else {
			next[n] = at
		}
	}
	s.names = next
}

func (s *servedSince) all() map[string]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.names)
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

// renewalSeries turns the ACME renewal plans into metric series; none without ACME.
func renewalSeries(a *certs.ACME) []metrics.Renewal {
	if a == nil {
		return nil
	}
	var out []metrics.Renewal
	for _, r := range a.Renewals() {
		if r.Follower {
			continue // the replica that orders reports the plan
		}
		out = append(out, metrics.Renewal{Domain: r.Name, KeyType: r.KeyType, Planned: r.Planned,
			WindowStart: r.ARI.Start, WindowEnd: r.ARI.End, LastRenewed: r.LastRenewed, LastReason: r.LastReason, Overdue: r.Overdue})
	}
	return out
}

// poolsReady is /readyz's check of the pools with --ready-requires-upstream,
// or nil without it.
func poolsReady(cfg *config, p *proxy.Proxy) func() string {
	if !cfg.readyUpstream {
		return nil
	}
	return func() string {
		down := p.PoolsDown()
		if len(down) == 0 {
			return ""
		}
		return "not ready: no member of pool " + strings.Join(down, ", ") + " takes requests (--ready-requires-upstream)"
	}
}

// configWatchInterval is how often the --config file is read for changes; a
// change is applied when two reads in a row agree on it, so within 2 s.
// Reading it whole, not its time stamp, sees every way it can change: an
// editor's rename, a Kubernetes ConfigMap's swapped symbolic link.
const configWatchInterval = time.Second

// watchFile signals changed whenever the file's content differs from the
// last read, until ctx ends: once two reads in a row agree, so that a file
// an editor is still writing in place is not taken half done. A file that
// cannot be read counts as changed once (the reload then says why); its
// return counts again. first is the content the running configuration was
// read from (nil if it could not be).
func watchFile(ctx context.Context, path string, every time.Duration, first []byte, changed chan<- struct{}) {
	last, lastErr := first, first == nil
	tick := time.NewTicker(every)
	defer tick.Stop()
	var pending []byte
	pendingErr, havePending := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		b, err := os.ReadFile(path)
		if (err != nil) == lastErr && (err != nil || bytes.Equal(b, last)) {
			havePending = false
			continue
		}
		if !havePending || (err != nil) != pendingErr || !bytes.Equal(b, pending) {
			pending, pendingErr, havePending = b, err != nil, true // seen once: wait for the next read to agree
			continue
		}
		last, lastErr, havePending = b, err != nil, false
		select {
		case changed <- struct{}{}:
		default: // one is waiting already
		}
	}
}
