package main

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/rampart-proxy/rampart/proxy"
	"github.com/rampart-proxy/rampart/webhook"
)

// runConfig prints the effective configuration: every setting with its value
// and where that came from (a flag, a RAMPART_* variable, a line of the
// file, or the default), as YAML with the source as a comment; then the
// sites as the route table takes them. Secrets are not printed.
func runConfig(args []string, env environment, stdout io.Writer) error {
	var raw rawFlags
	fs := newFlagSet("rampart config", &raw)
	src, err := parseFlags(fs, args, env, stdout, nil)
	if err != nil {
		return err
	}
	cfg, err := validate(&raw, src)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "# rampart's effective configuration: each setting, and where its value came from")
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name != "config" {
			names = append(names, f.Name)
		}
	})
	slices.Sort(names)
	width := 0
	lines := make([][2]string, 0, len(names))
	for _, n := range names {
		line := n + ": " + settingValue(fs.Lookup(n))
		width = max(width, len(line))
		from := "default"
		if src.given(n) {
			from = src.of(n)
		}
		lines = append(lines, [2]string{line, from})
	}
	for _, l := range lines {
		fmt.Fprintf(stdout, "%-*s  # %s\n", width, l[0], l[1])
	}
	for _, n := range src.shadowed {
		fmt.Fprintf(stdout, "# note: %s\n", n)
	}
	if len(cfg.sites) > 0 {
		fmt.Fprintf(stdout, "\n# sites (from %s), each route as the table takes it:\n", src.sitesAt)
		for _, s := range cfg.sites {
			fmt.Fprintf(stdout, "#   %s%s\n", strings.Join(s.Hosts, ", "), describePolicy(s.Policy))
			for _, r := range s.Routes {
				fmt.Fprintf(stdout, "#     %s -> %s%s\n", describeMatch(r.Match), describeAction(r), describePolicy(r.Policy))
			}
		}
	}
	if len(cfg.flagDomains) > 0 && cfg.upstream != nil {
		fmt.Fprintf(stdout, "\n# --domain's names, every request to --upstream:\n#   %s -> upstream %s\n", strings.Join(cfg.flagDomains, ", "), cfg.upstream.Redacted())
	}
	return nil
}

// settingValue is a flag's value as YAML: lists as lists, switches as
// booleans, the rest quoted; a secret as a placeholder.
func settingValue(f *flag.Flag) string {
	if f.Name == "acme-eab-hmac" && f.Value.String() != "" {
		return strconv.Quote("(set; not shown)")
	}
	if l, ok := f.Value.(*listFlag); ok {
		q := make([]string, len(*l))
		for i, v := range *l {
			q[i] = strconv.Quote(v)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() {
		return f.Value.String()
	}
	v := f.Value.String()
	if u, err := url.Parse(v); err == nil && u.User != nil {
		v = u.Redacted()
	}
	return strconv.Quote(v)
}

func describeMatch(m proxy.RouteMatch) string {
	p := m.Path
	if p == "" {
		p = "/"
	}
	out := p + " and below"
	if m.Kind == proxy.PathExact {
		out = p + " exactly"
	}
	if len(m.Methods) > 0 {
		out += " " + strings.Join(m.Methods, ",")
	}
	for _, h := range m.Headers {
		out += fmt.Sprintf(" %s=%q", h.Name, h.Value)
	}
	return out
}

func describeAction(r proxy.SiteRoute) string {
	switch {
	case r.Upstream != nil:
		return "upstream " + r.Upstream.Redacted() + proxyOptions(r)
	case r.Pool != nil:
		var members []string
		for _, m := range r.Pool.Members {
			members = append(members, m.Redacted())
		}
		out := fmt.Sprintf("pool %s [%s] %s", r.Pool.Name, strings.Join(members, ", "), r.Pool.Balance)
		if h := r.Pool.Health; h != nil {
			out += " health " + h.Path
		}
		return out + proxyOptions(r)
	case r.Redirect != nil:
		status := r.Redirect.Status
		if status == 0 {
			status = 308
		}
		out := fmt.Sprintf("redirect %d to %s", status, r.Redirect.To)
		if r.Redirect.KeepPath {
			out += " (path kept)"
		}
		return out
	case r.Respond != nil:
		status := r.Respond.Status
		if status == 0 {
			status = 200
		}
		return fmt.Sprintf("respond %d (%d bytes)", status, len(r.Respond.Body))
	}
	return "nothing"
}

func proxyOptions(r proxy.SiteRoute) string {
	out := ""
	if r.StripPrefix {
		out += " (prefix stripped)"
	}
	if r.AddPrefix != "" {
		out += " (prefix " + r.AddPrefix + " added)"
	}
	if r.UpstreamHost != "" {
		out += " (Host " + r.UpstreamHost + ")"
	}
	return out
}

func describePolicy(p proxy.Policy) string {
	var parts []string
	if len(p.Allow) > 0 {
		parts = append(parts, fmt.Sprintf("allow %v", p.Allow))
	}
	if len(p.Deny) > 0 {
		parts = append(parts, fmt.Sprintf("deny %v", p.Deny))
	}
	if rl := p.RateLimit; rl != nil {
		parts = append(parts, fmt.Sprintf("rate limit %g/s burst %d", rl.Rate, rl.Burst))
	}
	if ba := p.BasicAuth; ba != nil {
		parts = append(parts, fmt.Sprintf("basic auth (%d users)", len(ba.Users)))
	}
	if len(p.ResponseHeaders) > 0 {
		parts = append(parts, fmt.Sprintf("%d response headers", len(p.ResponseHeaders)))
	}
	if p.CSP != "" {
		parts = append(parts, "csp "+strconv.Quote(p.CSP))
	}
	if p.HSTS != "" {
		parts = append(parts, "hsts "+strconv.Quote(p.HSTS))
	}
	if p.MaxBodyBytes > 0 {
		parts = append(parts, fmt.Sprintf("bodies up to %d bytes", p.MaxBodyBytes))
	}
	if p.Timeout > 0 {
		parts = append(parts, "timeout "+p.Timeout.String())
	}
	if v, ok := p.Webhook.(*webhook.Verifier); ok {
		parts = append(parts, "webhook signatures checked ("+v.Scheme()+")")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}
