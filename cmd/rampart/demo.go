package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// demoHSTS is the demo's Strict-Transport-Security: max-age=0 tells a browser
// to forget HSTS for localhost. HSTS binds a host name on every port, so
// production's two years with includeSubDomains would send the developer's
// other servers on http://localhost:* to HTTPS; 0 also clears such a pin left
// by an earlier demo.
const demoHSTS = "max-age=0"

// runDemo starts a sample app and rampart in front of it with the internal
// CA on https://localhost:8443, so a newcomer sees rampart work with no set-up.
// It takes only its own flags: a production setting given to it is refused,
// not overridden, and it reads no RAMPART_* variables, so settings meant for
// production cannot leak into it.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rampart demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	// Unprivileged loopback ports (a demo is not for the network), and a data
	// directory of its own, never production's.
	httpsAddr := fs.String("https-addr", "127.0.0.1:8443", "HTTPS listen address")
	httpAddr := fs.String("http-addr", "127.0.0.1:8080", "plain HTTP listen address (redirects to HTTPS); empty disables it")
	adminAddr := fs.String("admin-addr", "127.0.0.1:9090", "operator listener: /metrics, /healthz, /readyz; empty disables it")
	dataDir := fs.String("data-dir", demoDataDir(), "where the demo keeps its local CA")
	appAddr := fs.String("app-addr", "127.0.0.1:8081", "where the sample app listens")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "rampart demo: a sample app behind rampart on https://localhost:8443, with a local CA; no set-up.\n\n"+
				"Usage:\n  rampart demo [flags]\n\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: "); ok {
			name = strings.TrimLeft(name, "-")
			if newFlagSet("rampart", &rawFlags{}).Lookup(name) != nil {
				return &settingError{"--" + name, "a setting of rampart, not of its demo", "drop it: the demo serves localhost with a local CA; for a site run rampart --domain NAME --upstream URL"}
			}
		}
		return flagError(fs, err)
	}
	if fs.NArg() > 0 {
		return &settingError{"arguments", fmt.Sprintf("unexpected %q", fs.Arg(0)), "see rampart demo --help"}
	}

	if *dataDir == "" {
		return &settingError{"--data-dir", "empty", "give a directory of the demo's own, such as " + demoDataDir()}
	}
	if _, _, err := net.SplitHostPort(*appAddr); err != nil {
		return &settingError{"--app-addr", fmt.Sprintf("%q is not host:port", *appAddr), "use a loopback address such as 127.0.0.1:8081"}
	}
	given := sources{from: map[string]string{}}
	fs.Visit(func(f *flag.Flag) { given.from[f.Name] = "--" + f.Name })
	if err := addressesCollide([]listenSetting{{"https-addr", *httpsAddr}, {"http-addr", *httpAddr}, {"admin-addr", *adminAddr}, {"app-addr", *appAddr}}, given); err != nil {
		return err
	}

	// The rest is rampart's own validation, over the demo's settings.
	var raw rawFlags
	prod := newFlagSet("rampart demo", &raw)
	src := sources{from: map[string]string{}}
	for name, value := range map[string]string{
		"domain": "localhost", "upstream": "http://" + *appAddr, "tls": "internal",
		"https-addr": *httpsAddr, "http-addr": *httpAddr, "admin-addr": *adminAddr, "data-dir": *dataDir,
		"log-format":     "console",
		"shutdown-delay": "0s", // a developer's Ctrl-C has no load balancer to wait for
	} {
		if err := prod.Set(name, value); err != nil {
			return &settingError{"--" + name, err.Error(), "see rampart demo --help"}
		}
		src.from[name] = "--" + name
	}
	cfg, err := validate(&raw, src)
	if err != nil {
		return err
	}
	cfg.headers.HSTS = demoHSTS

	ln, err := net.Listen("tcp", *appAddr)
	if err != nil {
		return &settingError{"--app-addr", fmt.Sprintf("%s: %v", *appAddr, err), "choose a free address for the sample app"}
	}
	app := &http.Server{Handler: sampleApp(), ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = app.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = app.Shutdown(sctx)
		wg.Wait()
	}()

	return serve(ctx, cfg, nil, stderr, func(s started) {
		_, port, _ := net.SplitHostPort(s.httpsAddr)
		url := "https://localhost:" + port + "/"
		fmt.Fprintf(stdout, "\nrampart demo: a sample app behind rampart, with a local CA.\n\n"+
			"  open    %s\n  root    %s   (trust it to get rid of the browser warning)\n"+
			"  verify  curl --cacert %s %s\n\n"+
			"Unlike production, the demo sends Strict-Transport-Security: %s (production: max-age=63072000;\n"+
			"includeSubDomains). HSTS covers every port of a name, so a long one on localhost would force your other\n"+
			"local servers to HTTPS; max-age=0 makes the browser forget it.\n\nCtrl-C stops both.\n\n",
			url, s.rootPath, s.rootPath, url, demoHSTS)
	})
}

// demoDataDir is the demo's own directory, in the user's cache (root's too):
// never the production data directory.
func demoDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "rampart-demo")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("rampart-demo-%d", os.Geteuid()))
}

var samplePage = template.Must(template.New("demo").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rampart demo</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}
code{background:#eee;padding:0 .2em}table{border-collapse:collapse}td{padding:.2em .8em;border-bottom:1px solid #ddd}</style></head>
<body><h1>Served through rampart</h1>
<p>This page comes from the sample app on <code>{{.App}}</code>. rampart terminated TLS in front of it
and told it who asked:</p>
<table>
<tr><td>Host</td><td><code>{{.Host}}</code></td></tr>
<tr><td>X-Forwarded-For</td><td><code>{{.For}}</code></td></tr>
<tr><td>X-Forwarded-Proto</td><td><code>{{.Proto}}</code></td></tr>
</table>
<p>Look at the response headers: HSTS, a Content-Security-Policy and friends were added by rampart.</p>
</body></html>
`))

// sampleApp is the demo's app: a page that shows what rampart forwarded.
func sampleApp() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = samplePage.Execute(w, map[string]string{
			"App":  r.Context().Value(http.LocalAddrContextKey).(net.Addr).String(),
			"Host": r.Host, "For": r.Header.Get("X-Forwarded-For"), "Proto": r.Header.Get("X-Forwarded-Proto"),
		})
	})
	return mux
}
