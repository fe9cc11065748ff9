package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rampart-proxy/rampart/audit"
)

// runAudit grades an HTTPS endpoint: exit 0 when the grade is at least
// --min-grade (or --help was asked for), 1 when it is lower, 2 when the
// endpoint cannot be reached or the command line is wrong. Every error is
// one line on stderr, "rampart audit: what; fix: what to do".
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rampart audit", flag.ContinueOnError)
	// The flag package's own error lines would lack the fix: Parse's errors
	// are printed below, and usage only when asked for.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	ip := fs.String("ip", "", "connect to this address instead of resolving the host (SNI and Host stay the URL's)")
	caFile := fs.String("ca", "", "PEM file of roots to verify the chain against, instead of the system's")
	minGrade := fs.String("min-grade", "A", "exit 1 when the grade is below this (A+, A, A-, B, C, D, E, F)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	httpPort := fs.Int("http-port", 80, "port on which to check the plain-HTTP redirect")
	// Flags may come before or after the URL.
	var target string
	rest := args
	for {
		if err := fs.Parse(rest); errors.Is(err, flag.ErrHelp) {
			// Asked for, as rampart --help and rampart demo --help: stdout, 0.
			fmt.Fprintln(stdout, "Usage: "+auditUsage)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return exitOK
		} else if err != nil {
			var se *settingError
			if errors.As(flagError(fs, err), &se) {
				return auditFailed(stderr, se.setting+": "+se.problem, se.fix)
			}
			return auditFailed(stderr, err.Error(), "rampart audit --help lists the flags")
		}
		if fs.NArg() == 0 {
			break
		}
		if target != "" {
			return auditFailed(stderr, fmt.Sprintf("two URLs, %q and %q", target, fs.Arg(0)), "audit one endpoint at a time")
		}
		target, rest = fs.Arg(0), fs.Args()[1:]
	}
	if target == "" {
		return auditFailed(stderr, "no URL", "name the endpoint: "+auditUsage)
	}
	if !audit.AtLeast(*minGrade, *minGrade) {
		return auditFailed(stderr, fmt.Sprintf("--min-grade %q: not a grade", *minGrade), "use A+, A, A-, B, C, D, E or F")
	}
	t := audit.Target{URL: target, IP: *ip, HTTPPort: *httpPort}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		t.Roots = x509.NewCertPool()
		if err != nil || !t.Roots.AppendCertsFromPEM(pem) {
			return auditFailed(stderr, fmt.Sprintf("--ca %q: no PEM certificate could be read", *caFile), "point it at the CA's root")
		}
	}
	rep, err := audit.Probe(ctx, t)
	if err != nil {
		what, fix := probeFailure(err)
		return auditFailed(stderr, what, fix) // unreachable, or not TLS: 2, as for a usage error
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	if !audit.AtLeast(rep.Result.Grade, *minGrade) {
		return exitFailure
	}
	return exitOK
}

const auditUsage = "rampart audit https://host[:port]/ [--ip ADDR] [--ca FILE] [--min-grade G] [--json] [--http-port N]"

// auditFailed prints an error line and returns the status for a wrong
// command line or an endpoint that cannot be audited.
func auditFailed(stderr io.Writer, what, fix string) int {
	fmt.Fprintf(stderr, "rampart audit: %s; fix: %s\n", what, fix)
	return exitUsage
}

// probeFailure is what went wrong in audit.Probe, and what fixes it. The
// audit package starts its errors with "audit: ", as every package here
// does; the line already names the command, so that prefix goes.
func probeFailure(err error) (what, fix string) {
	what = strings.TrimPrefix(err.Error(), "audit: ")
	switch {
	case errors.Is(err, audit.ErrNotHTTPS):
		fix = "give the endpoint as https://host[:port]/"
	case errors.Is(err, audit.ErrUnreachable):
		fix = "check that the endpoint is up and that the host, the port and --ip are right"
	case errors.Is(err, audit.ErrNoTLS):
		fix = "point the audit at the port that serves HTTPS"
	default:
		fix = "check the endpoint by hand (openssl s_client -connect HOST:PORT)"
	}
	return what, fix
}

func printReport(w io.Writer, r *audit.Report) {
	f, res := r.Findings, r.Result
	yes := func(b bool) string {
		if b {
			return "yes"
		}
		return "NO"
	}
	hsts := "none"
	if f.HSTSMaxAge >= 0 {
		hsts = fmt.Sprintf("max-age=%d", f.HSTSMaxAge)
		if f.HSTSIncludeSubDomains {
			hsts += "; includeSubDomains"
		}
		if f.HSTSPreload {
			hsts += "; preload"
		}
	}
	fmt.Fprintf(w, "rampart audit of %s (%s)\n\n", r.Host, r.Address)
	rows := [][2]string{
		{"protocols", strings.Join(r.Protocols, ", ")},
	}
	for _, ps := range r.SuitesByProtocol {
		rows = append(rows, [2]string{ps.Protocol + " suites", strings.Join(ps.Suites, "\n                 ")})
	}
	if len(r.SuitesByProtocol) == 0 {
		rows = append(rows, [2]string{"suites", "none"})
	}
	rows = append(rows, [][2]string{
		{"groups", strings.Join(r.Groups, ", ")},
		{"certificate", r.Certificate},
		{"chain trusted", yes(f.Trusted)},
		{"name matches", yes(f.NameMatch)},
		{"HSTS", hsts},
		{"http → https", yes(f.RedirectsToHTTPS)},
		{"headers", fmt.Sprintf("CSP %s, nosniff %s, framing %s", yes(f.CSP), yes(f.NoSniff), yes(f.FrameOptions))},
		{"renegotiation", "secure " + yes(f.SecureRenegotiation)},
		{"compression", map[bool]string{true: "ON (CRIME)", false: "off"}[f.Compression]},
		{"score", fmt.Sprintf("%d (protocol %d, key exchange %d, cipher %d)", res.Score, res.Protocol, res.KeyExchange, res.Cipher)},
	}...)
	for _, row := range rows {
		fmt.Fprintf(w, "  %-15s%s\n", row[0], row[1])
	}
	for _, c := range res.Caps {
		fmt.Fprintf(w, "  cap %-11s%s — fix: %s\n", c.Cap, c.Reason, c.Fix)
	}
	for _, c := range res.Warnings {
		fmt.Fprintf(w, "  warning        %s — fix: %s\n", c.Reason, c.Fix)
	}
	fmt.Fprintf(w, "\n  grade          %s\n", res.Grade)
}
