package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/hostname"
)

// siteCert is a site's own certificate and the names it serves: files
// (a --config site's tls), or a pair in memory (an Ingress's spec.tls
// Secret, from names where it came from).
type siteCert struct {
	names             []string
	certFile, keyFile string
	certPEM, keyPEM   []byte
	from              string
}

func (a siteCert) same(b siteCert) bool {
	return a.certFile == b.certFile && a.keyFile == b.keyFile && slices.Equal(a.names, b.names) &&
		bytes.Equal(a.certPEM, b.certPEM) && bytes.Equal(a.keyPEM, b.keyPEM)
}

// pairSource is a site's certificate in service: files watched for change
// (certs.Files), or a pair in memory (certs.Pair).
type pairSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Inventory() []certs.Info
	Serves(name string) bool
	Reload()
	Run(context.Context)
}

// certSources is where every handshake's certificate comes from: a site's
// own pair when it has one (chosen by SNI, re-read when its files change),
// else the --tls source, which holds every other name. Either may be
// absent: a file whose sites all bring their pairs needs no --tls source.
type certSources struct {
	main certSource // nil when every name has a pair of its own
	log  *zap.Logger

	sites  atomic.Pointer[[]*sitePair]
	byName atomic.Pointer[map[string]*sitePair] // the pairs by their exact names (a cluster has a thousand)

	mu     sync.Mutex
	runCtx context.Context // for the pairs' watchers; nil before run
}

// sitePair is one site's pair in service, and its watcher's stop.
type sitePair struct {
	cert  siteCert
	files pairSource
	stop  context.CancelFunc // nil until its watcher runs
}

func newCertSources(main certSource, sites []siteCert, log *zap.Logger) (*certSources, error) {
	cs := &certSources{main: main, log: log}
	pairs, err := cs.load(sites, nil)
	if err != nil {
		return nil, err
	}
	cs.store(pairs)
	return cs, nil
}

// load makes a pair for each site, keeping those of old that did not change.
func (cs *certSources) load(sites []siteCert, old []*sitePair) ([]*sitePair, error) {
	var pairs []*sitePair
	for _, sc := range sites {
		if i := slices.IndexFunc(old, func(p *sitePair) bool { return p.cert.same(sc) }); i >= 0 {
			pairs = append(pairs, old[i])
			continue
		}
		var f pairSource
		var err error
		if sc.certPEM != nil {
			f, err = certs.NewPair(sc.certPEM, sc.keyPEM, sc.from, sc.names, time.Now())
		} else {
			f, err = certs.NewFiles(certs.FilesConfig{CertFile: sc.certFile, KeyFile: sc.keyFile, Domains: sc.names, Logger: cs.log})
		}
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, &sitePair{cert: sc, files: f})
	}
	return pairs, nil
}

// store puts pairs in service, with their index by exact name.
func (cs *certSources) store(pairs []*sitePair) {
	byName := map[string]*sitePair{}
	for _, p := range pairs {
		for _, n := range p.cert.names {
			if _, taken := byName[n]; !taken && !strings.HasPrefix(n, "*.") {
				byName[n] = p
			}
		}
	}
	cs.byName.Store(&byName)
	cs.sites.Store(&pairs)
}

func (cs *certSources) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	pairs := *cs.sites.Load()
	if hello.ServerName != "" {
		if p := (*cs.byName.Load())[hostname.Canonical(hello.ServerName)]; p != nil {
			return p.files.GetCertificate(hello)
		}
		for _, p := range pairs {
			if p.files.Serves(hello.ServerName) { // a wildcard's
				return p.files.GetCertificate(hello)
			}
		}
	}
	if cs.main != nil {
		return cs.main.GetCertificate(hello)
	}
	if hello.ServerName == "" && len(pairs) > 0 {
		return pairs[0].files.GetCertificate(hello)
	}
	return nil, fmt.Errorf("%w: %q", certs.ErrNotServed, hello.ServerName)
}

func (cs *certSources) Inventory() []certs.Info {
	var out []certs.Info
	if cs.main != nil {
		out = cs.main.Inventory()
	}
	for _, p := range *cs.sites.Load() {
		out = append(out, p.files.Inventory()...)
	}
	return out
}

// run watches the sites' pairs until ctx ends.
func (cs *certSources) run(ctx context.Context) {
	cs.mu.Lock()
	cs.runCtx = ctx
	for _, p := range *cs.sites.Load() {
		cs.watch(p)
	}
	cs.mu.Unlock()
	<-ctx.Done()
}

// watch starts a pair's watcher, under cs.mu, if run has begun.
func (cs *certSources) watch(p *sitePair) {
	if cs.runCtx == nil || p.stop != nil {
		return
	}
	ctx, cancel := context.WithCancel(cs.runCtx)
	p.stop = cancel
	go p.files.Run(ctx)
}

// update serves next's names (a reload): the --tls source takes its names,
// and the sites' pairs are those of next, a changed or new one loaded now.
// On error nothing has changed.
func (cs *certSources) update(next *config) error {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	old := *cs.sites.Load()
	pairs, err := cs.load(next.siteCerts, old)
	if err != nil {
		return err
	}
	switch {
	case cs.main == nil && len(next.mainDomains) > 0:
		return errors.New("names without a certificate of their own need the --tls source, which a start without such names did not make: restart")
	case cs.main != nil && len(next.mainDomains) == 0 && next.kube == nil:
		return errors.New("every name has a certificate of its own now, and the --tls source would serve none: restart, or keep one name on it")
	case cs.main != nil:
		if err := cs.main.SetDomains(next.mainDomains); err != nil {
			return err
		}
	}
	cs.store(pairs)
	for _, p := range pairs {
		cs.watch(p)
	}
	for _, p := range old {
		if !slices.Contains(pairs, p) && p.stop != nil {
			p.stop()
		}
	}
	return nil
}

// reloadFiles re-reads every pair from files now (a SIGHUP).
func (cs *certSources) reloadFiles() {
	if f, ok := cs.main.(*certs.Files); ok {
		f.Reload()
	}
	for _, p := range *cs.sites.Load() {
		p.files.Reload()
	}
}

// acme is the --tls source if it is ACME, else nil.
func (cs *certSources) acme() *certs.ACME {
	a, _ := cs.main.(*certs.ACME)
	return a
}
