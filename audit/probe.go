package audit

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Target is what to audit.
type Target struct {
	// URL is https://host[:port]/path. Required.
	URL string
	// IP, if set, is connected to instead of resolving the host; the host
	// still goes in SNI and Host, so the certificate check is the real one.
	IP string
	// Roots verify the chain. Nil means the system roots.
	Roots *x509.CertPool
	// HTTPPort is where the plain-HTTP redirect is checked. Zero means 80.
	HTTPPort int
	// Now is the clock for expiry. Nil means time.Now.
	Now func() time.Time
}

// Report is an audit's findings, details and grade.
type Report struct {
	Host      string   `json:"host"`
	Address   string   `json:"address"`
	Protocols []string `json:"protocols"`
	Suites    []string `json:"suites"` // every accepted suite, TLS 1.3 ones first
	// SuitesByProtocol splits Suites: the TLS 1.3 suites, then those
	// accepted at the best version up to TLS 1.2 (where each is probed).
	SuitesByProtocol []ProtocolSuites `json:"suites_by_protocol"`
	Groups           []string         `json:"groups"`
	Certificate      string           `json:"certificate"`
	Findings         Findings         `json:"findings"`
	Result           Result           `json:"result"`
}

// ProtocolSuites is the suites accepted at one protocol version.
type ProtocolSuites struct {
	Protocol string   `json:"protocol"`
	Suites   []string `json:"suites"`
}

// Why Probe could not audit an endpoint; its errors match one with
// errors.Is. Like every error of this package, their messages start with
// "audit: ".
var (
	// ErrNotHTTPS means Target.URL is not an https://host[:port]/ URL.
	ErrNotHTTPS = errors.New("audit: not an https URL")
	// ErrUnreachable means no TCP connection could be made to the
	// endpoint, or it accepted one but never answered a ClientHello.
	ErrUnreachable = errors.New("audit: endpoint unreachable")
	// ErrNoTLS means the endpoint answered, but no handshake at any
	// version got as far as its certificate.
	ErrNoTLS = errors.New("audit: no TLS handshake")
)

// Probe audits t and grades it.
func Probe(ctx context.Context, t Target) (*Report, error) {
	u, err := url.Parse(t.URL)
	if err != nil || u.Scheme != "https" || u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %q", ErrNotHTTPS, t.URL)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "443"
	}
	addrHost := host
	if t.IP != "" {
		addrHost = t.IP
	}
	addr := net.JoinHostPort(addrHost, port)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	dial := func() (net.Conn, error) { return dialer.DialContext(ctx, "tcp", addr) }
	c, err := dial()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	c.Close()
	// One handshake first: an endpoint that accepts connections but never
	// speaks TLS would otherwise cost every probe its full timeout.
	if _, err := goHandshake(ctx, dial, host, tls.VersionTLS10, tls.VersionTLS13, nil); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, fmt.Errorf("%w: no TLS answer from %s: %v", ErrUnreachable, addr, err)
		}
	}

	r := &Report{Host: host, Address: addr}
	f := &r.Findings
	f.HSTSMaxAge = -1

	// Protocols up to TLS 1.2 with a hand-built ClientHello offering every known suite.
	all := make([]uint16, 0, len(knownSuites))
	for id := range knownSuites {
		all = append(all, id)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	var best12 uint16
	var rawChain [][]byte // from the best hand-built handshake, for servers Go cannot talk to
	for _, v := range []uint16{SSL30, TLS10, TLS11, TLS12} {
		sh, err := sendHello(dial, host, v, all, false)
		if err == nil && sh.version == v {
			f.Protocols = append(f.Protocols, v)
			best12 = v
			if sh.renegotiate {
				f.SecureRenegotiation = true
			}
			if len(sh.chain) > 0 {
				rawChain = sh.chain
			}
		}
	}
	// TLS 1.3: each suite alone with a hand-built hello, and a handshake by
	// Go's client, which offers every suite at once and so can only say
	// whether TLS 1.3 is accepted at all.
	suites13 := tls13SuitesAccepted(dial, host)
	state13, err13 := goHandshake(ctx, dial, host, tls.VersionTLS13, tls.VersionTLS13, nil)
	if err13 == nil && len(suites13) == 0 {
		// A server the hand-built hello cannot please (it wants a key
		// share for a group that hello cannot make): the suite Go's client
		// got is at least one it accepts.
		if s, ok := tls13Suites[state13.CipherSuite]; ok {
			suites13 = append(suites13, s)
		}
	}
	if err13 == nil || len(suites13) > 0 {
		f.Protocols = append(f.Protocols, TLS13)
	}
	f.Suites = append(f.Suites, suites13...)
	// Each suite alone, at the best version up to TLS 1.2.
	var suites12 []Suite
	if best12 != 0 {
		for _, id := range all {
			if sh, err := sendHello(dial, host, best12, []uint16{id}, false); err == nil && sh.suite == id {
				suites12 = append(suites12, knownSuites[id])
				if sh.dhBits > 0 && (f.DHBits == 0 || sh.dhBits < f.DHBits) {
					f.DHBits = sh.dhBits
				}
			}
		}
		if sh, err := sendHello(dial, host, best12, all, true); err == nil && sh.compression != 0 {
			f.Compression = true
		}
	}
	f.Suites = append(f.Suites, suites12...)
	for _, s := range f.Suites {
		r.Suites = append(r.Suites, s.Name)
	}
	if len(suites13) > 0 {
		r.SuitesByProtocol = append(r.SuitesByProtocol, ProtocolSuites{Protocol: versionName(TLS13), Suites: suiteNames(suites13)})
	}
	if len(suites12) > 0 {
		r.SuitesByProtocol = append(r.SuitesByProtocol, ProtocolSuites{Protocol: versionName(best12), Suites: suiteNames(suites12)})
	}
	for _, v := range f.Protocols {
		r.Protocols = append(r.Protocols, versionName(v))
	}

	// Key-exchange groups, one at a time.
	for _, g := range []struct {
		id   tls.CurveID
		bits int
	}{{tls.X25519MLKEM768, 0}, {tls.X25519, 253}, {tls.CurveP256, 256}, {tls.CurveP384, 384}, {tls.CurveP521, 521}} {
		maxV := uint16(tls.VersionTLS13)
		if _, err := goHandshake(ctx, dial, host, tls.VersionTLS12, maxV, []tls.CurveID{g.id}); err == nil {
			r.Groups = append(r.Groups, g.id.String())
			if g.bits > 0 && (f.ECDHBits == 0 || g.bits < f.ECDHBits) {
				f.ECDHBits = g.bits
			}
		}
	}

	// The certificate, from Go's client, or else from the hand-built handshake.
	var chain []*x509.Certificate
	if state, err := goHandshake(ctx, dial, host, tls.VersionTLS10, tls.VersionTLS13, nil); err == nil {
		chain = state.PeerCertificates
	} else {
		for _, der := range rawChain {
			if c, perr := x509.ParseCertificate(der); perr == nil {
				chain = append(chain, c)
			}
		}
		if len(chain) == 0 {
			return nil, fmt.Errorf("%w with %s: %w", ErrNoTLS, addr, err)
		}
	}
	certificateFindings(f, chain, host, t.Roots, now())
	leaf := chain[0]
	r.Certificate = fmt.Sprintf("%s %d bits, signed %s by %q, %d days left", f.KeyType, f.KeyBits, leaf.SignatureAlgorithm, leaf.Issuer.CommonName, f.DaysLeft)

	httpFindings(ctx, f, t, host, addrHost, addr, u)
	r.Result = Grade(*f)
	return r, nil
}

// tls13SuitesAccepted asks for each TLS 1.3 suite alone. A HelloRetryRequest
// accepts nothing yet: it asks for a key share for another group, so the
// suite is asked for once more with a share for that group.
func tls13SuitesAccepted(dial func() (net.Conn, error), host string) []Suite {
	var out []Suite
	for _, id := range slices.Sorted(maps.Keys(tls13Suites)) {
		group := uint16(groupX25519)
		for try := 0; try < 2; try++ {
			sh, err := sendHello13(dial, host, id, group)
			if err != nil {
				break
			}
			if !sh.retry {
				if sh.version == TLS13 && sh.suite == id && sh.group == group {
					out = append(out, tls13Suites[id])
				}
				break
			}
			if sh.group == group || curveFor(sh.group) == nil {
				break // asks again for the share it had, or for one this probe cannot make
			}
			group = sh.group
		}
	}
	return out
}

func suiteNames(ss []Suite) []string {
	names := make([]string, len(ss))
	for i, s := range ss {
		names[i] = s.Name
	}
	return names
}

func versionName(v uint16) string {
	if v == SSL30 {
		return "SSL 3.0"
	}
	return tls.VersionName(v)
}

// goHandshake completes a handshake with Go's client, verification off (the
// chain is checked separately, so an untrusted one is graded, not fatal).
func goHandshake(ctx context.Context, dial func() (net.Conn, error), host string, minV, maxV uint16, groups []tls.CurveID) (tls.ConnectionState, error) {
	conn, err := dial()
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	cfg := &tls.Config{ServerName: host, InsecureSkipVerify: true, MinVersion: minV, MaxVersion: maxV, CurvePreferences: groups}
	if net.ParseIP(host) != nil {
		cfg.ServerName = ""
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	st := tc.ConnectionState()
	if groups != nil && st.CurveID != groups[0] {
		return st, errors.New("audit: another group negotiated")
	}
	return st, nil
}

func certificateFindings(f *Findings, chain []*x509.Certificate, host string, roots *x509.CertPool, now time.Time) {
	leaf := chain[0]
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		f.KeyType, f.KeyBits = "rsa", k.N.BitLen()
	case *ecdsa.PublicKey:
		f.KeyType, f.KeyBits = "ecdsa", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		f.KeyType, f.KeyBits = "ed25519", 256
	}
	switch leaf.SignatureAlgorithm {
	case x509.MD5WithRSA, x509.MD2WithRSA:
		f.SignatureHash = "md5"
	case x509.SHA1WithRSA, x509.ECDSAWithSHA1, x509.DSAWithSHA1:
		f.SignatureHash = "sha1"
	default:
		f.SignatureHash = "sha256+"
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now})
	f.Trusted = err == nil || isOnlyExpiry(err)
	f.NameMatch = leaf.VerifyHostname(host) == nil
	f.Expired = now.After(leaf.NotAfter) || now.Before(leaf.NotBefore)
	f.DaysLeft = int(leaf.NotAfter.Sub(now).Hours() / 24)
}

func isOnlyExpiry(err error) bool {
	var ce x509.CertificateInvalidError
	return errors.As(err, &ce) && ce.Reason == x509.Expired
}

// httpFindings reads the security headers over HTTPS and checks the
// plain-HTTP redirect.
func httpFindings(ctx context.Context, f *Findings, t Target, host, addrHost, addr string, u *url.URL) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{ServerName: host, InsecureSkipVerify: true},
			DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
				if strings.HasSuffix(a, ":80") || (t.HTTPPort != 0 && strings.HasSuffix(a, ":"+strconv.Itoa(t.HTTPPort))) {
					return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, net.JoinHostPort(addrHost, portOf(a)))
				}
				return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			},
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil); err == nil {
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			parseHSTS(f, res.Header.Get("Strict-Transport-Security"))
			f.CSP = res.Header.Get("Content-Security-Policy") != ""
			f.NoSniff = strings.EqualFold(res.Header.Get("X-Content-Type-Options"), "nosniff")
			f.FrameOptions = res.Header.Get("X-Frame-Options") != "" || strings.Contains(res.Header.Get("Content-Security-Policy"), "frame-ancestors")
		}
	}
	httpPort := t.HTTPPort
	if httpPort == 0 {
		httpPort = 80
	}
	plain := "http://" + net.JoinHostPort(host, strconv.Itoa(httpPort)) + u.RequestURI()
	if req, err := http.NewRequestWithContext(ctx, "GET", plain, nil); err == nil {
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			loc, _ := url.Parse(res.Header.Get("Location"))
			f.RedirectsToHTTPS = res.StatusCode >= 300 && res.StatusCode < 400 && loc != nil && loc.Scheme == "https" && loc.Hostname() == host
		}
	}
}

func portOf(hostport string) string {
	_, p, _ := net.SplitHostPort(hostport)
	return p
}

func parseHSTS(f *Findings, v string) {
	if v == "" {
		return
	}
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		k, val, _ := strings.Cut(part, "=")
		switch strings.ToLower(k) {
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(val, `"`)); err == nil && n >= 0 {
				f.HSTSMaxAge = n
			}
		case "includesubdomains":
			f.HSTSIncludeSubDomains = true
		case "preload":
			f.HSTSPreload = true
		}
	}
}
