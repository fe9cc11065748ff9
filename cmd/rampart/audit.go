package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/rampart-proxy/rampart/audit"
)

// runAudit grades an HTTPS endpoint: exit 0 when the grade is at least
// --min-grade, 1 when it is lower, 2 when the endpoint cannot be reached or
// the command line is wrong.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rampart audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ip := fs.String("ip", "", "connect to this address instead of resolving the host (SNI and Host stay the URL's)")
	caFile := fs.String("ca", "", "PEM file of roots to verify the chain against, instead of the system's")
	minGrade := fs.String("min-grade", "A", "exit 1 when the grade is below this (A+, A, A-, B, C, D, E, F)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	httpPort := fs.Int("http-port", 80, "port on which to check the plain-HTTP redirect")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: rampart audit https://host[:port]/ [--ip ADDR] [--ca FILE] [--min-grade G] [--json]")
		fs.PrintDefaults()
	}
	// Flags may come before or after the URL.
	var target string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		if target != "" {
			fmt.Fprintf(stderr, "rampart audit: one URL, please (got %q and %q)\n", target, fs.Arg(0))
			return exitUsage
		}
		target, rest = fs.Arg(0), fs.Args()[1:]
	}
	if target == "" {
		fs.Usage()
		return exitUsage
	}
	if !audit.AtLeast(*minGrade, *minGrade) {
		fmt.Fprintf(stderr, "rampart audit: --min-grade %q: not a grade; fix: use A+, A, A-, B, C, D, E or F\n", *minGrade)
		return exitUsage
	}
	t := audit.Target{URL: target, IP: *ip, HTTPPort: *httpPort}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		t.Roots = x509.NewCertPool()
		if err != nil || !t.Roots.AppendCertsFromPEM(pem) {
			fmt.Fprintf(stderr, "rampart audit: --ca %q: no PEM certificate could be read; fix: point it at the CA's root\n", *caFile)
			return exitUsage
		}
	}
	rep, err := audit.Probe(ctx, t)
	if err != nil {
		fmt.Fprintf(stderr, "rampart audit: %v\n", err)
		return exitUsage // unreachable, or not TLS: 2, as for a usage error
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
		{"suites", strings.Join(r.Suites, "\n                 ")},
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
	}
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
