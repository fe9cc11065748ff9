package paymentpage

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/url"
	"strings"
)

// MaxReportBytes bounds a report body: a browser's batch of violations is a
// few kilobytes.
const MaxReportBytes = 64 << 10

// maxBatch bounds the reports taken from one Reporting API batch.
const maxBatch = 32

// violation is one report, checked and reduced to what the inventory keeps.
type violation struct {
	document string // the page's URL, reduced (see reduceURL)
	kind     string // script, frame or connect
	blocked  string // the resource, reduced; or "eval"
}

var errReport = errors.New("paymentpage: not a CSP report")

// parseReports reads a report body: application/csp-report (report-uri, one
// violation) or application/reports+json (the Reporting API, a batch, of
// which only csp-violation reports are read). Each string is checked; a
// violation rampart has no use for (an inline script, which the HTML scan
// names by its hash; a directive it did not ask about) is skipped.
func parseReports(contentType string, body []byte) ([]violation, error) {
	mt, _, _ := mime.ParseMediaType(contentType)
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []violation
	switch mt {
	case "application/csp-report":
		var r struct {
			Report *struct {
				DocumentURI        string `json:"document-uri"`
				BlockedURI         string `json:"blocked-uri"`
				EffectiveDirective string `json:"effective-directive"`
				ViolatedDirective  string `json:"violated-directive"`
			} `json:"csp-report"`
		}
		if err := dec.Decode(&r); err != nil || r.Report == nil || dec.More() {
			return nil, errReport
		}
		directive := r.Report.EffectiveDirective
		if directive == "" {
			directive, _, _ = strings.Cut(r.Report.ViolatedDirective, " ")
		}
		if v, ok := makeViolation(r.Report.DocumentURI, r.Report.BlockedURI, directive); ok {
			out = append(out, v)
		}
	case "application/reports+json":
		var batch []struct {
			Type string `json:"type"`
			Body struct {
				DocumentURL        string `json:"documentURL"`
				BlockedURL         string `json:"blockedURL"`
				EffectiveDirective string `json:"effectiveDirective"`
			} `json:"body"`
		}
		if err := dec.Decode(&batch); err != nil || dec.More() || len(batch) > maxBatch {
			return nil, errReport
		}
		for _, r := range batch {
			if r.Type != "csp-violation" {
				continue
			}
			if v, ok := makeViolation(r.Body.DocumentURL, r.Body.BlockedURL, r.Body.EffectiveDirective); ok {
				out = append(out, v)
			}
		}
	default:
		return nil, errReport
	}
	return out, nil
}

// makeViolation checks a report's fields and reduces its URLs.
func makeViolation(document, blocked, directive string) (violation, bool) {
	v := violation{kind: directiveKind(directive)}
	if v.kind == "" || len(document) > 4096 || len(blocked) > 4096 {
		return v, false
	}
	var ok bool
	if v.document, ok = reduceURL(document); !ok {
		return v, false
	}
	switch blocked {
	case "inline":
		return v, false // the HTML scan names inline scripts by their hash
	case "eval", "wasm-eval", "trusted-types-sink":
		v.blocked = "eval"
		return v, v.kind == "script"
	}
	v.blocked, ok = reduceURL(blocked)
	if ok && v.kind != "script" {
		v.blocked = originOf(v.blocked) // frames and connections by origin
	}
	return v, ok
}

// directiveKind maps a directive to the inventory's kinds, or "".
func directiveKind(d string) string {
	switch d {
	case "script-src", "script-src-elem", "script-src-attr", "worker-src":
		return "script"
	case "frame-src", "child-src":
		return "frame"
	case "connect-src":
		return "connect"
	}
	return ""
}

// reduceURL keeps what names a resource and nothing a user typed: scheme,
// host and path; the user, query and fragment go (a URL's query can carry a
// card number or a token), and every path segment a run of 12 or more
// digits touches (a card number in a path, however separated, even across
// segments) becomes "[digits]". Other tokens in a path are kept.
func reduceURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "wss" && u.Scheme != "ws") || u.Host == "" {
		return "", false
	}
	host := strings.ToLower(u.Host)
	if strings.ContainsAny(host, "@ \\") {
		return "", false
	}
	// The default port is no port: a request names the host without it.
	if (u.Scheme == "https" || u.Scheme == "wss") && strings.HasSuffix(host, ":443") || (u.Scheme == "http" || u.Scheme == "ws") && strings.HasSuffix(host, ":80") {
		host = host[:strings.LastIndexByte(host, ':')]
	}
	path := maskDigits(u.EscapedPath())
	if path == "" {
		path = "/"
	}
	return u.Scheme + "://" + host + path, true
}

// maskDigits replaces each path segment that a run of 12 or more digits
// touches (digits separated by nothing but spaces, dashes, dots, slashes or
// percent-escapes) with "[digits]".
func maskDigits(path string) string {
	if !hasLongDigits(path) {
		return path // the common case, without allocating
	}
	segs := strings.Split(path, "/")
	masked := make([]bool, len(segs))
	digits, from := 0, 0 // the run's digits, and the segment it began in
	for i, seg := range segs {
		for j := 0; j < len(seg); j++ {
			switch c := seg[j]; {
			case c >= '0' && c <= '9':
				if digits == 0 {
					from = i
				}
				if digits++; digits >= 12 {
					for k := from; k <= i; k++ {
						masked[k] = true
					}
				}
			case c == '-' || c == ' ' || c == '.' || c == '%':
			default:
				digits = 0
			}
		}
	}
	for i := range segs {
		if masked[i] {
			segs[i] = "[digits]"
		}
	}
	return strings.Join(segs, "/")
}

// hasLongDigits tells whether s holds a run of 12 or more digits, as
// maskDigits reads one (slashes between them too).
func hasLongDigits(s string) bool {
	digits := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			if digits++; digits >= 12 {
				return true
			}
		case c == '-' || c == ' ' || c == '.' || c == '%' || c == '/':
		default:
			digits = 0
		}
	}
	return false
}

// longDigits tells whether s holds a run of 12 or more digits, as
// maskDigits reads one.
func longDigits(s string) bool { return maskDigits(s) != s }

// originOf is scheme://host of a reduced URL.
func originOf(reduced string) string {
	scheme, rest, _ := strings.Cut(reduced, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}
