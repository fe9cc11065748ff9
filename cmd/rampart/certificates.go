package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rampart-proxy/rampart/certs"
)

// certListing is GET /certs's answer: every certificate in service, with
// its renewal plan when rampart renews it (ACME).
type certListing struct {
	Certificates []certs.Renewal `json:"certificates"`
}

// listCerts answers GET /certs on the admin listener.
func (c adminConfig) listCerts(w http.ResponseWriter, _ *http.Request) {
	var out certListing
	if c.acme != nil {
		out.Certificates = c.acme.Renewals()
	}
	listed := map[[2]string]bool{}
	for _, r := range out.Certificates {
		listed[[2]string{r.Name, r.KeyType}] = true
	}
	for _, info := range c.inventory() { // the certificates rampart does not renew: files, a site's pair, the internal CA
		for _, n := range info.Names {
			if !listed[[2]string{n, info.KeyType}] {
				out.Certificates = append(out.Certificates, certs.Renewal{Name: n, KeyType: info.KeyType, Issuer: info.Issuer, NotAfter: info.NotAfter})
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// renewRequest is POST /certs/renew's body. JSON only: a browser's form
// posted from another site cannot send it without a preflight, which the
// admin listener never answers.
type renewRequest struct {
	Name string `json:"name"`
}

// renewTimeout bounds an operator's renewal: a name's ECDSA and RSA orders,
// one after the other, of at most five minutes each.
const renewTimeout = 11 * time.Minute

// renewCert answers POST /certs/renew: renews a name's certificates now.
func (c adminConfig) renewCert(w http.ResponseWriter, r *http.Request) {
	if !addressedByIP(r.Host) {
		// A web page that rebinds its own name to this address would be
		// same-origin; it cannot make the browser send an IP as the Host.
		writeJSON(w, http.StatusForbidden, renewAnswer{Error: "address the admin listener by its IP address (or localhost), as rampart certs does"})
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeJSON(w, http.StatusUnsupportedMediaType, renewAnswer{Error: "send {\"name\": NAME} as application/json"})
		return
	}
	var req renewRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil || req.Name == "" {
		writeJSON(w, http.StatusBadRequest, renewAnswer{Error: "send {\"name\": NAME}, a served name"})
		return
	}
	if c.acme == nil {
		writeJSON(w, http.StatusConflict, renewAnswer{Error: "rampart renews only ACME certificates (--tls acme)"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), renewTimeout)
	defer cancel()
	got, err := c.acme.Renew(ctx, req.Name)
	switch {
	case errors.Is(err, certs.ErrNotServed):
		writeJSON(w, http.StatusNotFound, renewAnswer{Error: err.Error()})
	case errors.Is(err, certs.ErrNotOrderer), errors.Is(err, certs.ErrNotYetIssued):
		writeJSON(w, http.StatusConflict, renewAnswer{Error: err.Error()})
	case errors.Is(err, certs.ErrRenewalFailed):
		writeJSON(w, http.StatusBadGateway, renewAnswer{Error: err.Error(), Certificates: got}) // the CA refused
	case err != nil:
		writeJSON(w, http.StatusGatewayTimeout, renewAnswer{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, renewAnswer{Certificates: got})
	}
}

// renewAnswer is POST /certs/renew's answer: the certificates renewed, or
// why not (with their plans, when the CA refused).
type renewAnswer struct {
	Error        string          `json:"error,omitempty"`
	Certificates []certs.Renewal `json:"certificates,omitempty"`
}

// addressedByIP tells whether a request's Host is an IP address or
// localhost, with or without a port: a name that DNS could rebind is not.
func addressedByIP(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return net.ParseIP(host) != nil || strings.EqualFold(host, "localhost")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// runCerts lists the certificates of a running rampart, or renews one:
// rampart certs [list] | rampart certs renew NAME.
func runCerts(ctx context.Context, args []string, env func(string) (string, bool), stdout io.Writer, now time.Time) error {
	fs := flag.NewFlagSet("rampart certs", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	adminAddr := adminAddrFlag(fs, env)
	asJSON := fs.Bool("json", false, "print the admin listener's JSON as it is")
	// Flags may come before, between or after the words (rampart certs renew NAME --admin-addr ADDR).
	var words []string
	for {
		if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, "rampart certs: the certificates a running rampart serves, and when each is renewed.\n\n"+
				"Usage:\n  rampart certs [list] [--admin-addr ADDR] [--json]\n  rampart certs renew NAME [--admin-addr ADDR]\n\n"+
				"renew orders a new certificate for NAME now, serving the current one until it is ready.\n"+
				"RAMPART_ADMIN_ADDR is read too, as rampart reads it.\n\nFlags:\n")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return nil
		} else if err != nil {
			return flagError(fs, err)
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		words, args = append(words, args[0]), args[1:]
	}
	addr, err := adminTarget(*adminAddr)
	if err != nil {
		return err
	}
	rest := words
	verb := "list"
	if len(rest) > 0 {
		verb, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 && verb != "renew" || len(rest) > 1 {
		return &settingError{"certs", fmt.Sprintf("unexpected %q", strings.Join(rest, " ")), "rampart certs [list] | rampart certs renew NAME"}
	}
	switch verb {
	case "list":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		var l certListing
		raw, err := adminCall(ctx, addr, http.MethodGet, "/certs", nil, &l)
		if err != nil {
			return err
		}
		if *asJSON {
			_, err = stdout.Write(raw)
			return err
		}
		return printCerts(stdout, l.Certificates, now)
	case "renew":
		if len(rest) != 1 {
			return &settingError{"certs renew", "no name given", "rampart certs renew NAME (a served name)"}
		}
		ctx, cancel := context.WithTimeout(ctx, renewTimeout+30*time.Second)
		defer cancel()
		body, _ := json.Marshal(renewRequest{Name: rest[0]})
		var l renewAnswer
		if _, err := adminCall(ctx, addr, http.MethodPost, "/certs/renew", body, &l); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "renewed %s:\n", rest[0])
		return printCerts(stdout, l.Certificates, now)
	}
	return &settingError{"certs", fmt.Sprintf("unknown command %q", verb), "rampart certs [list] | rampart certs renew NAME"}
}

// adminCall asks the admin listener and decodes its JSON into v; a refusal
// comes back as an error carrying the listener's reason.
func adminCall(ctx context.Context, addr, method, path string, body []byte, v any) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &settingError{"admin-addr", err.Error(), "check that rampart runs and that its --admin-addr is " + addr + " (empty disables the admin listener)"}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	var failure struct {
		Error string `json:"error"`
	}
	if res.StatusCode != http.StatusOK {
		if json.Unmarshal(raw, &failure) == nil && failure.Error != "" {
			return nil, fmt.Errorf("certs: %s: %s", res.Status, failure.Error)
		}
		return nil, fmt.Errorf("certs: %s", res.Status)
	}
	return raw, json.Unmarshal(raw, v)
}

// printCerts writes one line per certificate: what it is, when it expires,
// the CA's window, and when (and why) rampart renews it.
func printCerts(w io.Writer, list []certs.Renewal, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKEY\tISSUER\tEXPIRES\tARI WINDOW\tRENEWAL\tLAST RENEWAL")
	day := func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") }
	for _, r := range list {
		window := "-"
		switch {
		case !r.ARI.IsZero():
			window = day(r.ARI.Start) + " to " + day(r.ARI.End)
		case r.ARIError != "":
			window = "unknown (" + r.ARIError + ")"
		case !r.Planned.IsZero():
			window = "none offered"
		}
		renewal := "not an ACME certificate"
		if r.Follower {
			renewal = "by the replica holding the Lease"
		}
		if !r.Planned.IsZero() {
			renewal = day(r.Planned) + " (" + r.PlannedBy + ")"
			if r.Failures > 0 {
				renewal += fmt.Sprintf("; %d failed, next try %s", r.Failures, day(r.NextAttempt))
			}
			if r.Overdue {
				renewal += "; OVERDUE"
			}
		}
		last := "-"
		if !r.LastRenewed.IsZero() {
			last = day(r.LastRenewed) + " (" + r.LastReason + ")"
		}
		expires := day(r.NotAfter)
		if left := r.NotAfter.Sub(now); left > 0 {
			expires += fmt.Sprintf(" (%dd)", int(left.Hours()/24))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.KeyType, r.Issuer, expires, window, renewal, last)
	}
	return tw.Flush()
}
