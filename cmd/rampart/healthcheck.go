package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// runHealthcheck asks the admin listener's /readyz and exits 0 when it says
// ready. It is the container image's HEALTHCHECK: a scratch image has no curl.
func runHealthcheck(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rampart healthcheck", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	addr := adminAddrFlag(fs, env)
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "rampart healthcheck: asks a running rampart's /readyz; exit 0 when it answers 200 (ready), 1 otherwise.\n\n"+
			"Usage:\n  rampart healthcheck [--admin-addr ADDR]   (RAMPART_ADMIN_ADDR too, as rampart reads it)\n\nFlags:\n")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return exitOK
	} else if err != nil {
		return report(flagError(fs, err), stderr)
	}
	target, err := adminTarget(*addr)
	if err != nil {
		return report(err, stderr)
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+target+"/readyz", nil)
	if err != nil {
		fmt.Fprintf(stderr, "rampart healthcheck: %v\n", err)
		return exitFailure
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "rampart healthcheck: %v; fix: check that rampart runs and that its --admin-addr is %s (empty disables the admin listener)\n", err, target)
		return exitFailure
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(res.Body, 1024))
	if res.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "rampart healthcheck: not ready: %d %s", res.StatusCode, body)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s", body)
	return exitOK
}

// adminAddrFlag defines --admin-addr for a command that asks a running
// rampart: RAMPART_ADMIN_ADDR, as rampart reads it, else rampart's default.
func adminAddrFlag(fs *flag.FlagSet, env func(string) (string, bool)) *string {
	addr := "127.0.0.1:9090"
	if v, ok := env(envName("admin-addr")); ok && v != "" {
		addr = v
	}
	return fs.String("admin-addr", addr, "rampart's admin listener")
}

// adminTarget is where to reach an admin listener bound to addr: over
// loopback when it listens on every address. An addr that is not host:port
// is refused before anything is asked of the network.
func adminTarget(addr string) (string, error) {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return "", &settingError{"admin-addr", fmt.Sprintf("%q is not host:port", addr), "give rampart's --admin-addr, such as 127.0.0.1:9090"}
	}
	if strings.HasPrefix(addr, ":") {
		return "127.0.0.1" + addr, nil
	}
	return addr, nil
}
