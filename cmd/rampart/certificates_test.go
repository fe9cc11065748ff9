package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rampart-proxy/rampart/certs"
)

// TestCertsEndpoints: GET /certs lists what is served, a file's pair
// included; POST /certs/renew takes JSON only, addressed by IP, so that a
// page in a browser on the operator's machine cannot post to it (a form, or
// through a rebound name), and says when there is nothing rampart renews.
func TestCertsEndpoints(t *testing.T) {
	expiry := time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)
	mux := adminMux(adminConfig{registry: prometheus.NewRegistry(), inventory: func() []certs.Info {
		return []certs.Info{{Names: []string{"shop.test"}, KeyType: "ecdsa", Issuer: "R10", NotAfter: expiry}}
	}})
	do := func(method, contentType, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "http://127.0.0.1:9090/certs", strings.NewReader(body))
		if method == http.MethodPost {
			req = httptest.NewRequest(method, "http://127.0.0.1:9090/certs/renew", strings.NewReader(body))
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		return w
	}

	w := do(http.MethodGet, "", "")
	var l certListing
	if err := json.Unmarshal(w.Body.Bytes(), &l); err != nil || w.Code != http.StatusOK || len(l.Certificates) != 1 ||
		l.Certificates[0].Name != "shop.test" || !l.Certificates[0].NotAfter.Equal(expiry) || !l.Certificates[0].Planned.IsZero() {
		t.Errorf("GET /certs: %d %s; want shop.test, expiring %s, with no renewal plan", w.Code, w.Body, expiry)
	}
	for _, tt := range []struct {
		contentType, body string
		want              int
	}{
		{"application/x-www-form-urlencoded", "name=shop.test", http.StatusUnsupportedMediaType},
		{"text/plain", `{"name": "shop.test"}`, http.StatusUnsupportedMediaType},
		{"application/json", `{}`, http.StatusBadRequest},
		{"application/json", `{"name": "shop.test"}`, http.StatusConflict}, // not --tls acme
	} {
		if w := do(http.MethodPost, tt.contentType, tt.body); w.Code != tt.want {
			t.Errorf("POST /certs/renew as %s %s: %d %s; want %d", tt.contentType, tt.body, w.Code, w.Body, tt.want)
		}
	}
	// A page that rebinds its own name to the admin address is same-origin,
	// but sends its name as the Host.
	for host, want := range map[string]int{"rebind.example:9090": http.StatusForbidden, "localhost:9090": http.StatusConflict, "[::1]:9090": http.StatusConflict} {
		req := httptest.NewRequest(http.MethodPost, "http://"+host+"/certs/renew", strings.NewReader(`{"name": "shop.test"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != want {
			t.Errorf("POST /certs/renew with Host %s: %d %s; want %d", host, w.Code, w.Body, want)
		}
	}
}

// TestPrintCerts: the table says, for each certificate, the CA's window,
// the plan and why, failures, and the last renewal.
func TestPrintCerts(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var b strings.Builder
	err := printCerts(&b, []certs.Renewal{
		{Name: "shop.test", KeyType: "ecdsa", Issuer: "R10", NotAfter: now.Add(89 * 24 * time.Hour),
			ARI:     certs.Window{Start: now.Add(59 * 24 * time.Hour), End: now.Add(61 * 24 * time.Hour)},
			Planned: now.Add(60 * 24 * time.Hour), PlannedBy: "ari", LastRenewed: now.Add(-time.Hour), LastReason: "manual"},
		{Name: "pay.test", KeyType: "ecdsa", Issuer: "R10", NotAfter: now.Add(20 * 24 * time.Hour),
			Planned: now.Add(-time.Hour), PlannedBy: "schedule", Failures: 2, NextAttempt: now.Add(9 * time.Minute), Overdue: true},
		{Name: "files.test", KeyType: "rsa", Issuer: "Corp CA", NotAfter: now.Add(300 * 24 * time.Hour)},
	}, now)
	out := b.String()
	for _, want := range []string{
		"2027-01-31 12:00Z to 2027-02-02 12:00Z", "2027-02-01 12:00Z (ari)", "2026-12-03 11:00Z (manual)", "(89d)",
		"(schedule); 2 failed, next try 2026-12-03 12:09Z; OVERDUE",
		"not an ACME certificate",
	} {
		if err != nil || !strings.Contains(out, want) {
			t.Errorf("printCerts: %v\n%s\nwant %q", err, out, want)
		}
	}
}

// TestAdminAddrRefused: rampart certs and rampart healthcheck refuse an
// --admin-addr that is not host:port, naming it, before asking anything of
// the network (a bare word would otherwise be looked up in DNS).
func TestAdminAddrRefused(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	for _, addr := range []string{"nonsense", "", "127.0.0.1", "localhost:"} {
		err := runCerts(context.Background(), []string{"--admin-addr", addr}, noEnv, io.Discard, time.Now())
		var se *settingError
		if !errors.As(err, &se) || se.setting != "admin-addr" || !strings.Contains(err.Error(), "is not host:port") {
			t.Errorf("rampart certs --admin-addr %q: %v; want a refusal naming admin-addr", addr, err)
		}
		var stderr strings.Builder
		if code := runHealthcheck(context.Background(), []string{"--admin-addr", addr}, noEnv, io.Discard, &stderr); code != exitUsage ||
			!strings.Contains(stderr.String(), "admin-addr: ") || !strings.Contains(stderr.String(), "is not host:port") {
			t.Errorf("rampart healthcheck --admin-addr %q: exit %d, %q; want exit %d naming admin-addr", addr, code, stderr.String(), exitUsage)
		}
	}
}
