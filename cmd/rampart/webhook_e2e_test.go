package main

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
)

// TestWebhookEndToEnd: the binary checks webhooks on the routes that ask for
// it, before the app is contacted. Signatures are made with the providers'
// own libraries (stripe-go, the Standard Webhooks Go library). A changed
// body, an old timestamp, a replayed delivery, a wrong secret and a forged
// verification header each fail before the app; a secret rotated by a reload
// (SIGHUP) passes, and the memory of deliveries outlives the reload.
func TestWebhookEndToEnd(t *testing.T) {
	const httpsAddr, adminAddr, appAddr = "127.0.0.1:18930", "127.0.0.1:18931", "127.0.0.1:18932"
	type seen struct{ path, body, verified string }
	var mu sync.Mutex
	var got []seen
	startApp(t, appAddr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, seen{r.URL.Path, string(b), strings.Join(r.Header.Values("Rampart-Webhook-Verified"), ",")})
		mu.Unlock()
	}))
	dir, dataDir := t.TempDir(), t.TempDir()
	const stripeOld, stripeNew = "whsec_e2e_old_0123456789abcdef", "whsec_e2e_new_fedcba9876543210"
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	svixSecret := "whsec_" + base64.StdEncoding.EncodeToString(key)
	writeFile := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeFile("stripe.secret", stripeOld+"\n")
	writeFile("svix.secret", svixSecret+"\n")
	conf := filepath.Join(dir, "rampart.yaml")
	writeFile("rampart.yaml", `tls: internal
https-addr: `+httpsAddr+`
http-addr: ""
admin-addr: `+adminAddr+`
sites:
  - hosts: [shop.test]
    routes:
      - exact_path: /hooks/stripe
        methods: [POST]
        webhook: {scheme: stripe, secret_files: [stripe.secret]}
        upstream: http://`+appAddr+`
      - exact_path: /hooks/svix
        methods: [POST]
        webhook: {scheme: standard-webhooks, secret_files: [svix.secret]}
        upstream: http://`+appAddr+`
      - upstream: http://`+appAddr+`
`)
	r := start(t, "rampart", nil, rampartBin, "--config", conf, "--data-dir", dataDir)
	waitListening(t, httpsAddr)
	client := internalClient(t, dataDir, httpsAddr)
	post := func(path string, body []byte, hdr http.Header) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "https://shop.test"+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header[k] = v
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	stripeSig := func(body []byte, secret string, at time.Time) http.Header {
		p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
		return http.Header{"Stripe-Signature": {p.Header}}
	}
	svixSig := func(id string, body []byte, secret string, at time.Time) http.Header {
		wh, err := standardwebhooks.NewWebhook(secret)
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := wh.Sign(id, at, body)
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(at.Unix(), 10)}, "Webhook-Signature": {sig}}
	}
	with := func(h http.Header, k, v string) http.Header { h = h.Clone(); h.Set(k, v); return h }
	now := time.Now
	ev1 := []byte(`{"id":"evt_e2e_1","type":"payment_intent.succeeded","data":{"object":{"amount":4200}}}`)
	first := stripeSig(ev1, stripeOld, now())
	msg := []byte(`{"type":"invoice.paid"}`)
	otherKey := "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 24))

	type call struct {
		name, path string
		body       []byte
		hdr        http.Header
		want       int
		verified   string // what the app is told; "" when it must not be reached
	}
	run := func(calls []call) {
		t.Helper()
		for _, c := range calls {
			mu.Lock()
			before := len(got)
			mu.Unlock()
			if status := post(c.path, c.body, c.hdr); status != c.want {
				t.Errorf("%s: %d; want %d", c.name, status, c.want)
			}
			mu.Lock()
			reached := got[before:]
			mu.Unlock()
			switch {
			case c.want != 200 && len(reached) > 0:
				t.Errorf("%s: the app was asked (%+v)", c.name, reached)
			case c.want == 200 && len(reached) != 1:
				t.Errorf("%s: the app saw %d requests; want 1", c.name, len(reached))
			case c.want == 200 && (reached[0].body != string(c.body) || reached[0].verified != c.verified):
				t.Errorf("%s: the app got %q told %q; want the body as sent, told %q", c.name, reached[0].body, reached[0].verified, c.verified)
			}
		}
	}
	run([]call{
		{"Stripe, signed by stripe-go", "/hooks/stripe", ev1, with(first, "Rampart-Webhook-Verified", "forged"), 200, "stripe"},
		{"Stripe, replayed", "/hooks/stripe", ev1, first, 401, ""},
		{"Stripe, a changed body", "/hooks/stripe", bytes.Replace(ev1, []byte("4200"), []byte("1"), 1), stripeSig(ev1, stripeOld, now()), 401, ""},
		{"Stripe, an old timestamp", "/hooks/stripe", ev1, stripeSig(ev1, stripeOld, now().Add(-6*time.Minute)), 401, ""},
		{"Stripe, a wrong secret", "/hooks/stripe", ev1, stripeSig(ev1, stripeNew, now()), 401, ""},
		{"Stripe, unsigned, the verification header forged", "/hooks/stripe", ev1, http.Header{"Rampart-Webhook-Verified": {"stripe"}}, 400, ""},
		{"Standard Webhooks, signed by its library", "/hooks/svix", msg, svixSig("msg_e2e_1", msg, svixSecret, now()), 200, "standard-webhooks"},
		{"Standard Webhooks, replayed", "/hooks/svix", msg, svixSig("msg_e2e_1", msg, svixSecret, now()), 401, ""},
		{"Standard Webhooks, a wrong secret", "/hooks/svix", msg, svixSig("msg_e2e_2", msg, otherKey, now()), 401, ""},
		{"another route, the verification header forged", "/orders", msg, http.Header{"Rampart-Webhook-Verified": {"stripe"}}, 200, ""},
	})

	m := scrape(t, adminAddr)
	for _, want := range []string{
		`rampart_rejected_requests_total{reason="webhook_replayed"} 2`,
		`rampart_rejected_requests_total{reason="webhook_signature"} 3`,
		`rampart_rejected_requests_total{reason="webhook_expired"} 1`,
		`rampart_rejected_requests_total{reason="webhook_unsigned"} 1`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	// Stripe rolls the secret: both listed, a reload, then the new one passes,
	// the old one still does, and the first delivery is still a replay.
	writeFile("stripe.secret", stripeNew+"\n"+stripeOld+"\n")
	_ = r.cmd.Process.Signal(syscall.SIGHUP)
	ev2 := []byte(`{"id":"evt_e2e_2","type":"charge.refunded"}`)
	waitFor(t, 10*time.Second, "the rotated secret", func() error {
		if status := post("/hooks/stripe", ev2, stripeSig(ev2, stripeNew, now())); status != 200 {
			return errStatus(status)
		}
		return nil
	})
	ev3 := []byte(`{"id":"evt_e2e_3","type":"charge.refunded"}`)
	run([]call{
		{"after the reload, the old secret", "/hooks/stripe", ev3, stripeSig(ev3, stripeOld, now()), 200, "stripe"},
		{"after the reload, the first delivery replayed", "/hooks/stripe", ev1, first, 401, ""},
	})

	if m := scrape(t, adminAddr); !strings.Contains(m, `rampart_rejected_requests_total{reason="webhook_replayed"} 3`) {
		t.Errorf("metrics lack the third replay refused, after the reload")
	}
}

type errStatus int

func (e errStatus) Error() string { return "status " + strconv.Itoa(int(e)) }
