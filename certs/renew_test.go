package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestARICertID checks the identifier against RFC 9773's example (appendix
// A): keyIdentifier 69:88:5B:6B:…:C8:D4 and serial 00:87:65:43:21, whose
// leading zero is part of the DER encoding and must stay.
func TestARICertID(t *testing.T) {
	aki, _ := hex.DecodeString("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
	leaf := signedLeaf(t, aki, big.NewInt(0x87654321), time.Now(), time.Now().Add(90*24*time.Hour))
	got, err := ariCertID(leaf)
	if want := "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; err != nil || got != want {
		t.Errorf("ariCertID = %q, %v; want %q", got, err, want)
	}
	leaf.AuthorityKeyId = nil
	if _, err := ariCertID(leaf); err == nil {
		t.Error("a certificate without an authority key identifier got an identifier; want an error")
	}
}

// signedLeaf is a leaf signed by a CA whose subject key identifier is aki.
func signedLeaf(t *testing.T, aki []byte, serial *big.Int, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, SubjectKeyId: aki,
		NotBefore: notBefore, NotAfter: notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: serial, DNSNames: []string{"shop.test"},
		NotBefore: notBefore, NotAfter: notAfter}, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return leaf
}

// TestRenewalPlan checks when a renewal is planned: inside the CA's window,
// at once when the window has ended, kept while the window stays, and a
// third (or half) of the lifetime before expiry without a window.
func TestRenewalPlan(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	entry := func(life time.Duration) *renewal {
		leaf := signedLeaf(t, []byte{1, 2, 3}, big.NewInt(7), now.Add(-day), now.Add(-day+life))
		return &renewal{name: "shop.test", cert: &tls.Certificate{Leaf: leaf}}
	}

	e := entry(90 * day)
	e.plan(now)
	if want := now.Add(-day + 60*day); !e.planned.Equal(want) || e.plannedBy != ReasonSchedule {
		t.Errorf("90-day certificate, no window: planned %s by %s; want %s by schedule", e.planned, e.plannedBy, want)
	}
	e = entry(6 * day)
	e.plan(now)
	if want := now.Add(-day + 3*day); !e.planned.Equal(want) {
		t.Errorf("6-day certificate, no window: planned %s; want %s (half its life)", e.planned, want)
	}

	e = entry(90 * day)
	future := Window{Start: now.Add(10 * day), End: now.Add(12 * day)}
	e.ari = future
	e.plan(now)
	first := e.planned
	if first.Before(future.Start) || !first.Before(future.End) || e.plannedBy != ReasonARI {
		t.Errorf("future window %v: planned %s by %s; want inside it, by ari", future, first, e.plannedBy)
	}
	for range 20 {
		e.plan(now.Add(time.Hour))
		if !e.planned.Equal(first) {
			t.Fatalf("the same window asked for again moved the plan from %s to %s; want it kept", first, e.planned)
		}
	}
	moments := map[time.Time]bool{}
	for range 20 {
		e.drawnFrom = Window{}
		e.plan(now)
		moments[e.planned] = true
	}
	if len(moments) < 10 {
		t.Errorf("20 draws in a 2-day window gave %d moments; want them spread at random", len(moments))
	}

	e.ari = Window{Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)} // a revocation: renew now
	e.plan(now)
	if !e.planned.Equal(now) || e.plannedBy != ReasonARI {
		t.Errorf("window in the past: planned %s by %s; want now by ari", e.planned, e.plannedBy)
	}
	if at, renew := e.due(); !renew || at.After(now) {
		t.Errorf("window in the past: due %s (renew %v); want a renewal now", at, renew)
	}
}

// TestRenewalBackoffSchedule is Let's Encrypt's: 1 minute, 10 minutes, 100
// minutes, then daily.
func TestRenewalBackoffSchedule(t *testing.T) {
	want := []time.Duration{time.Minute, 10 * time.Minute, 100 * time.Minute, 24 * time.Hour, 24 * time.Hour, 24 * time.Hour}
	for i, w := range want {
		if got := backoff(i + 1); got != w {
			t.Errorf("backoff after %d failures = %s; want %s", i+1, got, w)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{"21600", 6 * time.Hour},
		{"", 0},
		{"-5", 0},
		{"soon", 0},
		{now.Add(2 * time.Hour).Format(http.TimeFormat), 2 * time.Hour},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	} {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

// TestEndedWindowForANewCertificate: a window that has already ended, for a
// certificate rampart has just obtained, is retried on the backoff rather
// than ordered at once, and the backoff grows while each new certificate's
// first window has ended too (a CA's mistake would otherwise have rampart
// order every minute); for a certificate in service a while, it means renew
// now (a revocation). The CA here is an httptest server: Pebble cannot be
// made to answer an ended window for a certificate before rampart first
// asks about it.
func TestEndedWindowForANewCertificate(t *testing.T) {
	now := time.Now()
	var ended atomic.Bool
	ended.Store(true)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	mux.HandleFunc("/dir", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"renewalInfo": %q}`, srv.URL+"/ari/")
	})
	mux.HandleFunc("/ari/", func(w http.ResponseWriter, _ *http.Request) {
		start := now.Add(-2 * time.Hour)
		if !ended.Load() {
			start = now.Add(30 * 24 * time.Hour)
		}
		fmt.Fprintf(w, `{"suggestedWindow": {"start": %q, "end": %q}}`, start.Format(time.RFC3339), start.Add(time.Hour).Format(time.RFC3339))
	})
	a, err := NewACME(ACMEConfig{Domains: []string{"shop.test"}, CacheDir: t.TempDir(), DirectoryURL: srv.URL + "/dir"})
	if err != nil {
		t.Fatal(err)
	}
	serial := int64(7)
	e := &renewal{name: "shop.test"}
	a.sched.entries = map[string]*renewal{"shop.test": e}
	// obtained puts a new certificate in service, as renew does.
	obtained := func(justRenewed bool) {
		serial++
		leaf := signedLeaf(t, []byte{1, 2, 3}, big.NewInt(serial), now.Add(-time.Minute), now.Add(90*24*time.Hour))
		e.cert = &tls.Certificate{Leaf: leaf}
		e.resetFor(now)
		e.justRenewed = justRenewed
		e.checking = true
		a.check(context.Background(), "shop.test", e)
	}
	for i, want := range []time.Duration{time.Minute, 10 * time.Minute, 100 * time.Minute, 24 * time.Hour} {
		obtained(true)
		if got := e.nextAttempt.Sub(now); e.failures != 1 || got < want-time.Minute || got > want+time.Minute {
			t.Errorf("new certificate %d, its first window over: next renewal in %s (%d failures); want one in %s, a failure",
				i+1, got, e.failures, want)
		}
	}
	ended.Store(false) // a sane window again: the streak ends
	obtained(true)
	if e.endedStreak != 0 || e.failures != 0 || e.planned.Before(now.Add(29*24*time.Hour)) {
		t.Errorf("a new certificate with a window ahead: streak %d, %d failures, planned %s; want 0, 0, inside the window",
			e.endedStreak, e.failures, e.planned)
	}
	ended.Store(true) // a revocation of a certificate in service a while: renew now
	obtained(false)
	if at, renew := e.due(); e.failures != 0 || !renew || at.After(time.Now()) {
		t.Errorf("a certificate in service a while, its window over: next renewal at %s (renew %v, %d failures); want now",
			at, renew, e.failures)
	}
}
