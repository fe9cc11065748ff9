package certs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Window is the renewal window a CA suggests for a certificate through ACME
// Renewal Information (ARI, RFC 9773). The zero value is no window: the CA
// offers no ARI, or has not answered yet.
type Window struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
	// ExplanationURL is the CA's page on why the window is where it is
	// (a revocation, say); "" if it gave none.
	ExplanationURL string `json:"explanation_url,omitempty"`
}

// IsZero tells that there is no window.
func (w Window) IsZero() bool { return w.Start.IsZero() && w.End.IsZero() }

// ariCertID is a certificate's identifier in ARI (RFC 9773, section 4.1):
// base64url of its authority key identifier's keyIdentifier, a dot, and
// base64url of the DER content octets of its serial number (two's
// complement, so a serial with its high bit set keeps its leading zero).
func ariCertID(leaf *x509.Certificate) (string, error) {
	if len(leaf.AuthorityKeyId) == 0 {
		return "", errors.New("certs: the certificate has no authority key identifier")
	}
	serial, err := serialContent(leaf.RawTBSCertificate)
	if err != nil {
		return "", err
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(serial), nil
}

// serialContent reads the serial number's content octets as the
// certificate encodes them, rather than re-encoding the parsed integer.
func serialContent(tbs []byte) ([]byte, error) {
	in := cryptobyte.String(tbs)
	var body, serial cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) ||
		!body.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) || // version
		!body.ReadASN1(&serial, cbasn1.INTEGER) || len(serial) == 0 {
		return nil, errors.New("certs: the certificate's serial number does not parse")
	}
	return serial, nil
}

// ariClient asks a CA for renewal windows. Its zero value is not usable.
type ariClient struct {
	directory string // the ACME directory URL
	http      *http.Client
}

// errNoARI is renewalURL's answer for a CA whose directory has no renewalInfo.
var errNoARI = errors.New("certs: the CA offers no renewal information (ARI)")

// renewalURL reads the renewalInfo resource from the CA's directory (the
// acme package's Directory does not carry it).
func (c *ariClient) renewalURL(ctx context.Context) (string, error) {
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if _, err := c.getJSON(ctx, c.directory, &dir); err != nil {
		return "", fmt.Errorf("certs: reading the ACME directory: %w", err)
	}
	if dir.RenewalInfo == "" {
		return "", errNoARI
	}
	return strings.TrimRight(dir.RenewalInfo, "/"), nil
}

// window asks for leaf's suggested window. retryAfter is the CA's
// Retry-After, 0 if it sent none; it comes with errors too.
func (c *ariClient) window(ctx context.Context, base string, leaf *x509.Certificate) (w Window, retryAfter time.Duration, err error) {
	id, err := ariCertID(leaf)
	if err != nil {
		return Window{}, 0, err
	}
	var ri struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	retryAfter, err = c.getJSON(ctx, base+"/"+id, &ri)
	if err != nil {
		return Window{}, retryAfter, fmt.Errorf("certs: asking the CA for the renewal window: %w", err)
	}
	s, e := ri.SuggestedWindow.Start, ri.SuggestedWindow.End
	if s.IsZero() || !e.After(s) { // RFC 9773, section 4.2: such a window is invalid
		return Window{}, retryAfter, fmt.Errorf("certs: the CA's renewal window [%s, %s] is invalid", s.Format(time.RFC3339), e.Format(time.RFC3339))
	}
	return Window{Start: s, End: e, ExplanationURL: ri.ExplanationURL}, retryAfter, nil
}

// ariBodyLimit bounds what is read of a directory or renewalInfo answer.
const ariBodyLimit = 64 << 10

func (c *ariClient) getJSON(ctx context.Context, url string, v any) (retryAfter time.Duration, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("User-Agent", "rampart")
	res, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	retryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	body, err := io.ReadAll(io.LimitReader(res.Body, ariBodyLimit))
	if err != nil {
		return retryAfter, err
	}
	if res.StatusCode != http.StatusOK {
		return retryAfter, fmt.Errorf("%s answered %s", url, res.Status)
	}
	return retryAfter, json.Unmarshal(body, v)
}

// parseRetryAfter reads Retry-After as seconds or as an HTTP date; 0 if
// absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
