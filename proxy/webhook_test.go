package proxy

import (
	"bytes"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
	"go.uber.org/zap/zaptest"

	"github.com/rampart-proxy/rampart/webhook"
)

// TestPolicyWebhook: a route's webhook check runs before the app is asked.
// Signatures come from stripe-go, Stripe's own library; the verifier is
// package webhook's, as rampart wires it.
func TestPolicyWebhook(t *testing.T) {
	const secret = "whsec_proxy_test_0123456789abcdef"
	type seen struct {
		body, verified string
		length         int64
		path           string
	}
	var mu sync.Mutex
	var got []seen
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{string(b), strings.Join(r.Header.Values(WebhookVerifiedHeader), ","), r.ContentLength, r.URL.Path})
		mu.Unlock()
	}))
	v, err := webhook.New(webhook.Config{Scheme: webhook.Stripe, Secrets: []string{secret}})
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string // under mu, as got
	p, err := New(Config{Logger: zaptest.NewLogger(t), OnReject: func(r string) { mu.Lock(); rejected = append(rejected, r); mu.Unlock() },
		Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{
			{Match: RouteMatch{Path: "/stripe"}, Upstream: mustURL(app.URL), Policy: Policy{Webhook: v}},
			{Upstream: mustURL(app.URL)},
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)

	post := func(path string, body []byte, chunked bool, hdr ...string) int {
		t.Helper()
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
		req, _ := http.NewRequest("POST", front.URL+path, rd)
		req.Host = "shop.test"
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Add(hdr[i], hdr[i+1])
		}
		res, err := front.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	sign := func(body []byte, key string, at time.Time) string {
		return stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: key, Timestamp: at}).Header
	}
	event := []byte(`{"id":"evt_proxy_1","type":"charge.succeeded","data":{"object":{"amount":1999}}}`)
	good := sign(event, secret, time.Now())
	event2 := []byte(`{"id":"evt_proxy_2","type":"charge.refunded"}`)

	for _, tt := range []struct {
		name    string
		path    string
		body    []byte
		chunked bool
		hdr     []string
		want    int
		reason  string
	}{
		{"signed by stripe-go", "/stripe", event, false, []string{"Stripe-Signature", good, WebhookVerifiedHeader, "forged"}, 200, ""},
		{"the same again", "/stripe", event, false, []string{"Stripe-Signature", good}, 401, "webhook_replayed"},
		{"signed, sent chunked", "/stripe", event2, true, []string{"Stripe-Signature", sign(event2, secret, time.Now())}, 200, ""},
		{"a changed body", "/stripe", bytes.Replace(event, []byte("1999"), []byte("9999"), 1), false, []string{"Stripe-Signature", sign(event, secret, time.Now().Add(-time.Second))}, 401, "webhook_signature"},
		{"an old timestamp", "/stripe", event, false, []string{"Stripe-Signature", sign(event, secret, time.Now().Add(-10*time.Minute))}, 401, "webhook_expired"},
		{"a wrong secret", "/stripe", event, false, []string{"Stripe-Signature", sign(event, "whsec_not_ours_00000000000", time.Now())}, 401, "webhook_signature"},
		{"unsigned, with a forged verification header", "/stripe", event, false, []string{WebhookVerifiedHeader, "stripe"}, 400, "webhook_unsigned"},
		{"over 1 MiB", "/stripe", bytes.Repeat([]byte("a"), 1<<20+1), true, []string{"Stripe-Signature", good}, 413, "body_too_large"},
		{"another route, a forged verification header", "/other", event, false, []string{WebhookVerifiedHeader, "stripe"}, 200, ""},
	} {
		mu.Lock()
		rejected = nil
		before := len(got)
		mu.Unlock()
		if status := post(tt.path, tt.body, tt.chunked, tt.hdr...); status != tt.want {
			t.Errorf("%s: got %d; want %d", tt.name, status, tt.want)
		}
		mu.Lock()
		reached := len(got) > before
		var last seen
		if reached {
			last = got[len(got)-1]
		}
		refusals := slices.Clone(rejected)
		mu.Unlock()
		if tt.want != 200 {
			if reached {
				t.Errorf("%s: the app was asked", tt.name)
			}
			if len(refusals) != 1 || refusals[0] != tt.reason {
				t.Errorf("%s: refusals %q; want [%q]", tt.name, refusals, tt.reason)
			}
			continue
		}
		switch {
		case !reached:
			t.Errorf("%s: the app was not asked", tt.name)
		case last.body != string(tt.body) || last.length != int64(len(tt.body)):
			t.Errorf("%s: the app got %d bytes (Content-Length %d); want the %d sent", tt.name, len(last.body), last.length, len(tt.body))
		case tt.path == "/stripe" && last.verified != "stripe":
			t.Errorf("%s: the app was told %s: %q; want \"stripe\"", tt.name, WebhookVerifiedHeader, last.verified)
		case tt.path != "/stripe" && last.verified != "":
			t.Errorf("%s: the client's %s reached the app: %q", tt.name, WebhookVerifiedHeader, last.verified)
		}
	}
}

// TestWebhookHeaderUnderscores: with underscores let through, a client's
// Rampart_Webhook_Verified (which CGI-style apps read as rampart's header)
// is still dropped, on every route.
func TestWebhookHeaderUnderscores(t *testing.T) {
	var mu sync.Mutex
	var names []string
	app := serveFixed(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		for k := range r.Header {
			names = append(names, k)
		}
	}))
	p, err := New(Config{Logger: zaptest.NewLogger(t), AllowUnderscoreHeaders: true,
		Sites: []Site{{Hosts: []string{"shop.test"}, Routes: []SiteRoute{{Upstream: mustURL(app.URL)}}}}})
	if err != nil {
		t.Fatal(err)
	}
	front := serveFixed(t, p)
	req, _ := http.NewRequest("GET", front.URL+"/", nil)
	req.Host = "shop.test"
	req.Header["Rampart_Webhook_Verified"] = []string{"stripe"}
	req.Header["X_Kept"] = []string{"yes"}
	res, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(names, "X_kept") {
		t.Fatalf("the app got %q; want underscores let through (X_kept)", names)
	}
	for _, k := range names {
		if strings.EqualFold(strings.ReplaceAll(k, "_", "-"), WebhookVerifiedHeader) {
			t.Errorf("the app got %s from the client", k)
		}
	}
}
