package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zaptest"
	"golang.org/x/crypto/acme"

	"github.com/rampart-proxy/rampart/certs"
	"github.com/rampart-proxy/rampart/metrics"
)

// Ports 18944-18947 and 18950-18969: the renewal tests.

// setRenewalInfo sets the window Pebble's ARI answers for cert, through its
// management API.
func (ca *pebbleCA) setRenewalInfo(t *testing.T, cert *x509.Certificate, start, end time.Time) {
	t.Helper()
	window, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]time.Time{"start": start, "end": end}})
	body, _ := json.Marshal(map[string]string{
		"Certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"ARIResponse": string(window),
	})
	res, err := ca.apiClient(t).Post("https://"+ca.mgmt+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err := statusOK(res, err); err != nil {
		t.Fatalf("set-renewal-info: %v", err)
	}
}

func (ca *pebbleCA) apiClient(t *testing.T) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: poolFromFile(t, ca.apiRoot)}}}
}

// revoke revokes cert through Pebble's ACME API, signed with the account
// key rampart keeps in its cache, as an operator (or the CA's own
// mass revocation) would.
func (ca *pebbleCA) revoke(t *testing.T, cacheDir string, cert *x509.Certificate) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(cacheDir, "acme_account+key"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	key, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil {
		t.Fatalf("the cached account key: %v", err)
	}
	client := &acme.Client{Key: crypto.Signer(key), DirectoryURL: ca.dirURL, HTTPClient: ca.apiClient(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := client.RevokeCert(ctx, nil, cert.Raw, acme.CRLReasonUnspecified); err != nil {
		t.Fatalf("revoking %x: %v", cert.SerialNumber, err)
	}
}

// adminCerts is rampart certs --json, decoded.
func adminCerts(t *testing.T, adminAddr string) []certs.Renewal {
	t.Helper()
	var l certListing
	if _, err := adminCall(context.Background(), adminAddr, http.MethodGet, "/certs", nil, &l); err != nil {
		t.Fatal(err)
	}
	return l.Certificates
}

// TestACMERenewal serves a Pebble certificate with the CA's renewal window
// asked for every second, and checks each way a renewal is decided:
//   - a window in the future: no renewal, and the plan inside the window;
//   - a window in the past: renewed at once, reason ari;
//   - the certificate revoked through Pebble's ACME API, with the account
//     key rampart cached: a new certificate is served within a few polls,
//     and the revoked one never again;
//   - rampart certs renew NAME: renewed now, reason manual.
func TestACMERenewal(t *testing.T) {
	const httpsAddr, adminAddr = "127.0.0.1:18955", "127.0.0.1:18956"
	ca := startPebble(t, 18950, 18957 /* nothing listens: TLS-ALPN-01 only */, 18955)
	roots := ca.issuingRoots(t)
	dataDir := t.TempDir()
	r := start(t, "rampart", nil, rampartBin, "--domain", "shop.test", "--upstream", "http://127.0.0.1:18958",
		"--https-addr", httpsAddr, "--http-addr", "", "--admin-addr", adminAddr, "--ready-grace", "0s",
		"--acme-directory", ca.dirURL, "--acme-ca-root", ca.apiRoot, "--data-dir", dataDir, "--acme-ari-interval", "1s")
	served := func() *x509.Certificate {
		c, err := handshake(httpsAddr, "shop.test", roots)
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		return c
	}
	var first *x509.Certificate
	waitFor(t, 60*time.Second, "a certificate for shop.test from Pebble", func() (err error) {
		first, err = handshake(httpsAddr, "shop.test", roots)
		return err
	})
	// Pebble's own window for a 90-day certificate: around two thirds in.
	waitFor(t, 10*time.Second, "Pebble's window in rampart certs", func() error {
		if l := adminCerts(t, adminAddr); len(l) != 1 || l[0].ARI.IsZero() {
			return fmt.Errorf("rampart certs: %+v", l)
		}
		return nil
	})

	// A window in the future: the plan moves inside it, and nothing is ordered.
	orders := ca.orders()
	start, end := time.Now().Add(time.Hour).Truncate(time.Second), time.Now().Add(2*time.Hour).Truncate(time.Second)
	ca.setRenewalInfo(t, first, start, end)
	var planned certs.Renewal
	waitFor(t, 10*time.Second, "the future window in rampart certs", func() error {
		l := adminCerts(t, adminAddr)
		if len(l) != 1 || !l[0].ARI.Start.Equal(start) || !l[0].ARI.End.Equal(end) {
			return fmt.Errorf("rampart certs: %+v", l)
		}
		planned = l[0]
		return nil
	})
	if planned.PlannedBy != certs.ReasonARI || planned.Planned.Before(start) || !planned.Planned.Before(end) {
		t.Errorf("window [%s, %s): renewal planned %s by %q; want inside it, by ari", start, end, planned.Planned, planned.PlannedBy)
	}
	time.Sleep(3 * time.Second) // three more asks
	if got := served(); got.SerialNumber.Cmp(first.SerialNumber) != 0 || ca.orders() != orders {
		t.Errorf("with the window an hour away, rampart renewed (orders %d → %d); want no renewal before the window", orders, ca.orders())
	}
	out, err := execOutput(rampartBin, "certs", "--admin-addr", adminAddr)
	if err != nil || !strings.Contains(out, "shop.test") || !strings.Contains(out, start.UTC().Format("2006-01-02 15:04Z")+" to ") || !strings.Contains(out, "(ari)") {
		t.Errorf("rampart certs: %v\n%s\nwant shop.test with its window and the planned renewal (ari)", err, out)
	}
	t.Logf("rampart certs:\n%s", out)

	// A window in the past: renewed at once.
	ca.setRenewalInfo(t, first, time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour))
	var second *x509.Certificate
	waitFor(t, 30*time.Second, "a renewal inside the past window", func() error {
		if second = served(); second.SerialNumber.Cmp(first.SerialNumber) == 0 {
			return errors.New("still the first certificate")
		}
		return nil
	})
	m := scrape(t, adminAddr)
	for _, want := range []string{
		`rampart_certificate_renewals_total{reason="ari",result="success"} 1`,
		`rampart_certificate_last_renewal_timestamp_seconds{domain="shop.test",key_type="ecdsa",reason="ari"}`,
		`rampart_certificate_renewal_planned_timestamp_seconds{domain="shop.test",key_type="ecdsa"}`,
		`rampart_certificate_ari_window_start_timestamp_seconds{domain="shop.test",key_type="ecdsa"}`,
		`rampart_certificate_renewal_overdue{domain="shop.test",key_type="ecdsa"} 0`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s:\n%s", want, stripRuntime(m))
		}
	}

	// Revoked through the CA: Pebble's window for it starts an hour ago, and
	// rampart, asking every second, serves a new certificate.
	ca.revoke(t, filepath.Join(dataDir, "acme"), second)
	revoked := time.Now()
	var third *x509.Certificate
	waitFor(t, 30*time.Second, "a new certificate after the revocation", func() error {
		if third = served(); third.SerialNumber.Cmp(second.SerialNumber) == 0 {
			return errors.New("still the revoked certificate")
		}
		return nil
	})
	took := time.Since(revoked)
	started := renewalStarted(t, r.out.String(), revoked)
	t.Logf("revoked %x; the renewal began %s later (--acme-ari-interval 1s), and %x was served %s after the revocation",
		second.SerialNumber, started.Sub(revoked).Round(time.Millisecond), third.SerialNumber, took.Round(time.Millisecond))
	for range 20 {
		if c := served(); c.SerialNumber.Cmp(second.SerialNumber) == 0 {
			t.Fatal("the revoked certificate was served again")
		}
	}

	// An operator's renewal.
	out, err = execOutput(rampartBin, "certs", "renew", "shop.test", "--admin-addr", adminAddr)
	if err != nil || !strings.Contains(out, "renewed shop.test") {
		t.Fatalf("rampart certs renew shop.test: %v\n%s", err, out)
	}
	if fourth := served(); fourth.SerialNumber.Cmp(third.SerialNumber) == 0 {
		t.Error("rampart certs renew returned, and the old certificate is still served")
	}
	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_certificate_last_renewal_timestamp_seconds{domain="shop.test",key_type="ecdsa",reason="manual"}`) ||
		!strings.Contains(m, `rampart_certificate_renewals_total{reason="manual",result="success"} 1`) {
		t.Errorf("metrics lack the manual renewal:\n%s", stripRuntime(m))
	}
	if out, err := execOutput(rampartBin, "certs", "renew", "other.test", "--admin-addr", adminAddr); err == nil || !strings.Contains(out, "not served") {
		t.Errorf("rampart certs renew other.test: %v\n%s\nwant a refusal naming the name as not served", err, out)
	}

	// The CA gone: an operator's renewal fails and says so, the certificate
	// in service stays, and the plan shows the failure and the next try.
	ca.proc.stop(10 * time.Second)
	inService := served()
	out, err = execOutput(rampartBin, "certs", "renew", "shop.test", "--admin-addr", adminAddr)
	if exitCode(t, err) != 1 || !strings.Contains(out, "the certificate in service stays in service") || !strings.Contains(out, "connection refused") {
		t.Errorf("rampart certs renew with the CA down: %v\n%s\nwant exit 1, saying the certificate stays and why", err, out)
	}
	if c := served(); c.SerialNumber.Cmp(inService.SerialNumber) != 0 {
		t.Error("a failed renewal changed the certificate in service")
	}
	if l := adminCerts(t, adminAddr); len(l) != 1 || l[0].Failures != 1 || l[0].NextAttempt.IsZero() || !l[0].Overdue {
		t.Errorf("rampart certs after a failed renewal: %+v; want 1 failure, a next try, overdue", l)
	}
	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_certificate_renewal_overdue{domain="shop.test",key_type="ecdsa"} 1`) ||
		!strings.Contains(m, `rampart_certificate_renewals_total{reason="manual",result="error"} 1`) {
		t.Errorf("metrics lack the failed renewal:\n%s", stripRuntime(m))
	}
	for _, line := range []string{`"certificate renewed"`, `"reason":"ari"`, `"reason":"manual"`, `"certificate renewal failed; the certificate in service stays in service"`} {
		if !strings.Contains(r.out.String(), line) {
			t.Errorf("rampart's log lacks %s", line)
		}
	}
}

// fakeClock is the renewal scheduler's time, moved by the test.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits []fakeWait
}

type fakeWait struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Until(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waits = append(c.waits, fakeWait{t, ch})
	return ch
}

// set moves the time to t, waking what waits until then.
func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
	keep := c.waits[:0]
	for _, w := range c.waits {
		if w.at.After(t) {
			keep = append(keep, w)
			continue
		}
		w.ch <- t
	}
	c.waits = keep
}

// TestACMERenewalBackoff renews a Pebble certificate with Pebble stopped,
// on an injected clock: the certificate in service stays in service, the
// retries come 1 minute, 10 minutes, 100 minutes, then a day apart, and the
// overdue metric (what the alert reads) is 1.
func TestACMERenewalBackoff(t *testing.T) {
	const tlsAddr = "127.0.0.1:18965"
	ca := startPebble(t, 18960, 18966 /* nothing listens: TLS-ALPN-01 only */, 18965)
	clock := &fakeClock{now: time.Now()}
	var mu sync.Mutex
	var attempts []certs.RenewalAttempt
	a, err := certs.NewACME(certs.ACMEConfig{
		Domains: []string{"shop.test"}, CacheDir: filepath.Join(t.TempDir(), "acme"),
		DirectoryURL: ca.dirURL, Roots: poolFromFile(t, ca.apiRoot), Logger: zaptest.NewLogger(t),
		Clock: clock, ARIInterval: time.Hour,
		OnRenewal: func(r certs.RenewalAttempt) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, r)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	serveACME(t, a, tlsAddr)

	roots := ca.issuingRoots(t)
	var first *x509.Certificate
	waitFor(t, 60*time.Second, "a certificate for shop.test", func() (err error) {
		first, err = handshake(tlsAddr, "shop.test", roots)
		return err
	})
	var plan certs.Renewal
	waitFor(t, 10*time.Second, "a renewal plan", func() error {
		if l := a.Renewals(); len(l) == 1 && !l[0].Planned.IsZero() && !l[0].ARI.IsZero() {
			plan = l[0]
			return nil
		}
		return errors.New("none yet")
	})
	ca.proc.stop(10 * time.Second) // the CA is down from here on

	reg := prometheus.NewRegistry()
	if _, err := metrics.New(metrics.Config{Registerer: reg, Hosts: []string{"shop.test"},
		Renewals: func() []metrics.Renewal { return renewalSeries(a) }}); err != nil {
		t.Fatal(err)
	}
	overdue := func() float64 {
		families, _ := reg.Gather()
		for _, f := range families {
			if f.GetName() == "rampart_certificate_renewal_overdue" {
				return f.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	if v := overdue(); v != 0 {
		t.Errorf("overdue before the planned renewal = %v; want 0", v)
	}

	count := func() int { mu.Lock(); defer mu.Unlock(); return len(attempts) }
	at := plan.Planned.Add(time.Second)
	gaps := []time.Duration{0, time.Minute, 10 * time.Minute, 100 * time.Minute, 24 * time.Hour, 24 * time.Hour}
	for i, gap := range gaps {
		at = at.Add(gap)
		if gap > 0 {
			clock.set(at.Add(-time.Second)) // just before the retry: nothing
			time.Sleep(300 * time.Millisecond)
			if n := count(); n != i {
				t.Fatalf("a second before retry %d: %d attempts; want %d", i+1, n, i)
			}
		}
		clock.set(at)
		waitFor(t, 10*time.Second, fmt.Sprintf("renewal attempt %d", i+1), func() error {
			if count() <= i {
				return errors.New("not yet")
			}
			return nil
		})
		mu.Lock()
		got := attempts[i]
		mu.Unlock()
		if !got.At.Equal(at) || got.Err == nil || got.Reason != certs.ReasonARI {
			t.Errorf("attempt %d: at %s, reason %s, err %v; want at %s (after %s), reason ari, failed", i+1, got.At, got.Reason, got.Err, at, gap)
		}
		c, err := handshake(tlsAddr, "shop.test", roots)
		if err != nil || c.SerialNumber.Cmp(first.SerialNumber) != 0 {
			t.Fatalf("after %d failed renewals: %v; want the first certificate still served", i+1, err)
		}
		if v := overdue(); v != 1 {
			t.Errorf("after %d failed renewals, rampart_certificate_renewal_overdue = %v; want 1", i+1, v)
		}
	}
	l := a.Renewals()
	t.Logf("planned %s; %d attempts failed, the next at %s; last error: %s", plan.Planned.UTC().Format(time.RFC3339), l[0].Failures,
		l[0].NextAttempt.UTC().Format(time.RFC3339), l[0].LastError)
}

// renewalStarted is the time of the first "renewing a certificate" line
// logged after since.
func renewalStarted(t *testing.T, log string, since time.Time) time.Time {
	t.Helper()
	for _, line := range strings.Split(log, "\n") {
		var l struct {
			Msg string    `json:"msg"`
			TS  time.Time `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "renewing a certificate" && l.TS.After(since) {
			return l.TS
		}
	}
	t.Fatal("no \"renewing a certificate\" line after the revocation")
	return time.Time{}
}

// TestRenewalRetainedMemory measures what each renewal leaves behind: the
// Manager that ordered it stays reachable through autocert's own renewal
// timer, which nothing outside autocert can stop (see certs/renew.go). It
// renews 10 times against Pebble and bounds the heap kept per renewal.
func TestRenewalRetainedMemory(t *testing.T) {
	const tlsAddr = "127.0.0.1:18968"
	ca := startPebble(t, 18944, 18969 /* nothing listens: TLS-ALPN-01 only */, 18968)
	a, err := certs.NewACME(certs.ACMEConfig{
		Domains: []string{"shop.test"}, CacheDir: filepath.Join(t.TempDir(), "acme"),
		DirectoryURL: ca.dirURL, Roots: poolFromFile(t, ca.apiRoot), ARIInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := serveACME(t, a, tlsAddr)
	waitFor(t, 60*time.Second, "a certificate for shop.test", func() error {
		_, err := handshake(tlsAddr, "shop.test", nil)
		if err != nil && strings.Contains(err.Error(), "unknown authority") {
			return nil // served; Pebble's root is not asked for here
		}
		return err
	})
	renew := func(n int) {
		for range n {
			rctx, rcancel := context.WithTimeout(ctx, time.Minute)
			_, err := a.Renew(rctx, "shop.test")
			rcancel()
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	renew(2) // connections, the directory, the account: made once
	before := heap()
	const n = 10
	renew(n)
	after := heap()
	per := (int64(after) - int64(before)) / n
	t.Logf("%d renewals kept %d bytes of heap: %d bytes each", n, int64(after)-int64(before), per)
	if per > 64<<10 {
		t.Errorf("each renewal keeps %d bytes; want under 64 KiB", per)
	}
}

// serveACME serves a's certificates on addr, the listener Pebble validates
// through (TLS-ALPN-01), and runs a until the test ends; the context is Run's.
func serveACME(t *testing.T, a *certs.ACME, addr string) context.Context {
	t.Helper()
	ln, err := tls.Listen("tcp", addr, &tls.Config{GetCertificate: a.GetCertificate, NextProtos: []string{"h2", acme.ALPNProto}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	return ctx
}
