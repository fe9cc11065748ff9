package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks the admin listener's /readyz and exits 0 when it says
// ready. It is the container image's HEALTHCHECK: a scratch image has no curl.
func runHealthcheck(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rampart healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := "127.0.0.1:9090"
	if v, ok := env(envName("admin-addr")); ok && v != "" {
		addr = v
	}
	fs.StringVar(&addr, "admin-addr", addr, "rampart's admin listener")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr // listening on every address: ask over loopback
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "rampart healthcheck: %v\n", err)
		return exitFailure
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "rampart healthcheck: %v\n", err)
		return exitFailure
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "rampart healthcheck: %d %s", res.StatusCode, body)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s", body)
	return exitOK
}
