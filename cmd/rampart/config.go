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
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rampart-proxy/rampart/certs"
	conffile "github.com/rampart-proxy/rampart/config"
	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/tlsconfig"
	"github.com/rampart-proxy/rampart/webhook"
)

// config is the validated configuration: every field is ready to use.
type config struct {
	domains           []string                      // every name served: --domain's and the sites'
	flagDomains       []string                      // --domain's, served by --upstream
	sites             []proxy.Site                  // the --config file's, hosts canonical
	pages             []conffile.PaymentPageSetting // the sites' payment pages, made for each table
	pageAlertURL      *url.URL                      // nil: no alert webhook
	upstream          *url.URL                      // nil: sites only
	upstreamRoots     *x509.CertPool                // nil: system roots
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
	acmeRSA           bool // also order RSA certificates, on demand
	acmeARIInterval   time.Duration
	tlsMinVersion     uint16
	tlsTicketLifetime time.Duration
	headers           proxy.Headers
	trustedProxies    []netip.Prefix
	proxyProtocolFrom []netip.Prefix // load balancers whose PROXY headers the listeners read
	allowUnderscore   bool
	shutdownTimeout   time.Duration
	logLevel          string
	logFormat         string
	sources           sources  // where each setting given came from, for errors
	notes             []string // what the operator should know: config lines overridden
	limits            limits
	adminPprof        bool
	readyGrace        time.Duration
	readyUpstream     bool       // /readyz also needs every pool to have a member taking requests
	configFile        string     // --config, watched for changes; "" without one
	configData        []byte     // what --config held when read
	mainDomains       []string   // the names the --tls source serves: all but the sites' with their own certificate
	siteCerts         []siteCert // the sites' own certificate files
	kube              *kubeMode  // rampart kubernetes: the sites come from the cluster; nil otherwise
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
	domains, trustedProxies, proxyProtocolFrom               listFlag
	upstream, upstreamCA, upstreamTimeout                    string
	httpsAddr, httpAddr, adminAddr, dataDir                  string
	tlsMode, certFile, keyFile                               string
	acmeDirectory, acmeEmail, acmeCARoot, acmeEABKID, eabKey string
	tlsMinVersion, hstsMaxAge, csp, shutdownTimeout          string
	tlsTicketLifetime                                        string
	hstsPreload, adminPprof, allowUnderscore, acmeRSA        bool
	readyUpstream                                            bool
	configFile, readyGrace, acmeARIInterval                  string
	logLevel, logFormat                                      string
	pageAlertURL                                             string
	limits                                                   rawLimits
	kube                                                     bool // rampart kubernetes: no domain needed
}

func newFlagSet(name string, r *rawFlags) *flag.FlagSet {
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
	fs.StringVar(&r.adminAddr, "admin-addr", "127.0.0.1:9090", "operator listener: /metrics (Prometheus), /healthz, /readyz; empty disables it")
	fs.StringVar(&r.dataDir, "data-dir", defaultDataDir(), "certificates and ACME account (mode 0700)")
	fs.StringVar(&r.pageAlertURL, "payment-page-alert-url", "", "where to POST a JSON alert for each change seen on a payment page (https, or http to loopback); empty: the log line and the metric only")
	fs.StringVar(&r.tlsMode, "tls", "acme", "certificate source: acme, internal (a local CA, for development) or files")
	fs.StringVar(&r.certFile, "cert-file", "", "PEM certificate chain, with --tls files")
	fs.StringVar(&r.keyFile, "key-file", "", "PEM private key, with --tls files")
	fs.StringVar(&r.acmeDirectory, "acme-directory", letsEncryptProduction, "ACME directory URL, or staging for Let's Encrypt's staging CA")
	fs.StringVar(&r.acmeEmail, "acme-email", "", "contact address given to the CA")
	fs.StringVar(&r.acmeCARoot, "acme-ca-root", "", "PEM file of extra roots trusted when talking to the ACME server")
	fs.StringVar(&r.acmeEABKID, "acme-eab-kid", "", "External Account Binding key ID")
	fs.StringVar(&r.eabKey, "acme-eab-hmac", "", "External Account Binding HMAC key, base64url")
	fs.StringVar(&r.acmeARIInterval, "acme-ari-interval", "6h", "longest wait between two asks of the CA's renewal window (ARI) for a certificate, 1s to 12h; a shorter Retry-After from the CA is honoured")
	fs.BoolVar(&r.acmeRSA, "acme-rsa", false, "also order an RSA certificate, when a client that cannot use ECDSA first connects (each costs an order from the CA); by default rampart holds ECDSA P-256 certificates only")
	fs.StringVar(&r.tlsMinVersion, "tls-min-version", "1.2", "1.2 or 1.3")
	fs.StringVar(&r.tlsTicketLifetime, "tls-ticket-lifetime", "12h", "longest a TLS session ticket is honoured (1s to 168h); its keys rotate hourly (a quarter of a shorter lifetime) and are forgotten after it; 0 turns session tickets off")
	fs.StringVar(&r.hstsMaxAge, "hsts-max-age", strconv.Itoa(proxy.DefaultHSTSMaxAge), "HSTS max-age in seconds; 0 disables HSTS")
	fs.BoolVar(&r.hstsPreload, "hsts-preload", false, "add preload to HSTS")
	fs.StringVar(&r.csp, "csp", proxy.DefaultCSP, "rampart's Content-Security-Policy, sent beside the app's; off sends none")
	fs.Var(&r.trustedProxies, "trusted-proxies", "CIDRs whose X-Forwarded-* and Forwarded headers are kept")
	fs.Var(&r.proxyProtocolFrom, "proxy-protocol-from", "CIDRs of TCP load balancers that send the PROXY protocol (v1 or v2): their connections must begin with it and give the client's address; anyone else's header is refused")
	fs.BoolVar(&r.allowUnderscore, "allow-underscore-headers", false, "pass on request headers whose names hold an underscore (dropped by default)")
	fs.StringVar(&r.shutdownTimeout, "shutdown-timeout", "30s", "how long in-flight requests may take to finish on stop")
	fs.StringVar(&r.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&r.logFormat, "log-format", "json", "json, or console for people")
	addLimitFlags(fs, &r.limits)
	fs.BoolVar(&r.adminPprof, "admin-pprof", false, "serve /debug/pprof/ on the admin listener")
	fs.StringVar(&r.readyGrace, "ready-grace", "60s", "how long after start /readyz stays 200 while a name waits for its first certificate")
	fs.BoolVar(&r.readyUpstream, "ready-requires-upstream", false, "/readyz also fails while a pool has no member taking requests (for a sidecar: Kubernetes then stops sending to a pod whose app is down); off, /readyz means rampart is up with its configuration, what a load balancer in front of the edge needs")
	fs.StringVar(&r.configFile, "config", "", "YAML file: settings named as the flags (domain: shop.example.com), sites with routes, and pools; flags and RAMPART_* win over it; SIGHUP or a change of the file re-reads it")
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

// sources maps each setting given, by flag name, to where it came from
// ("--flag", "RAMPART_FLAG" or "file:line (name)"), for errors, and notes
// the --config lines that a flag or variable overrode. A setting not in the
// map has its default. The zero value holds nothing.
type sources struct {
	from     map[string]string
	shadowed []string             // "file:line (name) is overridden by RAMPART_NAME"
	sites    []proxy.Site         // the --config file's sites, if any
	sitesAt  string               // where they came from, for errors
	hostAt   []int                // the line of each site's hosts
	fileData []byte               // the --config file as read
	certs    []conffile.CertFiles // each site's own certificate files, if any (as sites)
	pages    []conffile.PaymentPageSetting
}

// of names where a setting came from, or its flag if it was not given.
func (s sources) of(name string) string {
	if v, ok := s.from[name]; ok {
		return v
	}
	return "--" + name
}

// given tells whether a setting was given at all.
func (s sources) given(name string) bool { _, ok := s.from[name]; return ok }

// usage prints rampart's help: what it is, its subcommands, every flag.
func usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "rampart: a hardened HTTPS reverse proxy.\n\n"+
		"Usage:\n  rampart --domain NAME --upstream URL [flags]   serve NAME over HTTPS in front of the app at URL\n"+
		"  rampart --config rampart.yaml [flags]          serve the sites of a file (README: Many sites, one file)\n"+
		"  rampart COMMAND [flags]\n\nCommands:\n")
	for _, c := range subcommands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.usage)
	}
	fmt.Fprintf(w, "\nFlags (each can also come from RAMPART_<FLAG_IN_UPPER_SNAKE_CASE>, or a --config file):\n")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseFlags reads args, then the environment for every flag not given on
// the command line, then the --config file. It returns where each setting
// given came from. --help prints the usage to help and returns flag.ErrHelp.
// The file's webhook checks share replays (nil: each its own memory).
func parseFlags(fs *flag.FlagSet, args []string, env environment, help io.Writer, replays *webhook.Replays) (sources, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(help, fs)
			return sources{}, err
		}
		return sources{}, flagError(fs, err)
	}
	if fs.NArg() > 0 {
		return sources{}, &settingError{"arguments", fmt.Sprintf("unexpected %q", fs.Arg(0)), "pass settings as --flag value, or a command first (rampart demo); see rampart --help"}
	}
	if err := unknownVariables(fs, env); err != nil {
		return sources{}, err
	}
	source := sources{from: map[string]string{}}
	fs.Visit(func(f *flag.Flag) { source.from[f.Name] = "--" + f.Name })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if source.given(f.Name) || err != nil {
			return
		}
		name := envName(f.Name)
		v, ok := env.lookup(name)
		if !ok {
			return
		}
		source.from[f.Name] = name
		if e := f.Value.Set(v); e != nil {
			err = &settingError{name, fmt.Sprintf("%q: %v", v, e), "correct or unset " + name}
		}
	})
	if err != nil {
		return sources{}, err
	}
	if file := fs.Lookup("config").Value.String(); file != "" {
		err = applyConfigFile(fs, file, &source, replays)
	}
	return source, err
}

// flagError turns the flag package's complaint into a setting error, with
// the flag that was probably meant.
func flagError(fs *flag.FlagSet, err error) error {
	msg := err.Error()
	if m := badValue.FindStringSubmatch(msg); m != nil {
		if strings.HasPrefix(msg, "invalid boolean") {
			return &settingError{"--" + m[2], fmt.Sprintf("%q is not true or false", m[1]), fmt.Sprintf("write --%s alone for true, or --%s=false", m[2], m[2])}
		}
		return &settingError{"--" + m[2], fmt.Sprintf("%q is not a valid value (%s)", m[1], m[3]), "see " + fs.Name() + " --help for what it takes"}
	}
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		name = strings.TrimLeft(name, "-")
		fix := "see " + fs.Name() + " --help for the flags"
		if m := closestFlag(fs, name); m != "" {
			fix = "did you mean --" + m + "?"
		}
		return &settingError{"--" + name, "no such flag", fix}
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		return &settingError{"--" + strings.TrimLeft(rest, "-"), "needs a value", "give one, as --flag value or --flag=value"}
	}
	return &settingError{"arguments", msg, "see " + fs.Name() + " --help"}
}

// badValue is the flag package's complaint about a value.
var badValue = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-+([a-z0-9-]+): (.*)$`)

// unknownVariables refuses a RAMPART_* variable that names no setting: a
// misspelt one would otherwise be ignored without a word.
func unknownVariables(fs *flag.FlagSet, env environment) error {
	var unknown []string
	for k := range env {
		if !strings.HasPrefix(k, "RAMPART_") || serviceLink(k, env[k]) {
			continue
		}
		name := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "RAMPART_"), "_", "-"))
		if fs.Lookup(name) == nil || envName(name) != k {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	k := unknown[0]
	fix := "unset it; every RAMPART_* variable must name a flag (see rampart --help)"
	if m := closestFlag(fs, strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(k, "RAMPART_"), "_", "-"))); m != "" {
		fix = "did you mean " + envName(m) + "? rename it, or unset it"
	}
	return &settingError{k, "not a setting of rampart", fix}
}

// Kubernetes gives every pod variables for each Service of its namespace
// (unless enableServiceLinks is false): a Service named rampart, or
// rampart-edge, makes RAMPART_SERVICE_HOST, RAMPART_EDGE_PORT_443_TCP and
// kin. They are known by name and value together, so a misspelt setting
// (RAMPART_HTTPS_PORT=8443) is still refused.
var (
	linkHost  = regexp.MustCompile(`^RAMPART_(?:[A-Z0-9_]+_)?SERVICE_HOST$`)
	linkPort  = regexp.MustCompile(`^RAMPART_(?:[A-Z0-9_]+_)?(?:SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT_[0-9]+_(?:TCP|UDP|SCTP)_PORT)$`)
	linkURL   = regexp.MustCompile(`^RAMPART_(?:[A-Z0-9_]+_)?PORT(?:_[0-9]+_(?:TCP|UDP|SCTP))?$`)
	linkProto = regexp.MustCompile(`^RAMPART_(?:[A-Z0-9_]+_)?PORT_[0-9]+_(?:TCP|UDP|SCTP)_PROTO$`)
	linkAddr  = regexp.MustCompile(`^RAMPART_(?:[A-Z0-9_]+_)?PORT_[0-9]+_(?:TCP|UDP|SCTP)_ADDR$`)
	linkValue = regexp.MustCompile(`^(?:tcp|udp|sctp)://[0-9a-fA-F.:\[\]]+:[0-9]+$`)
)

// serviceLink tells whether a variable is one Kubernetes made for a Service.
func serviceLink(name, value string) bool {
	isIP := func(v string) bool { _, err := netip.ParseAddr(v); return err == nil }
	isPort := func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 && n < 65536 }
	switch {
	case linkHost.MatchString(name), linkAddr.MatchString(name):
		return isIP(value)
	case linkPort.MatchString(name):
		return isPort(value)
	case linkProto.MatchString(name):
		return value == "tcp" || value == "udp" || value == "sctp"
	case linkURL.MatchString(name):
		return linkValue.MatchString(value)
	}
	return false
}

// closestFlag is the flag whose name is nearest to name, if it is near
// enough to be what was meant: at most two edits, and fewer than half the
// name's letters.
func closestFlag(fs *flag.FlagSet, name string) string {
	best, bestDist := "", 3
	fs.VisitAll(func(f *flag.Flag) {
		if d := editDistance(name, f.Name); d < bestDist && 2*d < len(f.Name) {
			best, bestDist = f.Name, d
		}
	})
	return best
}

// editDistance counts the insertions, deletions, substitutions and swaps of
// neighbours that turn a into b (optimal string alignment).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// oldFormLine is a line of the "name = value" form the YAML file replaced.
var oldFormLine = regexp.MustCompile(`^\s*[a-z][a-z0-9-]*\s*=`)

// applyConfigFile reads the --config file (YAML: see package config): it sets
// every flag that neither the command line nor the environment gave, and
// keeps the file's sites. A key may hold a list where its flag may repeat.
func applyConfigFile(fs *flag.FlagSet, file string, source *sources, replays *webhook.Replays) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return &settingError{source.of("config"), err.Error(), "point it at a readable file, or drop it"}
	}
	for i, line := range strings.Split(string(data), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if oldFormLine.MatchString(line) {
			return &settingError{fmt.Sprintf("%s:%d", file, i+1), "written as name = value, the form the YAML file replaced",
				"write name: value (YAML), e.g. upstream: http://127.0.0.1:8080; deploy/examples/rampart.yaml is a whole file"}
		}
		break
	}
	f, err := conffile.Parse(file, data, func(name string) (known, list bool) {
		fl := fs.Lookup(name)
		if fl == nil || name == "config" {
			return false, false
		}
		_, list = fl.Value.(*listFlag)
		return true, list
	}, replays)
	if err != nil {
		var e *conffile.Error
		if !errors.As(err, &e) {
			return &settingError{file, err.Error(), "correct the file"}
		}
		fix := e.Fix
		if strings.HasPrefix(e.Problem, "unknown key") {
			if m := closestFlag(fs, e.Key); m != "" && m != "config" {
				fix = "did you mean " + m + "?"
			}
		}
		if n := strings.Count(err.Error(), "\n"); n > 0 {
			fix += fmt.Sprintf(" (and %d more: rampart validate %s lists every one)", n, file)
		}
		first := &settingError{fmt.Sprintf("%s:%d (%s)", e.File, e.Line, e.Key), e.Problem, fix}
		return &fileErrors{first: first, all: err}
	}
	for _, st := range f.Settings {
		where := fmt.Sprintf("%s:%d (%s)", file, st.Line, st.Name)
		if prev, given := source.from[st.Name]; given {
			// A flag or RAMPART_* variable wins; say so, as the line does nothing.
			source.shadowed = append(source.shadowed, where+" is overridden by "+prev)
			continue
		}
		source.from[st.Name] = where
		for _, v := range st.Values {
			if err := fs.Set(st.Name, v); err != nil {
				return &settingError{where, fmt.Sprintf("%q: %v", v, err), "correct the value"}
			}
		}
	}
	source.sites, source.sitesAt, source.hostAt, source.fileData, source.certs, source.pages = f.Sites, file, f.HostLines, data, f.Certs, f.PaymentPages
	return nil
}

// prefixes reads a list of CIDRs or addresses.
func prefixes(list []string, flagName string, bad func(flagName, problem, fix string) error) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range list {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, err2 := netip.ParseAddr(p)
			if err2 != nil {
				return nil, bad(flagName, fmt.Sprintf("%q is not a CIDR or IP address", p), "use forms such as 10.0.0.0/8 or 192.0.2.7")
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		out = append(out, prefix.Masked())
	}
	return out, nil
}

// validate turns raw settings into a config, or the first mistake found.
func validate(r *rawFlags, src sources) (*config, error) {
	bad := func(flagName, problem, fix string) error {
		return &settingError{src.of(flagName), problem, fix}
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
	if r.kube {
		for _, name := range []string{"domain", "upstream", "config"} {
			if src.given(name) {
				return nil, bad(name, "not read by rampart kubernetes: the cluster's Ingresses name the sites and their backends", "drop it, and describe the site as an Ingress of rampart's class")
			}
		}
	}
	if len(r.domains) == 0 && len(src.sites) == 0 && !r.kube {
		return nil, bad("domain", "no domain given", "name the site, e.g. --domain shop.example.com, or describe sites in a --config file (or try rampart demo)")
	}
	if len(r.domains) == 0 && r.upstream != "" {
		return nil, bad("upstream", "given without --domain", "give --domain for it, or route to it from a site of "+src.sitesAt)
	}
	seen := map[string]string{}
	for _, given := range r.domains {
		d := strings.ToLower(strings.TrimSuffix(given, "."))
		if err := checkDomain(d, r.tlsMode == "acme"); err != "" {
			return nil, bad("domain", fmt.Sprintf("%q %s", d, err), domainFix(r.tlsMode))
		}
		// Names are compared as DNS compares them: without case or the root's dot.
		if first, dup := seen[d]; dup {
			return nil, bad("domain", fmt.Sprintf("%q and %q are the same name", first, given), "list each name once")
		}
		seen[d] = given
		c.domains = append(c.domains, d)
	}
	c.flagDomains = c.domains
	c.mainDomains = slices.Clone(c.domains)
	if err := validateSites(c, r, src, seen); err != nil {
		return nil, err
	}

	u, err := url.Parse(r.upstream)
	switch {
	case r.upstream == "" && len(r.domains) == 0:
		// Sites only: every app is named by its route.
	case r.upstream == "":
		return nil, bad("upstream", "no upstream given", "name the app, e.g. --upstream http://127.0.0.1:8080")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, bad("upstream", fmt.Sprintf("%q is not an http(s) URL", r.upstream), "use http://host:port or https://host:port")
	case u.User != nil:
		// Named without the password: this line may end up in a journal.
		return nil, bad("upstream", fmt.Sprintf("%q carries credentials", u.Redacted()), "use http://host:port or https://host:port, without credentials")
	case u.Port() != "" && !validPort(u.Port()):
		return nil, bad("upstream", fmt.Sprintf("%q has port %q", r.upstream, u.Port()), "give a port from 1 to 65535, or none")
	}
	if r.upstream != "" {
		c.upstream = u
	}
	if r.upstreamCA != "" {
		// It is the one root set for every https upstream, --upstream's and
		// the sites' alike.
		httpsUpstream := c.upstream != nil && c.upstream.Scheme == "https"
		for _, st := range c.sites {
			for _, rt := range st.Routes {
				httpsUpstream = httpsUpstream || (rt.Upstream != nil && rt.Upstream.Scheme == "https")
			}
		}
		if !httpsUpstream {
			return nil, bad("upstream-ca", "set, but no upstream is https", "use an https:// upstream or drop --upstream-ca")
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
	// A route may wait less for its app than --upstream-timeout, not more:
	// the transport's own bound is that.
	for i, st := range src.sites {
		for _, t := range append([]time.Duration{st.Policy.Timeout}, routeTimeouts(st)...) {
			if t > c.upstreamTimeout {
				return nil, &settingError{fmt.Sprintf("%s:%d (sites[%d])", src.sitesAt, src.hostAt[i], i),
					fmt.Sprintf("a timeout of %s, over --upstream-timeout (%s)", t, c.upstreamTimeout), "raise --upstream-timeout to the longest a route needs; a route's timeout may only be shorter"}
			}
		}
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
	if err := addressesCollide([]listenSetting{{"https-addr", r.httpsAddr}, {"http-addr", r.httpAddr}, {"admin-addr", r.adminAddr}}, src); err != nil {
		return nil, err
	}
	if r.dataDir == "" {
		return nil, bad("data-dir", "empty", "give a directory such as /var/lib/rampart")
	}
	if c.dataDir, err = filepath.Abs(r.dataDir); err != nil {
		return nil, bad("data-dir", err.Error(), "give an absolute directory")
	}
	if r.pageAlertURL != "" {
		u, err := url.Parse(r.pageAlertURL)
		host := ""
		if err == nil {
			host = u.Hostname()
		}
		ip, ipErr := netip.ParseAddr(host)
		switch {
		case err != nil || u.Host == "" || u.User != nil || (u.Scheme != "https" && u.Scheme != "http"):
			return nil, bad("payment-page-alert-url", fmt.Sprintf("%q is not a URL to POST to", r.pageAlertURL), "give an https URL, such as https://alerts.example.com/rampart")
		case u.Scheme == "http" && (ipErr != nil || !ip.IsLoopback()) && host != "localhost":
			return nil, bad("payment-page-alert-url", fmt.Sprintf("%q is plain http to another machine: an alert would travel unprotected", r.pageAlertURL), "use https, or http to a loopback address (a local relay)")
		}
		c.pageAlertURL = u
	}

	if c.tlsMinVersion, err = tlsconfig.ParseVersion(r.tlsMinVersion); err != nil {
		if errors.Is(err, tlsconfig.ErrBrokenVersion) {
			return nil, bad("tls-min-version", fmt.Sprintf("%q is not allowed", r.tlsMinVersion), "use 1.2 (the default) or 1.3; TLS 1.0 and 1.1 are broken")
		}
		return nil, bad("tls-min-version", fmt.Sprintf("%q is not a TLS version", r.tlsMinVersion), "use 1.2 (the default) or 1.3")
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
	if c.trustedProxies, err = prefixes(r.trustedProxies, "trusted-proxies", bad); err != nil {
		return nil, err
	}
	if c.proxyProtocolFrom, err = prefixes(r.proxyProtocolFrom, "proxy-protocol-from", bad); err != nil {
		return nil, err
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
	c.adminPprof, c.readyUpstream, c.configFile, c.configData = r.adminPprof, r.readyUpstream, r.configFile, src.fileData
	if c.readyGrace, err = time.ParseDuration(r.readyGrace); err != nil || c.readyGrace < 0 {
		return nil, bad("ready-grace", fmt.Sprintf("%q is not a duration", r.readyGrace), "use a duration such as 60s, or 0s")
	}

	if err := unusedInMode(r, src); err != nil {
		return nil, err
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

// modeSettings are the settings that only one --tls mode reads.
var modeSettings = map[string][]string{
	"files": {"cert-file", "key-file"},
	"acme":  {"acme-directory", "acme-email", "acme-ca-root", "acme-eab-kid", "acme-eab-hmac", "acme-rsa", "acme-ari-interval"},
}

// unusedInMode refuses a setting that the chosen --tls mode would ignore:
// it was given for a reason, and silence would hide that it does nothing.
// An empty or default value (a template's blank variable) asks for nothing.
func unusedInMode(r *rawFlags, src sources) error {
	value := map[string]string{
		"cert-file": r.certFile, "key-file": r.keyFile, "acme-email": r.acmeEmail, "acme-ca-root": r.acmeCARoot,
		"acme-eab-kid": r.acmeEABKID, "acme-eab-hmac": r.eabKey, "acme-rsa": strconv.FormatBool(r.acmeRSA),
		"acme-ari-interval": strings.TrimPrefix(r.acmeARIInterval, "6h"),
		"acme-directory":    strings.TrimPrefix(r.acmeDirectory, letsEncryptProduction),
	}
	mode := r.tlsMode
	for _, m := range []string{"files", "acme"} {
		if m == mode {
			continue
		}
		for _, name := range modeSettings[m] {
			if v := value[name]; src.given(name) && v != "" && v != "false" {
				return &settingError{src.of(name), fmt.Sprintf("only used with --tls %s, and --tls is %s", m, mode),
					fmt.Sprintf("drop %s, or use --tls %s", src.of(name), m)}
			}
		}
	}
	return nil
}

// listenSetting is a listen address and the setting that gave it.
type listenSetting struct{ name, addr string }

// addressesCollide refuses two of rampart's own listeners on one port, which
// would otherwise fail at start as "already in use", as if by another server.
// Names that resolve alike (localhost and 127.0.0.1) are caught at bind time
// instead (bindAll). Port 0 (any free port) collides with nothing.
func addressesCollide(ls []listenSetting, src sources) error {
	type listen struct{ name, addr, host, port string }
	var parsed []listen
	for _, l := range ls {
		if l.addr == "" {
			continue
		}
		host, port, _ := net.SplitHostPort(l.addr)
		if n, err := net.LookupPort("tcp", port); err == nil {
			port = strconv.Itoa(n)
		}
		if port == "0" {
			continue
		}
		parsed = append(parsed, listen{l.name, l.addr, strings.ToLower(host), port})
	}
	anyHost := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	for i, a := range parsed {
		for _, b := range parsed[i+1:] {
			if a.port == b.port && (a.host == b.host || anyHost(a.host) || anyHost(b.host)) {
				return collision(src.of(a.name), a.addr, src.of(b.name), b.addr)
			}
		}
	}
	return nil
}

// collision is the error for two of rampart's listeners on one port.
func collision(first, firstAddr, second, secondAddr string) error {
	return &settingError{second, fmt.Sprintf("%q and %s %q are the same port; rampart cannot listen twice on it", secondAddr, first, firstAddr),
		fmt.Sprintf("give %s and %s different ports", first, second)}
}

// routeTimeouts lists a site's routes' own timeouts.
func routeTimeouts(st proxy.Site) []time.Duration {
	var out []time.Duration
	for _, r := range st.Routes {
		out = append(out, r.Policy.Timeout)
	}
	return out
}

// validateSites checks the --config file's sites as a whole: names valid for
// the --tls mode and served once (beside --domain too). Their names join c.domains: certificates and metrics serve them.
func validateSites(c *config, r *rawFlags, src sources, seen map[string]string) error {
	if len(src.sites) == 0 {
		return nil
	}
	sites := make([]proxy.Site, len(src.sites))
	defaultAt := -1
	for i, st := range src.sites {
		sites[i] = st
		sites[i].Hosts = nil
		if st.Default {
			if defaultAt >= 0 {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].default)", src.sitesAt, src.hostAt[i], i), fmt.Sprintf("a second default site (sites[%d] is one)", defaultAt),
					"mark one site default: true"}
			}
			defaultAt = i
		}
		var own conffile.CertFiles // the site's own certificate, if it brings one
		if i < len(src.certs) {
			own = src.certs[i]
		}
		acme := r.tlsMode == "acme" && own.CertFile == ""
		for _, h := range st.Hosts {
			d := strings.ToLower(strings.TrimSuffix(h, "."))
			base, wild := strings.CutPrefix(d, "*.")
			if wild && acme {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].hosts)", src.sitesAt, src.hostAt[i], i), fmt.Sprintf("%q is a wildcard, which a public CA issues only through DNS-01, and rampart orders with TLS-ALPN-01 or HTTP-01", h),
					"list each name, or give the site a wildcard certificate of its own (tls: {cert_file, key_file}), or use --tls internal"}
			}
			if _, ipErr := netip.ParseAddr(base); wild && (!strings.Contains(base, ".") || ipErr == nil) {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].hosts)", src.sitesAt, src.hostAt[i], i), fmt.Sprintf("%q stands for a whole top-level domain", h),
					"give a wildcard under a name of yours, such as *.tenants.example.com"}
			}
			if err := checkDomain(base, acme); err != "" {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].hosts)", src.sitesAt, src.hostAt[i], i), fmt.Sprintf("%q %s", d, err), domainFix(r.tlsMode)}
			}
			if first, dup := seen[d]; dup {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].hosts)", src.sitesAt, src.hostAt[i], i), fmt.Sprintf("%q is served twice (also as %q)", h, first), "serve each name from one site"}
			}
			seen[d] = h
			sites[i].Hosts = append(sites[i].Hosts, d)
			c.domains = append(c.domains, d)
			if own.CertFile == "" {
				c.mainDomains = append(c.mainDomains, d)
			}
		}
		if own.CertFile != "" {
			if _, err := certs.LoadPair(own.CertFile, own.KeyFile, sites[i].Hosts, time.Now()); err != nil {
				return &settingError{fmt.Sprintf("%s:%d (sites[%d].tls)", src.sitesAt, src.hostAt[i], i), err.Error(),
					"give the site a current certificate that covers each of its hosts, with its key"}
			}
			c.siteCerts = append(c.siteCerts, siteCert{names: sites[i].Hosts, certFile: own.CertFile, keyFile: own.KeyFile})
		}
	}
	// Each route's action was judged as the table judges it (proxy.CheckRoute)
	// when the file was read, with its line.
	c.sites, c.pages = sites, src.pages
	return nil
}

func validateFiles(c *config, r *rawFlags, src sources) error {
	if len(c.mainDomains) == 0 && r.certFile == "" && r.keyFile == "" {
		return nil // every site brings its own
	}
	if r.certFile == "" {
		return &settingError{src.of("cert-file"), "required with --tls files", "point it at the PEM certificate chain"}
	}
	if r.keyFile == "" {
		return &settingError{src.of("key-file"), "required with --tls files", "point it at the PEM private key"}
	}
	_, err := certs.LoadPair(r.certFile, r.keyFile, c.mainDomains, time.Now())
	switch {
	case err == nil:
		return nil
	case errors.Is(err, certs.ErrCertFile):
		return &settingError{src.of("cert-file"), err.Error(), "point it at a readable PEM certificate"}
	case errors.Is(err, certs.ErrKeyFile):
		return &settingError{src.of("key-file"), err.Error(), "point it at a readable PEM private key"}
	case errors.Is(err, certs.ErrKeyMismatch):
		return &settingError{src.of("key-file"), err.Error(), "give the key the certificate was issued for"}
	case errors.Is(err, certs.ErrExpired):
		return &settingError{src.of("cert-file"), err.Error(), "install a current certificate, or use --tls acme"}
	case errors.Is(err, certs.ErrNotCovered):
		return &settingError{src.of("cert-file"), err.Error(), "use a certificate for every --domain, or serve fewer names"}
	}
	return &settingError{src.of("cert-file"), err.Error(), "check the certificate and key files"}
}

func validateACME(c *config, r *rawFlags, src sources) (err error) {
	switch dir := r.acmeDirectory; {
	case dir == "staging":
		c.acmeDirectory = certs.LetsEncryptStaging
	case dir == "":
		c.acmeDirectory = letsEncryptProduction
	default:
		u, err := url.Parse(dir)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			return &settingError{src.of("acme-directory"), fmt.Sprintf("%q is not an https URL", dir), "give the CA's directory URL, or staging"}
		}
		c.acmeDirectory = dir
	}
	if r.acmeEmail != "" && (!strings.Contains(r.acmeEmail, "@") || strings.ContainsAny(r.acmeEmail, " ,<>")) {
		return &settingError{src.of("acme-email"), fmt.Sprintf("%q is not an email address", r.acmeEmail), "give one address such as ops@example.com"}
	}
	if r.acmeCARoot != "" {
		// Extra roots: the system's stay trusted too.
		c.acmeRoots, _ = x509.SystemCertPool()
		if c.acmeRoots == nil {
			c.acmeRoots = x509.NewCertPool()
		}
		if err := appendRoots(c.acmeRoots, r.acmeCARoot); err != nil {
			return &settingError{src.of("acme-ca-root"), err.Error(), "point it at a readable PEM file of CA certificates"}
		}
	}
	c.acmeRSA = r.acmeRSA
	// Let's Encrypt asks clients to ask at least twice a day.
	if c.acmeARIInterval, err = time.ParseDuration(r.acmeARIInterval); err != nil || c.acmeARIInterval < time.Second || c.acmeARIInterval > 12*time.Hour {
		return &settingError{src.of("acme-ari-interval"), fmt.Sprintf("%q is not a duration from 1s to 12h", r.acmeARIInterval),
			"use a duration such as 6h (the default); the CA asks to be asked at least twice a day"}
	}
	if (r.acmeEABKID == "") != (r.eabKey == "") {
		return &settingError{src.of("acme-eab-kid") + ", " + src.of("acme-eab-hmac"), "only one of the pair given", "give both the key ID and the HMAC key from your CA, or neither"}
	}
	if r.eabKey != "" {
		key, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(r.eabKey, "="))
		if err != nil || len(key) == 0 {
			return &settingError{src.of("acme-eab-hmac"), "not base64url", "paste the HMAC key exactly as your CA gave it"}
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

// fileErrors are the mistakes of a --config file: reported as the first (a
// start says one line), listed whole by rampart validate.
type fileErrors struct {
	first *settingError
	all   error // errors.Join of *conffile.Error
}

func (e *fileErrors) Error() string { return e.first.Error() }
func (e *fileErrors) Unwrap() error { return e.first }

// upstreamText is --upstream for the log, without credentials; "" with sites only.
func (c *config) upstreamText() string {
	if c.upstream == nil {
		return ""
	}
	return c.upstream.Redacted()
}

// validPort tells whether a port is 1 to 65535.
func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
