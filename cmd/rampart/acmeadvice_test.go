package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/acme"
)

// TestACMEAdviceTable: each kind of failed order gets a fix naming what to
// change. The errors are built here as autocert and the acme package return
// them; TestACMEFailuresSayWhatToDo gets the first two from a real Pebble,
// which cannot be made to rate-limit or to refuse a contact.
func TestACMEAdviceTable(t *testing.T) {
	cfg, err := parse([]string{"--domain", "shop.example.com", "--upstream", "http://127.0.0.1:8080",
		"--https-addr", ":8443", "--http-addr", ":8080"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	noHTTP := *cfg
	noHTTP.httpAddr = ""
	rateLimited := &acme.Error{StatusCode: 429, ProblemType: "urn:ietf:params:acme:error:rateLimited",
		Detail: "too many certificates already issued", Header: http.Header{"Retry-After": {"3600"}}}
	tests := []struct {
		name string
		cfg  *config
		err  error
		want []string
	}{
		{"untrusted server", cfg, &url500{x509.UnknownAuthorityError{}}, []string{"--acme-ca-root"}},
		{"untrusted server, as text", cfg, errors.New(`Get "https://ca/dir": tls: failed to verify certificate: x509: certificate signed by unknown authority`), []string{"--acme-ca-root"}},
		{"no viable challenge", cfg, errors.New(`acme/autocert: unable to satisfy "https://ca/authz/1" for domain "shop.example.com": no viable challenge type found`),
			[]string{"TLS-ALPN-01", "port 443", "--https-addr :8443", "HTTP-01", "port 80", "--http-addr :8080", "shop.example.com", "rampart retries at "}},
		{"no viable challenge, no plain HTTP", &noHTTP, errors.New("acme/autocert: unable to satisfy x: no viable challenge type found"),
			[]string{"TLS-ALPN-01", "HTTP-01 was not tried: --http-addr is empty"}},
		{"rate limited", cfg, fmt.Errorf("acme/autocert: %w", rateLimited), []string{"rate-limiting", "rampart retries at ", "(in 1h0m0s)"}},
		{"EAB required", cfg, &acme.Error{ProblemType: "urn:ietf:params:acme:error:externalAccountRequired"}, []string{"--acme-eab-kid", "--acme-eab-hmac"}},
		{"bad contact", cfg, &acme.Error{ProblemType: "urn:ietf:params:acme:error:invalidContact"}, []string{"--acme-email"}},
		{"CA unreachable", cfg, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, []string{"--acme-directory", "outbound HTTPS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := acmeAdvice(tt.cfg)("shop.example.com", tt.err, time.Hour)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("advice %q lacks %q", got, w)
				}
			}
		})
	}
}

// url500 wraps an error as net/url does.
type url500 struct{ err error }

func (u *url500) Error() string { return "Get https://ca/dir: " + u.err.Error() }
func (u *url500) Unwrap() error { return u.err }
