// Command rampart is a hardened HTTPS reverse proxy: it obtains and renews
// its own certificates, serves an app over strict TLS and redirects plain
// HTTP. This package is the composition root: it reads flags and the
// environment once, validates them, and wires certs, tlsconfig and proxy.
package main

import (
	"context"
	// Roots to fall back on where the system has none (a scratch image), so
	// rampart can reach an ACME CA with nothing else in the image. They are
	// used only when the system's roots cannot be loaded.
	_ "golang.org/x/crypto/x509roots/fallback"

	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1 // a failure while running
	exitUsage   = 2 // a setting is wrong; nothing was started
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	// After the first signal, the default handling returns: a second Ctrl-C
	// ends a shutdown that is taking too long.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, versionString())
			return exitOK
		case "demo":
			return report(runDemo(ctx, args[1:], stdout, stderr), stderr)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], env, stdout, stderr)
		case "audit":
			return runAudit(ctx, args[1:], stdout, stderr)
		}
	}
	return report(runServe(ctx, args, env, stderr), stderr)
}

// report prints err as one line and picks the exit status.
func report(err error, stderr io.Writer) int {
	var se *settingError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &se):
		fmt.Fprintf(stderr, "rampart: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "rampart: %v\n", err)
		return exitFailure
	}
}

func runServe(ctx context.Context, args []string, env func(string) (string, bool), stderr io.Writer) error {
	var raw rawFlags
	fs := newFlagSet("rampart", &raw, stderr)
	cfg, err := load(fs, &raw, args, env, nil, stderr)
	if err != nil {
		return err
	}
	// SIGHUP reads flags, environment and the config file again.
	reload := func() (*config, error) {
		var raw rawFlags
		return load(newFlagSet("rampart", &raw, io.Discard), &raw, args, env, nil, io.Discard)
	}
	return serve(ctx, cfg, reload, stderr, nil)
}

// load parses and validates the settings; adjust, if not nil, may override
// raw settings between the two.
func load(fs *flag.FlagSet, raw *rawFlags, args []string, env func(string) (string, bool), adjust func(*rawFlags), stderr io.Writer) (*config, error) {
	src, err := parseFlags(fs, args, env, stderr)
	if err != nil {
		return nil, err
	}
	if adjust != nil {
		adjust(raw)
	}
	return validate(raw, src)
}
