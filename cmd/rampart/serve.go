package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/crypto/acme"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/kube"
	"github.com/rampart-proxy/rampart/metrics"
	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/redact"
	"github.com/rampart-proxy/rampart/tlsconfig"
)

// certSource is what serve needs of a certificate source.
type certSource interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Inventory() []certs.Info
	// SetDomains replaces the names served (a reload): a name added gets
	// its certificate at once, a name removed is never renewed.
	SetDomains([]string) error
}

// started tells a caller (the demo) what is up once every listener is bound.
type started struct {
	httpsAddr string
	rootPath  string // the internal CA's root, or ""
}

// serve runs rampart until ctx ends, then shuts down within the timeout.
// onStart, if not nil, is called once every listener is bound.
//
// reload, if not nil, reads the configuration again on SIGHUP.
func serve(ctx context.Context, cfg *config, reload func() (*config, error), stderr io.Writer, onStart func(started)) error {
	log, err := newLogger(cfg, stderr)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	// SIGHUP is caught from the start: its default action would end the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	// Every listener is bound first, so a taken port fails the start with
	// one line and nothing half up.
	lns, err := bindAll(cfg)
	if err != nil {
		return err
	}
	var ready atomic.Bool // /readyz: true from serving until a stop begins
	servers, err := setUp(cfg, lns, &ready, log)
	if err != nil {
		lns.close()
		return err
	}

	// Background work (ordering, file watching) is owned here and stopped on return.
	runCtx, stopBackground := context.WithCancel(context.Background())
	var background sync.WaitGroup
	defer func() { stopBackground(); background.Wait() }()
	for _, runner := range servers.runners {
		background.Add(1)
		go func() { defer background.Done(); runner(runCtx) }()
	}
	memLimit := applyMemoryLimit(os.Getenv, os.ReadFile)
	log.Info("rampart serving", zap.Strings("domains", cfg.domains), zap.String("upstream", cfg.upstreamText()), zap.Int("sites", len(cfg.sites)),
		zap.String("tls", cfg.tlsMode), zap.String("https", cfg.httpsAddr), zap.String("http", cfg.httpAddr),
		zap.String("admin", cfg.adminAddr), zap.String("data_dir", cfg.dataDir),
		zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)), zap.Int64("memory_limit_bytes", memLimit))
	for _, n := range cfg.notes {
		log.Warn("a --config line does nothing", zap.String("note", n))
	}
	if cfg.headers.HSTSMaxAge < 0 {
		log.Warn("HSTS is disabled (--hsts-max-age 0): browsers will not insist on HTTPS for this site")
	}
	if onStart != nil {
		onStart(started{httpsAddr: cfg.httpsAddr, rootPath: servers.rootPath})
	}

	errc := make(chan error, len(servers.list))
	for _, s := range servers.list {
		go func() { errc <- s.serve() }()
	}
	// In the Kubernetes mode, ready waits for the cluster's first table.
	ready.Store(cfg.kube == nil)
	kubeSynced, kubeChanged := watchCluster(runCtx, cfg, &background, log), (<-chan struct{})(nil)
	changed := make(chan struct{}, 1)
	if reload != nil && cfg.configFile != "" {
		background.Add(1)
		path, first := cfg.configFile, cfg.configData // cfg itself is replaced by each reload
		go func() {
			defer background.Done()
			watchFile(runCtx, path, configWatchInterval, first, changed)
		}()
	}
	for reloading := true; reloading; {
		select {
		case <-hup:
			cfg = servers.reload(cfg, reload, log)
		case <-changed:
			log.Info("the --config file changed: reloading", zap.String("file", cfg.configFile))
			cfg = servers.reload(cfg, reload, log)
		case err := <-kubeSynced:
			kubeSynced = nil
			if err == nil { // else the stop is under way
				cfg = servers.fromCluster(cfg, &ready, log)
				kubeChanged = cfg.kube.watcher.Changed()
			}
		case <-kubeChanged:
			cfg = servers.fromCluster(cfg, &ready, log)
		case <-ctx.Done():
			reloading = false
		case err := <-errc:
			log.Error("listener failed; stopping", zap.Error(err))
			shutdown(servers.list, cfg.shutdownTimeout, log)
			return err
		}
	}
	// Load balancers first: /readyz fails while rampart keeps serving for
	// the delay, so they stop sending before anything stops accepting.
	ready.Store(false)
	log.Info("stopping: /readyz now fails; still serving", zap.Duration("delay", cfg.limits.shutdownDelay))
	time.Sleep(cfg.limits.shutdownDelay)
	log.Info("stopping: draining requests in flight", zap.Duration("timeout", cfg.shutdownTimeout))
	shutdown(servers.list, cfg.shutdownTimeout, log, servers.proxy.GoAway) // WebSockets get a clean close beside the drain
	servers.proxy.StopHealthChecks()
	log.Info("stopped", zap.Int64("connections_rejected_over_limits", servers.connsRejected.Load()),
		zap.Int64("connections_displaced", servers.connsDisplaced.Load()),
		zap.Int64("idle_connections_closed_for_room", servers.connsIdleClosed.Load()))
	return nil
}

// watchCluster starts the Kubernetes mode's background work, if cfg has
// it, and tells when the cluster's caches are full (or the stop began).
func watchCluster(ctx context.Context, cfg *config, bg *sync.WaitGroup, log *zap.Logger) <-chan error {
	if cfg.kube == nil {
		return nil
	}
	return cfg.kube.start(ctx, bg, log.Named("kubernetes"))
}

func newLogger(cfg *config, stderr io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.logLevel)
	if err != nil {
		return nil, err
	}
	return zap.New(zapcore.NewCore(logEncoder(cfg.logFormat), zapcore.Lock(zapcore.AddSync(stderr)), level)), nil
}

// logEncoder is the encoder of every log line: JSON, or console for people,
// always through the redactor, so that no field can carry a card number or
// a secret into the log. Times and durations are written in forms the
// redactor never mistakes for a card number.
func logEncoder(format string) zapcore.Encoder {
	if format == "console" {
		return redact.Encoder(zapcore.NewConsoleEncoder(redact.EncoderConfig(zap.NewDevelopmentEncoderConfig())))
	}
	return redact.Encoder(zapcore.NewJSONEncoder(redact.EncoderConfig(zap.NewProductionEncoderConfig())))
}

// prepareDataDir creates the data directory private to rampart, and warns if
// an existing one is readable by others: it holds private keys.
func prepareDataDir(cfg *config, log *zap.Logger) error {
	fi, err := os.Stat(cfg.dataDir)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(cfg.dataDir, 0o700); err != nil {
			return &settingError{cfg.sources.of("data-dir"), fmt.Sprintf("cannot create %q: %v", cfg.dataDir, err), "create it (mode 0700) or choose a writable directory"}
		}
		return nil
	}
	if err != nil || !fi.IsDir() {
		return &settingError{cfg.sources.of("data-dir"), fmt.Sprintf("%q is not a usable directory", cfg.dataDir), "choose a directory rampart can write"}
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("data directory is accessible to other users; it holds private keys", zap.String("data_dir", cfg.dataDir),
			zap.String("mode", fi.Mode().Perm().String()), zap.String("fix", "chmod 700 "+cfg.dataDir))
	}
	return nil
}

// newCertSource builds the configured source; runner, if not nil, must run in
// the background; rootPath is the internal CA's root file.
func newCertSource(cfg *config, log *zap.Logger, m *metrics.Metrics) (src *certSources, runners []func(context.Context), rootPath string, err error) {
	var main certSource
	var runner func(context.Context)
	if len(cfg.mainDomains) > 0 || cfg.kube != nil { // the cluster names its hosts later
		if main, runner, rootPath, err = newMainSource(cfg, log, m); err != nil {
			return nil, nil, "", err
		}
	}
	if runner != nil {
		runners = append(runners, runner)
	}
	if src, err = newCertSources(main, cfg.siteCerts, log); err != nil {
		return nil, nil, "", err
	}
	if len(cfg.siteCerts) > 0 {
		runners = append(runners, src.run)
	}
	return src, runners, rootPath, nil
}

// newMainSource makes the --tls source, for every name without a
// certificate of its own.
func newMainSource(cfg *config, log *zap.Logger, m *metrics.Metrics) (src certSource, runner func(context.Context), rootPath string, err error) {
	switch cfg.tlsMode {
	case "internal":
		ca, err := certs.NewInternal(certs.InternalConfig{Domains: cfg.mainDomains, Dir: filepath.Join(cfg.dataDir, "internal-ca"), Logger: log})
		if err != nil {
			return nil, nil, "", err
		}
		return ca, nil, ca.RootPath(), nil
	case "files":
		f, err := certs.NewFiles(certs.FilesConfig{CertFile: cfg.certFile, KeyFile: cfg.keyFile, Domains: cfg.mainDomains, Logger: log})
		if err != nil {
			return nil, nil, "", err
		}
		return f, f.Run, "", nil
	}
	acfg := certs.ACMEConfig{
		OnOrder: m.ACMEOrder,
		Domains: cfg.mainDomains, CacheDir: filepath.Join(cfg.dataDir, "acme"),
		DirectoryURL: cfg.acmeDirectory, Email: cfg.acmeEmail, Roots: cfg.acmeRoots, Logger: log,
		RSA: cfg.acmeRSA, Advise: acmeAdvice(cfg), ARIInterval: cfg.acmeARIInterval,
		OnRenewal: func(r certs.RenewalAttempt) { m.CertificateRenewal(r.Reason, r.Err) },
	}
	if cfg.acmeEABKID != "" {
		acfg.EAB = &acme.ExternalAccountBinding{KID: cfg.acmeEABKID, Key: cfg.acmeEABKey}
	}
	if km := cfg.kube; km != nil {
		// The replicas share one cache (Secrets in rampart's namespace), and
		// only the Lease's holder orders.
		acfg.Cache = &kube.SecretCache{Secrets: km.client.Core, Namespace: km.namespace}
		acfg.MayOrder = km.leader.Held
	}
	a, err := certs.NewACME(acfg)
	if err != nil {
		return nil, nil, "", err
	}
	return a, a.Run, "", nil
}

// newTransport is the way to the apps that cfg asks for. A reload keeps the
// running one (and its idle connections) unless transportChanged.
func newTransport(cfg *config) *proxy.Transport {
	return proxy.NewTransport(proxy.TransportConfig{
		TLS:                   cfg.upstreamTLS(),
		ResponseHeaderTimeout: cfg.upstreamTimeout,
		DialTimeout:           cfg.limits.upstreamDialTimeout,
	})
}

// transportChanged tells whether b needs another transport than a.
func transportChanged(a, b *config) bool {
	return a.upstreamTimeout != b.upstreamTimeout || a.limits.upstreamDialTimeout != b.limits.upstreamDialTimeout ||
		(a.upstreamRoots == nil) != (b.upstreamRoots == nil) || (a.upstreamRoots != nil && !a.upstreamRoots.Equal(b.upstreamRoots))
}

// proxyConfig is the part of cfg that the proxy serves, over transport,
// with its payment pages made.
func proxyConfig(cfg *config, log *zap.Logger, m *metrics.Metrics, transport *proxy.Transport, pages *paymentPages) (proxy.Config, error) {
	sites, err := pages.sites(cfg)
	if err != nil {
		return proxy.Config{}, err
	}
	var routes []proxy.Route
	for _, d := range cfg.flagDomains {
		routes = append(routes, proxy.Route{Host: d, Upstream: cfg.upstream})
	}
	_, port, _ := net.SplitHostPort(cfg.httpsAddr)
	httpsPort, _ := net.LookupPort("tcp", port)
	return proxy.Config{
		Routes:          routes,
		Sites:           sites,
		AllowEmpty:      cfg.kube != nil, // no Ingress yet
		Transport:       m.RoundTripper(transport),
		OnReject:        m.Rejected,
		OnUpstreamError: m.UpstreamError,
		Limits:          cfg.limits.request,
		TrustedProxies:  cfg.trustedProxies,
		Headers:         cfg.headers,

		AllowUnderscoreHeaders: cfg.allowUnderscore,
		HTTPSPort:              httpsPort,
		Logger:                 log.Named("proxy"),
	}, nil
}

// listener is a bound server, ready to serve.
type listener struct {
	srv   *http.Server
	serve func() error
}

// boundListeners are the sockets, bound before anything else is set up.
type boundListeners struct {
	https, http, admin net.Listener // http and admin may be nil
}

func (b *boundListeners) close() {
	for _, ln := range []net.Listener{b.https, b.http, b.admin} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

func bindAll(cfg *config) (*boundListeners, error) {
	b := &boundListeners{}
	all := []struct {
		flagName, addr string
		ln             *net.Listener
	}{{"https-addr", cfg.httpsAddr, &b.https}, {"http-addr", cfg.httpAddr, &b.http}, {"admin-addr", cfg.adminAddr, &b.admin}}
	var err error
	for i, l := range all {
		if l.addr == "" {
			continue
		}
		if *l.ln, err = bind(cfg, l.flagName, l.addr); err != nil {
			// A port one of rampart's own listeners holds (localhost and
			// 127.0.0.1 are told apart only here): the settings collide.
			for _, o := range all[:i] {
				if *o.ln != nil && samePort((*o.ln).Addr(), l.addr) {
					err = collision(cfg.sources.of(o.flagName), o.addr, cfg.sources.of(l.flagName), l.addr)
				}
			}
			b.close()
			return nil, err
		}
	}
	return b, nil
}

// servers is everything serve runs.
type servers struct {
	list      []*listener
	runners   []func(context.Context) // background work: the certificate source's, the ticket keys' rotation
	rootPath  string                  // the internal CA's root, or ""
	proxy     *proxy.Proxy
	transport *proxy.Transport // the proxy's current upstream transport
	src       *certSources
	metrics   *metrics.Metrics
	pages     *paymentPages
	names     *servedSince // the names served, each since when (for /readyz's grace)

	connsRejected   atomic.Int64 // connections refused for being over --max-conns or --max-conns-per-ip
	connsDisplaced  atomic.Int64 // connections closed to make room for a newer one of the same address
	connsIdleClosed atomic.Int64 // idle connections closed early to make room
}

// setUp builds the certificate source, the TLS policy, the proxy and one
// http.Server per bound listener.
func setUp(cfg *config, lns *boundListeners, ready *atomic.Bool, log *zap.Logger) (*servers, error) {
	if err := prepareDataDir(cfg, log); err != nil {
		return nil, err
	}
	// Metrics first: the certificate source reports its orders to them, and
	// they read its inventory at each scrape.
	reg := prometheus.NewRegistry()
	var src *certSources
	var px atomic.Pointer[proxy.Proxy] // made after the metrics, which report its pools
	m, err := metrics.New(metrics.Config{
		Registerer:   reg,
		Hosts:        cfg.domains,
		Version:      buildVersion(),
		Certificates: func() []metrics.Certificate { return certificateSeries(src.Inventory()) },
		Renewals:     func() []metrics.Renewal { return renewalSeries(src.acme()) },
		Upstreams: func() []metrics.Upstream {
			var out []metrics.Upstream
			if p := px.Load(); p != nil {
				for _, u := range p.Upstreams() {
					out = append(out, metrics.Upstream(u))
				}
			}
			return out
		},
	})
	if err != nil {
		return nil, err
	}
	src, runners, rootPath, err := newCertSource(cfg, log.Named("certs"), m)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := tlsconfig.Server(tlsconfig.ServerConfig{
		MinVersion:     cfg.tlsMinVersion,
		GetCertificate: src.GetCertificate,
		ACME:           cfg.tlsMode == "acme",
		OnHandshake:    m.Handshake,
	})
	if err != nil {
		return nil, err
	}
	rotate, err := sessionTickets(tlsCfg, cfg.tlsTicketLifetime, log)
	if err != nil {
		return nil, err
	}
	if rotate != nil {
		runners = append(runners, rotate)
	}
	pages, err := newPaymentPages(cfg, log.Named("paymentpage"), m)
	if err != nil {
		return nil, err
	}
	runners = append(runners, pages.run)
	transport := newTransport(cfg)
	pc, err := proxyConfig(cfg, log, m, transport, pages)
	if err != nil {
		return nil, err
	}
	p, err := proxy.New(pc)
	if err != nil {
		return nil, err
	}
	px.Store(p)
	m.ConfigLoaded(true, time.Now())

	// net/http's own error lines (TLS handshake failures above all) are
	// counted by reason and sampled, so a flood writes a bounded few.
	errLog := serverErrorLog(log.Named("http"), m)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: cfg.limits.readHeaderTimeout,
			IdleTimeout:       cfg.limits.idleTimeout,
			MaxHeaderBytes:    cfg.limits.maxHeaderBytes,
			ErrorLog:          errLog,
			// HTTP/2 limits, explicit rather than inherited. Header list size
			// follows MaxHeaderBytes.
			HTTP2: &http.HTTP2Config{
				MaxConcurrentStreams:          100,
				MaxReadFrameSize:              1 << 14,
				MaxDecoderHeaderTableSize:     4 << 10,
				MaxEncoderHeaderTableSize:     4 << 10,
				MaxReceiveBufferPerConnection: 1 << 20,
				MaxReceiveBufferPerStream:     1 << 20,
				PingTimeout:                   15 * time.Second,
				WriteByteTimeout:              cfg.limits.request.WriteIdleTimeout,
			},
		}
	}
	out := &servers{runners: runners, rootPath: rootPath, proxy: p, transport: transport, src: src, metrics: m, pages: pages,
		names: newServedSince(cfg.domains, time.Now())}
	https := newServer(m.Handler(proxy.AccessLog(log.Named("access"), p)))
	https.TLSConfig = tlsCfg
	connLimits := cfg.limits.conns
	connLimits.IdleTimeout = cfg.limits.idleTimeout
	connLimits.OnReject = func(remote net.Addr) {
		out.connsRejected.Add(1)
		m.Rejected("connection_limit")
		if ce := log.Check(zapcore.DebugLevel, "connection over the limit closed"); ce != nil {
			ce.Write(zap.String("remote", remote.String()))
		}
	}
	connLimits.OnShed = func(reason string) {
		if reason == "displaced" {
			out.connsDisplaced.Add(1)
			m.Rejected("connection_displaced")
		} else {
			out.connsIdleClosed.Add(1)
			m.Rejected("connection_idle_closed")
		}
	}
	// Each listener guards its own connections: a flood of plain HTTP
	// takes no room from HTTPS.
	httpsGuard := proxy.NewConnGuard(connLimits)
	https.ConnState, https.ConnContext = httpsGuard.ConnState, httpsGuard.ConnContext
	// TLS by a listener of rampart's, not ServeTLS: ServeTLS serves a copy
	// of the TLS config, which the rotation of ticket keys would not reach.
	// net/http still speaks HTTP/2 to the connections that chose h2.
	// Behind a TCP load balancer, the PROXY header is read first, so the
	// guard counts (and everything after it sees) the client, not the balancer.
	behind := func(ln net.Listener) net.Listener {
		if len(cfg.proxyProtocolFrom) == 0 {
			return ln
		}
		return proxy.ProxyProtocolListener(ln, proxy.ProxyProtocol{From: cfg.proxyProtocolFrom, Timeout: cfg.limits.readHeaderTimeout,
			OnRefuse: func(peer net.Addr, why string) {
				// Anyone can send a header: counted always, logged at debug
				// only, so a flood writes no flood of lines.
				m.Rejected("proxy_protocol")
				if ce := log.Check(zapcore.DebugLevel, "connection refused for its PROXY header"); ce != nil {
					ce.Write(zap.String("remote", peer.String()), zap.String("reason", why))
				}
			}})
	}
	httpsLn := tls.NewListener(httpsGuard.Listener(behind(lns.https)), tlsCfg)
	out.list = append(out.list, &listener{https, func() error { return https.Serve(httpsLn) }})
	if lns.http != nil {
		var h http.Handler = p.Redirect()
		if a := src.acme(); a != nil {
			h = a.HTTPHandler(h) // HTTP-01 challenges first, then the redirect
		}
		plain := newServer(h)
		plainGuard := proxy.NewConnGuard(connLimits)
		plain.ConnState, plain.ConnContext = plainGuard.ConnState, plainGuard.ConnContext
		httpLn := plainGuard.Listener(behind(lns.http))
		out.list = append(out.list, &listener{plain, func() error { return plain.Serve(httpLn) }})
	}
	if lns.admin != nil {
		admin := newServer(adminMux(adminConfig{
			ready: ready, registry: reg, pprof: cfg.adminPprof, names: out.names,
			inventory: src.Inventory, grace: cfg.readyGrace,
			poolsReady: poolsReady(cfg, p), acme: src.acme(),
		}))
		out.list = append(out.list, &listener{admin, func() error { return admin.Serve(lns.admin) }})
	}
	return out, nil
}

// sessionTickets gives tlsCfg session ticket keys that rampart makes and
// rotates itself, so that no ticket outlives lifetime (Go's own keys serve
// seven days); the returned function keeps rotating them until its context
// ends. A lifetime of 0 turns session tickets off.
func sessionTickets(tlsCfg *tls.Config, lifetime time.Duration, log *zap.Logger) (func(context.Context), error) {
	if lifetime == 0 {
		tlsCfg.SessionTicketsDisabled = true
		return nil, nil
	}
	ring, err := tlsconfig.NewTicketKeyRing(lifetime, rand.Reader)
	if err != nil {
		return nil, err
	}
	keys, err := ring.Keys(time.Now())
	if err != nil {
		return nil, err
	}
	tlsCfg.SetSessionTicketKeys(keys)
	return func(ctx context.Context) {
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(ring.NextChange())):
			}
			keys, err := ring.Keys(time.Now())
			if err != nil {
				// The keys in service stay: tickets live on past their
				// lifetime until the next try, a minute on.
				log.Error("session ticket keys not rotated", zap.Error(err))
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Minute):
				}
				continue
			}
			tlsCfg.SetSessionTicketKeys(keys)
		}
	}, nil
}

// samePort tells whether addr names the port a is bound to.
func samePort(a net.Addr, addr string) bool {
	tcp, ok := a.(*net.TCPAddr)
	_, port, err := net.SplitHostPort(addr)
	if !ok || err != nil {
		return false
	}
	n, err := net.LookupPort("tcp", port)
	return err == nil && n == tcp.Port
}

// bind listens on addr, turning the usual failures into setting errors.
func bind(cfg *config, flagName, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	switch {
	case err == nil:
		return ln, nil
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, &settingError{cfg.sources.of(flagName), fmt.Sprintf("%s is already in use", addr), "stop the other server on that port, or choose another address"}
	case errors.Is(err, syscall.EACCES):
		return nil, &settingError{cfg.sources.of(flagName), fmt.Sprintf("no permission to bind %s", addr),
			"grant the binary CAP_NET_BIND_SERVICE (sudo setcap cap_net_bind_service=+ep rampart, or the systemd unit), or use a port above 1023"}
	}
	return nil, &settingError{cfg.sources.of(flagName), err.Error(), "give an address of this machine, such as :443"}
}

// shutdown stops every server: no new connections, requests in flight may
// finish until the timeout, then what is left is closed.
func shutdown(servers []*listener, timeout time.Duration, log *zap.Logger, also ...func(context.Context)) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, f := range also {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	for _, l := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.srv.Shutdown(ctx); err != nil {
				log.Warn("shutdown timed out; closing the remaining connections", zap.Error(err))
				_ = l.srv.Close()
			}
		}()
	}
	wg.Wait()
}
