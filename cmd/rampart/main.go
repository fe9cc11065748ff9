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
	"strings"
	"syscall"
	"time"

	"github.com/rampart-proxy/rampart/webhook"
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
	os.Exit(run(ctx, os.Args[1:], processEnvironment(), os.Stdout, os.Stderr))
}

// environment is the process environment as rampart reads it: every
// RAMPART_* variable must name a setting. The zero value is empty.
type environment map[string]string

func processEnvironment() environment {
	env := environment{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	return env
}

func (e environment) lookup(name string) (string, bool) { v, ok := e[name]; return v, ok }

// subcommands, in the order --help lists them.
var subcommands = []struct{ name, usage string }{
	{"demo", "a sample app behind rampart on https://localhost:8443, with a local CA; no set-up"},
	{"audit", "grade any HTTPS endpoint's TLS and headers the SSL Labs way: rampart audit https://host/"},
	{"check", "validate the settings (flags, RAMPART_*, --config) as a start would, and exit: 0 valid, 2 not"},
	{"validate", "rampart validate FILE: check with --config FILE"},
	{"config", "print the effective configuration: every setting, its value and where it came from, and the sites' routes"},
	{"kubernetes", "the ingress controller: serve the cluster's Ingresses of rampart's class (deploy/kubernetes/ingress)"},
	{"migrate", "judge a cluster's (or files') ingress-nginx Ingresses before switching: what works as is, what differs, what is unsupported"},
	{"scripts", "the payment pages' script inventory: list, approve or reject a script (with a justification), report for an assessor"},
	{"certs", "the certificates a running rampart serves, with their CA's renewal window and planned renewal; certs renew NAME renews one now"},
	{"healthcheck", "ask a running rampart's /readyz on its admin listener (the container's health check)"},
	{"version", "print the version"},
	{"help", "this text, or a subcommand's: rampart help audit"},
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, env environment, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version", "--version", "-version", "-v":
			fmt.Fprintln(stdout, versionString())
			return exitOK
		case "demo":
			return report(runDemo(ctx, args[1:], stdout, stderr), stderr)
		case "kubernetes":
			return report(runKubernetes(ctx, args[1:], env, stdout, stderr), stderr)
		case "migrate":
			return report(runMigrate(ctx, args[1:], os.Stdin, stdout), stderr)
		case "scripts":
			return report(runScripts(args[1:], env, stdout, time.Now()), stderr)
		case "certs":
			return report(runCerts(ctx, args[1:], env.lookup, stdout, time.Now()), stderr)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], env.lookup, stdout, stderr)
		case "audit":
			return runAudit(ctx, args[1:], stdout, stderr)
		case "help":
			return runHelp(ctx, args[1:], env, stdout, stderr)
		case "check":
			return report(runCheck(args[1:], env, stdout), stderr)
		case "config":
			return report(runConfig(args[1:], env, stdout), stderr)
		case "validate":
			// rampart validate FILE: check --config FILE.
			if len(args) >= 2 && (args[1] == "-h" || args[1] == "--help" || args[1] == "-help") {
				fmt.Fprintln(stdout, "rampart validate FILE [flags]: checks the --config FILE with the flags and RAMPART_* variables given, as a start would, and lists every mistake in the file; exit 0 valid, 2 not")
				return exitOK
			}
			if len(args) < 2 || strings.HasPrefix(args[1], "-") {
				return report(&settingError{"validate", "no file named", "rampart validate rampart.yaml"}, stderr)
			}
			return report(runCheck(append([]string{"--config", args[1]}, args[2:]...), env, stdout), stderr)
		}
	}
	return report(runServe(ctx, args, env, stdout, stderr), stderr)
}

// runHelp prints rampart's usage, or a subcommand's.
func runHelp(ctx context.Context, args []string, env environment, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return report(runServe(ctx, []string{"--help"}, env, stdout, stderr), stderr)
	}
	switch args[0] {
	case "demo", "audit", "healthcheck", "check", "validate", "config", "kubernetes", "migrate", "scripts", "certs":
		return run(ctx, []string{args[0], "--help"}, env, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "rampart version (also --version, -v): prints rampart's version and the Go it was built with")
		return exitOK
	case "help":
		return runHelp(ctx, nil, env, stdout, stderr)
	}
	names := make([]string, len(subcommands))
	for i, c := range subcommands {
		names[i] = c.name
	}
	fmt.Fprintf(stderr, "rampart help: no subcommand %q; fix: use one of %s\n", args[0], strings.Join(names, ", "))
	return exitUsage
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

func runServe(ctx context.Context, args []string, env environment, stdout, stderr io.Writer) error {
	var raw rawFlags
	fs := newFlagSet("rampart", &raw)
	// One memory of the webhook deliveries let through, kept across reloads.
	replays := webhook.NewReplays(webhook.DefaultReplays)
	cfg, err := load(fs, &raw, args, env, stdout, replays)
	if err != nil {
		return err
	}
	// SIGHUP reads flags, environment and the config file again.
	reload := func() (*config, error) {
		var raw rawFlags
		return load(newFlagSet("rampart", &raw), &raw, args, env, io.Discard, replays)
	}
	return serve(ctx, cfg, reload, stderr, nil)
}

// runCheck validates the settings as a start would, without listening or
// writing anything: nginx -t, caddy validate.
func runCheck(args []string, env environment, stdout io.Writer) error {
	var raw rawFlags
	fs := newFlagSet("rampart check", &raw)
	cfg, err := load(fs, &raw, args, env, stdout, nil)
	var fe *fileErrors
	if errors.As(err, &fe) && strings.Contains(fe.all.Error(), "\n") {
		for _, line := range strings.Split(fe.all.Error(), "\n") {
			fmt.Fprintf(stdout, "rampart: %s\n", line)
		}
	}
	if err != nil {
		return err
	}
	for _, n := range cfg.notes {
		fmt.Fprintf(stdout, "rampart check: note: %s\n", n)
	}
	sites := ""
	if len(cfg.sites) > 0 {
		sites = fmt.Sprintf("; %d sites from the file", len(cfg.sites))
	}
	fmt.Fprintf(stdout, "rampart check: the settings are valid (%s for %s%s)\n", cfg.tlsMode, strings.Join(cfg.domains, ", "), sites)
	return nil
}

// load parses and validates the settings; --help prints the usage to help.
// The file's webhook checks share replays (nil: each its own memory).
func load(fs *flag.FlagSet, raw *rawFlags, args []string, env environment, help io.Writer, replays *webhook.Replays) (*config, error) {
	src, err := parseFlags(fs, args, env, help, replays)
	if err != nil {
		return nil, err
	}
	cfg, err := validate(raw, src)
	if err == nil {
		cfg.notes = src.shadowed
	}
	return cfg, err
}
