package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"golang.org/x/crypto/acme"
)

// acmeAdvice says, for a failed certificate order, what the operator can do:
// the fix logged beside the CA's error. It names rampart's settings, which is
// why it lives here and not in certs.
func acmeAdvice(cfg *config) func(domain string, err error, retryIn time.Duration) string {
	_, httpsPort, _ := net.SplitHostPort(cfg.httpsAddr)
	_, httpPort, _ := net.SplitHostPort(cfg.httpAddr)
	return func(domain string, err error, retryIn time.Duration) string {
		var ae *acme.Error
		isACME := errors.As(err, &ae)
		retry := fmt.Sprintf("rampart retries at %s (in %s)", time.Now().Add(retryIn).UTC().Format(time.RFC3339), retryIn.Round(time.Second))
		switch {
		case untrustedServer(err):
			return "the ACME server's certificate is not signed by a root this machine trusts; for a private or test CA " +
				"(Pebble, step-ca) give its root with --acme-ca-root FILE; otherwise check --acme-directory " + cfg.acmeDirectory
		case isACME && strings.HasSuffix(strings.ToLower(ae.ProblemType), ":ratelimited"):
			return "the CA is rate-limiting this account or name; nothing to change, " + retry +
				"; the certificate in service (if any) stays in service; test against --acme-directory staging, whose limits are higher"
		case strings.Contains(err.Error(), "no viable challenge type found"):
			tried := "TLS-ALPN-01 (the CA connects to port 443 of " + domain + ", which must reach rampart's --https-addr :" + httpsPort + ")"
			if cfg.httpAddr != "" {
				tried += " and HTTP-01 (port 80, which must reach --http-addr :" + httpPort + ")"
			} else {
				tried += "; HTTP-01 was not tried: --http-addr is empty"
			}
			return "the CA could not validate " + domain + " by either challenge tried: " + tried +
				"; make the DNS name point at this machine and open those ports to the internet (firewall, port forward, load balancer); " + retry
		case isACME && strings.HasSuffix(ae.ProblemType, ":externalAccountRequired"):
			return "this CA requires External Account Binding: give --acme-eab-kid and --acme-eab-hmac from your account with it"
		case isACME && strings.HasSuffix(ae.ProblemType, ":caa"):
			return "a CAA record of " + domain + " forbids this CA: add one that allows it, or use the CA it names"
		case isACME && strings.HasSuffix(ae.ProblemType, ":dns"):
			return "the CA could not resolve " + domain + ": publish an A or AAAA record pointing at this machine; " + retry
		case isACME && (strings.HasSuffix(ae.ProblemType, ":rejectedIdentifier") || strings.HasSuffix(ae.ProblemType, ":unsupportedIdentifier")):
			return "the CA will not issue for " + domain + " (a reserved or blocked name): serve a name you own in public DNS"
		case isACME && strings.HasSuffix(ae.ProblemType, ":invalidContact"):
			return "the CA refused the contact address: correct --acme-email, or drop it"
		case unreachable(err):
			return "rampart could not reach the ACME server at " + cfg.acmeDirectory + ": check --acme-directory and that this machine " +
				"may make outbound HTTPS connections (a proxy or firewall); " + retry
		}
		return "see the error; " + retry + " and keeps the certificate in service (if any) meanwhile"
	}
}

// untrustedServer tells whether err is a TLS failure to verify the ACME server.
func untrustedServer(err error) bool {
	var ua x509.UnknownAuthorityError
	var cv *tls.CertificateVerificationError
	return errors.As(err, &ua) || (errors.As(err, &cv) && errors.As(cv.Err, &ua)) ||
		strings.Contains(err.Error(), "certificate signed by unknown authority")
}

// unreachable tells whether err is a failure to connect to the ACME server.
func unreachable(err error) bool {
	var op *net.OpError
	var dns *net.DNSError
	return errors.As(err, &op) || errors.As(err, &dns)
}
