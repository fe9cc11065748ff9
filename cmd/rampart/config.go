package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/tlsconfig"
)

// config is the validated configuration: every field is ready to use.
type config struct {
	domains           []string
	upstream          *url.URL
	upstreamRoots     *x509.CertPool // nil: system roots
	upstreamTimeout   time.Duration
	httpsAddr         string
	httpAddr          string // "": no plain HTTP
	adminAddr         string // "": no admin listener
	dataDir           string
	tlsMode           string
	certFile          string
	keyFile           string
	acmeDirectory     string
	acmeEmail         string
	acmeRoots         *x509.CertPool
	acmeEABKID        string
	acmeEABKey        []byte
	tlsMinVersion     uint16
	tlsTicketLifetime time.Duration
	headers           proxy.Headers
	trustedProxies    []netip.Prefix
	allowUnderscore   bool
	shutdownTimeout   time.Duration
	logLevel          string
	logFormat         string
	sources           map[string]string // flag name → "--flag" or "RAMPART_FLAG", for errors
	limits            limits
	adminPprof        bool
	readyGrace        time.Duration
}

const letsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory"

// settingError is a configuration mistake: which setting, what is wrong, the fix.
type settingError struct {
	setting, problem, fix string
}

func (e *settingError) Error() string {
	return fmt.Sprintf("%s: %s; fix: %s", e.setting, e.problem, e.fix)
}

// listFlag is a flag that may be repeated or given comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// rawFlags are the settings as given, before validation.
type rawFlags struct {
	domains, trustedProxies                                  listFlag
	upstream, upstreamCA, upstreamTimeout                    string
	httpsAddr, httpAddr, adminAddr, dataDir                  string
	tlsMode, certFile, keyFile                               string
	acmeDirectory, acmeEmail, acmeCARoot, acmeEABKID, eabKey string
	tlsMinVersion, hstsMaxAge, csp, shutdownTimeout          string
	tlsTicketLifetime                                        string
	hstsPreload, adminPprof, allowUnderscore                 bool
	configFile, readyGrace                                   string
	logLevel, logFormat                                      string
	limits                                                   rawLimits
}

func newFlagSet(name string, r *rawFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Mistakes are reported in one line by parseFlags; only --help prints the list.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.Var(&r.domains, "domain", "names served, comma-separated or repeated; the only names a certificate is ever ordered for (required)")
	fs.StringVar(&r.upstream, "upstream", "", "the app: http://… or https://… (required)")
	fs.StringVar(&r.upstreamCA, "upstream-ca", "", "PEM file of a private CA trusted for an https upstream")
	fs.StringVar(&r.upstreamTimeout, "upstream-timeout", "60s", "how long to wait for the app's response headers before answering 504")
	fs.StringVar(&r.httpsAddr, "https-addr", ":443", "HTTPS listen address")
	fs.StringVar(&r.httpAddr, "http-addr", ":80", "plain HTTP listen address (redirects and HTTP-01); empty disables it")
	fs.StringVar(&r.adminAddr, "admin-addr", "127.0.0.1:9090", "operator listener (/healthz, /readyz); empty disables it")
	fs.StringVar(&r.dataDir, "data-dir", defaultDataDir(), "certificates and ACME account (mode 0700)")
	fs.StringVar(&r.tlsMode, "tls", "acme", "certificate source: acme, internal (a local CA, for development) or files")
	fs.StringVar(&r.certFile, "cert-file", "", "PEM certificate chain, with --tls files")
	fs.StringVar(&r.keyFile, "key-file", "", "PEM private key, with --tls files")
	fs.StringVar(&r.acmeDirectory, "acme-directory", letsEncryptProduction, "ACME directory URL, or staging for Let's Encrypt's staging CA")
	fs.StringVar(&r.acmeEmail, "acme-email", "", "contact address given to the CA")
	fs.StringVar(&r.acmeCARoot, "acme-ca-root", "", "PEM file of extra roots trusted when talking to the ACME server")
	fs.StringVar(&r.acmeEABKID, "acme-eab-kid", "", "External Account Binding key ID")
	fs.StringVar(&r.eabKey, "acme-eab-hmac", "", "External Account Binding HMAC key, base64url")
	fs.StringVar(&r.tlsMinVersion, "tls-min-version", "1.2", "1.2 or 1.3")
	fs.StringVar(&r.tlsTicketLifetime, "tls-ticket-lifetime", "12h", "longest a TLS session ticket is honoured (1s to 168h); its keys rotate hourly (a quarter of a shorter lifetime) and are forgotten after it; 0 turns session tickets off")
	fs.StringVar(&r.hstsMaxAge, "hsts-max-age", strconv.Itoa(proxy.DefaultHSTSMaxAge), "HSTS max-age in seconds; 0 disables HSTS")
	fs.BoolVar(&r.hstsPreload, "hsts-preload", false, "add preload to HSTS")
	fs.StringVar(&r.csp, "csp", proxy.DefaultCSP, "rampart's Content-Security-Policy, sent beside the app's; off sends none")
	fs.Var(&r.trustedProxies, "trusted-proxies", "CIDRs whose X-Forwarded-* and Forwarded headers are kept")
	fs.BoolVar(&r.allowUnderscore, "allow-underscore-headers", false, "pass on request headers whose names hold an underscore (dropped by default)")
	fs.StringVar(&r.shutdownTimeout, "shutdown-timeout", "30s", "how long in-flight requests may take to finish on stop")
	fs.StringVar(&r.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&r.logFormat, "log-format", "json", "json, or console for people")
	addLimitFlags(fs, &r.limits)
	fs.BoolVar(&r.adminPprof, "admin-pprof", false, "serve /debug/pprof/ on the admin listener")
	fs.StringVar(&r.readyGrace, "ready-grace", "60s", "how long after start /readyz stays 200 while a name waits for its first certificate")
	fs.StringVar(&r.configFile, "config", "", "file of settings, one \"name = value\" a line (names as the flags); flags and RAMPART_* win over it; SIGHUP re-reads it")
	return fs
}

// defaultDataDir follows the XDG base directory spec, and the FHS for root.
func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/rampart"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "rampart")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "rampart")
	}
	return "rampart-data"
}

// envName is the environment variable for a flag: RAMPART_ + upper snake case.
func envName(flagName string) string {
	return "RAMPART_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags reads args, then the environment for every flag not given on
// the command line. It returns the name of each setting's source, for errors.
func parseFlags(fs *flag.FlagSet, args []string, env func(string) (string, bool), stderr io.Writer) (map[string]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "Usage: %s [flags]   (each flag can also come from RAMPART_<FLAG_IN_UPPER_SNAKE_CASE>)\n", fs.Name())
			fs.SetOutput(stderr)
			fs.PrintDefaults()
			return nil, err
		}
		return nil, &settingError{"arguments", err.Error(), "see rampart --help"}
	}
	if fs.NArg() > 0 {
		return nil, &settingError{"arguments", fmt.Sprintf("unexpected %q", fs.Arg(0)), "pass settings as --flag value; see --help"}
	}
	source := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { source[f.Name] = "--" + f.Name })
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || err != nil {
			return
		}
		name := envName(f.Name)
		v, ok := env(name)
		if !ok {
			return
		}
		source[f.Name] = name
		given[f.Name] = true
		if e := f.Value.Set(v); e != nil {
			err = &settingError{name, fmt.Sprintf("%q: %v", v, e), "correct or unset " + name}
		}
	})
	if err != nil {
		return nil, err
	}
	if file := fs.Lookup("config").Value.String(); file != "" {
		err = applyConfigFile(fs, file, given, source)
	}
	return source, err
}

// applyConfigFile sets, from a file of "name = value" lines, every flag that
// neither the command line nor the environment gave. Blank lines and lines
// starting with # are skipped; a name may repeat where its flag may.
func applyConfigFile(fs *flag.FlagSet, file string, given map[string]bool, source map[string]string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &settingError{source["config"], err.Error(), "point it at a readable file, or drop it"}
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		where := fmt.Sprintf("%s:%d", file, i+1)
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)
		f := fs.Lookup(name)
		switch {
		case !ok:
			return &settingError{where, fmt.Sprintf("%q is not name = value", line), "write it as name = value, e.g. upstream = http://127.0.0.1:8080"}
		case f == nil || name == "config":
			return &settingError{where, fmt.Sprintf("unknown setting %q", name), "use a flag's name without the dashes, e.g. domain = shop.example.com"}
		case given[name]:
			continue // a flag or RAMPART_* variable wins
		}
		source[name] = where + " (" + name + ")"
		if err := f.Value.Set(value); err != nil {
			return &settingError{source[name], fmt.Sprintf("%q: %v", value, err), "correct the value"}
		}
	}
	return nil
}

// validate turns raw settings into a config, or the first mistake found.
func validate(r *rawFlags, src map[string]string) (*config, error) {
	bad := func(flagName, problem, fix string) error {
		return &settingError{src[flagName], problem, fix}
	}
	c := &config{
		httpsAddr: r.httpsAddr, httpAddr: r.httpAddr, adminAddr: r.adminAddr,
		tlsMode: r.tlsMode, certFile: r.certFile, keyFile: r.keyFile,
		acmeEmail: r.acmeEmail, acmeEABKID: r.acmeEABKID,
		logLevel: r.logLevel, logFormat: r.logFormat, sources: src,
	}
	switch r.tlsMode {
	case "acme", "internal", "files":
	default:
		return nil, bad("tls", fmt.Sprintf("unknown mode %q", r.tlsMode), "use acme, internal or files")
	}
	if len(r.domains) == 0 {
		return nil, bad("domain", "no domain given", "name the site, e.g. --domain shop.example.com (or try rampart demo)")
	}
	for _, d := range r.domains {
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if err := checkDomain(d, r.tlsMode == "acme"); err != "" {
			return nil, bad("domain", fmt.Sprintf("%q %s", d, err), domainFix(r.tlsMode))
		}
		c.domains = append(c.domains, d)
	}

	u, err := url.Parse(r.upstream)
	switch {
	case r.upstream == "":
		return nil, bad("upstream", "no upstream given", "name the app, e.g. --upstream http://127.0.0.1:8080")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, bad("upstream", fmt.Sprintf("%q is not an http(s) URL", r.upstream), "use http://host:port or https://host:port")
	case u.User != nil:
		// Named without the password: this line may end up in a journal.
		return nil, bad("upstream", fmt.Sprintf("%q carries credentials", u.Redacted()), "use http://host:port or https://host:port, without credentials")
	}
	c.upstream = u
	if r.upstreamCA != "" {
		if u.Scheme != "https" {
			return nil, bad("upstream-ca", "set, but --upstream is not https", "use an https:// upstream or drop --upstream-ca")
		}
		// Only the private CA: an internal app is not vouched for by public CAs.
		c.upstreamRoots = x509.NewCertPool()
		if err := appendRoots(c.upstreamRoots, r.upstreamCA); err != nil {
			return nil, bad("upstream-ca", err.Error(), "point it at a readable PEM file of CA certificates")
		}
	}
	if c.upstreamTimeout, err = positiveDuration(r.upstreamTimeout); err != nil {
		return nil, bad("upstream-timeout", err.Error(), "use a duration such as 60s")
	}

	if r.httpsAddr == "" {
		return nil, bad("https-addr", "empty", "give a listen address such as :443")
	}
	for _, a := range []struct{ name, addr string }{{"https-addr", r.httpsAddr}, {"http-addr", r.httpAddr}, {"admin-addr", r.adminAddr}} {
		if a.addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(a.addr); err != nil || port == "" {
			return nil, bad(a.name, fmt.Sprintf("%q is not host:port", a.addr), "use a form such as :443 or 127.0.0.1:9090")
		}
	}
	if r.dataDir == "" {
		return nil, bad("data-dir", "empty", "give a directory such as /var/lib/rampart")
	}
	if c.dataDir, err = filepath.Abs(r.dataDir); err != nil {
		return nil, bad("data-dir", err.Error(), "give an absolute directory")
	}

	if c.tlsMinVersion, err = tlsconfig.ParseVersion(r.tlsMinVersion); err != nil {
		return nil, bad("tls-min-version", fmt.Sprintf("%q is not allowed", r.tlsMinVersion), "use 1.2 (the default) or 1.3; TLS 1.0 and 1.1 are broken")
	}
	if c.tlsTicketLifetime, err = time.ParseDuration(r.tlsTicketLifetime); err != nil || c.tlsTicketLifetime < 0 || (c.tlsTicketLifetime > 0 && c.tlsTicketLifetime < time.Second) || c.tlsTicketLifetime > 7*24*time.Hour {
		return nil, bad("tls-ticket-lifetime", fmt.Sprintf("%q is not 0 or a duration from 1s to 168h", r.tlsTicketLifetime), "use a duration such as 12h (the default), or 0 to turn session tickets off")
	}
	maxAge, err := strconv.Atoi(r.hstsMaxAge)
	if err != nil || maxAge < 0 {
		return nil, bad("hsts-max-age", fmt.Sprintf("%q is not a number of seconds", r.hstsMaxAge), "use 63072000 (two years), or 0 to disable HSTS")
	}
	c.headers.HSTSMaxAge, c.headers.HSTSPreload = maxAge, r.hstsPreload
	if maxAge == 0 {
		c.headers.HSTSMaxAge = -1 // proxy.Headers: negative sends none
	}
	if r.hstsPreload && maxAge < 31536000 {
		return nil, bad("hsts-preload", "the preload list requires max-age of at least a year", "raise --hsts-max-age to 31536000 or more, or drop --hsts-preload")
	}
	if r.csp == "" || strings.ContainsAny(r.csp, "\r\n\x00") {
		return nil, bad("csp", fmt.Sprintf("%q is not a usable policy", r.csp), "give a policy, or off to send none")
	}
	c.headers.CSP = r.csp
	c.allowUnderscore = r.allowUnderscore
	for _, p := range r.trustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, err2 := netip.ParseAddr(p)
			if err2 != nil {
				return nil, bad("trusted-proxies", fmt.Sprintf("%q is not a CIDR or IP address", p), "use forms such as 10.0.0.0/8 or 192.0.2.7")
			}
			prefix = netip.PrefixFrom(addr, addr.BitLen())
		}
		c.trustedProxies = append(c.trustedProxies, prefix.Masked())
	}
	if c.shutdownTimeout, err = positiveDuration(r.shutdownTimeout); err != nil {
		return nil, bad("shutdown-timeout", err.Error(), "use a duration such as 30s")
	}
	switch r.logLevel {
	case "debug", "info", "warn", "error":
	default:
		return nil, bad("log-level", fmt.Sprintf("unknown level %q", r.logLevel), "use debug, info, warn or error")
	}
	if r.logFormat != "json" && r.logFormat != "console" {
		return nil, bad("log-format", fmt.Sprintf("unknown format %q", r.logFormat), "use json or console")
	}

	if c.limits, err = validateLimits(&r.limits, bad); err != nil {
		return nil, err
	}
	c.adminPprof = r.adminPprof
	if c.readyGrace, err = time.ParseDuration(r.readyGrace); err != nil || c.readyGrace < 0 {
		return nil, bad("ready-grace", fmt.Sprintf("%q is not a duration", r.readyGrace), "use a duration such as 60s, or 0s")
	}

	switch r.tlsMode {
	case "files":
		if err := validateFiles(c, r, src); err != nil {
			return nil, err
		}
	case "acme":
		if err := validateACME(c, r, src); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func validateFiles(c *config, r *rawFlags, src map[string]string) error {
	if r.certFile == "" {
		return &settingError{src["cert-file"], "required with --tls files", "point it at the PEM certificate chain"}
	}
	if r.keyFile == "" {
		return &settingError{src["key-file"], "required with --tls files", "point it at the PEM private key"}
	}
	_, err := certs.LoadPair(r.certFile, r.keyFile, c.domains, time.Now())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, certs.ErrCertFile):
		return &settingError{src["cert-file"], err.Error(), "point it at a readable PEM certificate"}
	case errors.Is(err, certs.ErrKeyFile):
		return &settingError{src["key-file"], err.Error(), "point it at a readable PEM private key"}
	case errors.Is(err, certs.ErrKeyMismatch):
		return &settingError{src["key-file"], err.Error(), "give the key the certificate was issued for"}
	case errors.Is(err, certs.ErrExpired):
		return &settingError{src["cert-file"], err.Error(), "install a current certificate, or use --tls acme"}
	case errors.Is(err, certs.ErrNotCovered):
		return &settingError{src["cert-file"], err.Error(), "use a certificate for every --domain, or serve fewer names"}
	}
	return &settingError{src["cert-file"], err.Error(), "check the certificate and key files"}
}

func validateACME(c *config, r *rawFlags, src map[string]string) error {
	switch dir := r.acmeDirectory; {
	case dir == "staging":
		c.acmeDirectory = certs.LetsEncryptStaging
	case dir == "":
		c.acmeDirectory = letsEncryptProduction
	default:
		u, err := url.Parse(dir)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return &settingError{src["acme-directory"], fmt.Sprintf("%q is not an https URL", dir), "give the CA's directory URL, or staging"}
		}
		c.acmeDirectory = dir
	}
	if r.acmeEmail != "" && (!strings.Contains(r.acmeEmail, "@") || strings.ContainsAny(r.acmeEmail, " ,<>")) {
		return &settingError{src["acme-email"], fmt.Sprintf("%q is not an email address", r.acmeEmail), "give one address such as ops@example.com"}
	}
	if r.acmeCARoot != "" {
		// Extra roots: the system's stay trusted too.
		c.acmeRoots, _ = x509.SystemCertPool()
		if c.acmeRoots == nil {
			c.acmeRoots = x509.NewCertPool()
		}
		if err := appendRoots(c.acmeRoots, r.acmeCARoot); err != nil {
			return &settingError{src["acme-ca-root"], err.Error(), "point it at a readable PEM file of CA certificates"}
		}
	}
	if (r.acmeEABKID == "") != (r.eabKey == "") {
		return &settingError{src["acme-eab-kid"] + ", " + src["acme-eab-hmac"], "only one of the pair given", "give both the key ID and the HMAC key from your CA, or neither"}
	}
	if r.eabKey != "" {
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.eabKey, "="))
		if err != nil || len(key) == 0 {
			return &settingError{src["acme-eab-hmac"], "not base64url", "paste the HMAC key exactly as your CA gave it"}
		}
		c.acmeEABKey = key
	}
	return nil
}

// checkDomain returns what is wrong with a served name, or "".
func checkDomain(d string, acme bool) string {
	if strings.Contains(d, "*") {
		return "is a wildcard, which needs DNS-01 and rampart orders with TLS-ALPN-01 or HTTP-01"
	}
	if _, err := netip.ParseAddr(strings.Trim(d, "[]")); err == nil {
		if acme {
			return "is an IP address, for which ACME CAs issue no ordinary certificate"
		}
		return ""
	}
	if len(d) > 253 {
		return "is longer than 253 characters"
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return "is not a valid DNS name"
		}
		for _, ch := range label {
			if !(ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-') {
				return "is not a valid DNS name (use the punycode form of international names)"
			}
		}
	}
	if acme && (d == "localhost" || strings.HasSuffix(d, ".localhost")) {
		return "is local; no public CA can validate it"
	}
	if acme && !strings.Contains(d, ".") {
		return "is a bare name; a public CA issues only for fully qualified names"
	}
	return ""
}

func domainFix(mode string) string {
	if mode == "acme" {
		return "give a public DNS name that points at this machine, or use --tls internal for local development"
	}
	return "give a DNS name such as shop.example.com"
}

func appendRoots(pool *x509.CertPool, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if !pool.AppendCertsFromPEM(data) {
		return fmt.Errorf("%q holds no PEM certificate", file)
	}
	return nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration", s)
	}
	return d, nil
}

// upstreamTLS is the client config for an https upstream.
func (c *config) upstreamTLS() *tls.Config { return tlsconfig.Upstream(c.upstreamRoots) }
