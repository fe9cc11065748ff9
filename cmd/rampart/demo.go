package main

import (
	"context"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// runDemo starts a sample app and rampart in front of it with the internal
// CA on https://localhost:8443, so a newcomer sees rampart work with no set-up.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var raw rawFlags
	fs := newFlagSet("rampart demo", &raw, stderr)
	appAddr := fs.String("app-addr", "127.0.0.1:8081", "where the sample app listens")
	// The demo's own defaults: unprivileged loopback ports (a demo is not for the
	// network), the local CA, readable logs.
	for name, value := range map[string]string{
		"https-addr": "127.0.0.1:8443", "http-addr": "127.0.0.1:8080", "tls": "internal", "domain": "localhost", "log-format": "console",
		"shutdown-delay": "0s", // a developer's Ctrl-C has no load balancer to wait for
	} {
		f := fs.Lookup(name)
		_ = f.Value.Set(value)
		f.DefValue = value
	}
	// The demo reads no RAMPART_* variables: settings meant for production
	// must not leak into it. Its flags still work.
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := load(fs, &raw, args, noEnv, func(r *rawFlags) {
		r.domains = []string{"localhost"}
		r.upstream = "http://" + *appAddr
	}, stderr)
	if err != nil {
		return err
	}

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
			"  verify  curl --cacert %s %s\n\nCtrl-C stops both.\n\n", url, s.rootPath, s.rootPath, url)
	})
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
