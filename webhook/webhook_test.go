package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	stripewebhook "github.com/stripe/stripe-go/v85/webhook"
)

// The signatures in these tests are made by the providers' own libraries
// (stripe-go's webhook package, Standard Webhooks' Go library), so rampart is
// held to what senders really send, not to its own reading of the schemes.
// The Standard Webhooks Go library signs v1 only: v1a (Ed25519) is signed
// here with crypto/ed25519 as the specification says.

var clock = time.Unix(1_780_000_000, 0) // the verifiers' now

func verifier(t *testing.T, scheme string, secrets ...string) *Verifier {
	t.Helper()
	v, err := New(Config{Scheme: scheme, Secrets: secrets, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

const stripeSecret, stripeOld = "whsec_test_secret_new_0123456789", "whsec_test_secret_old_9876543210"

func stripeHeader(body []byte, secret string, at time.Time) http.Header {
	p := stripewebhook.GenerateTestSignedPayload(&stripewebhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: at})
	return http.Header{"Stripe-Signature": {p.Header}}
}

type verdict struct {
	status int
	reason string
}

func check(t *testing.T, v *Verifier, name string, h http.Header, body []byte, want verdict) {
	t.Helper()
	scheme, status, reason := v.Verify(h, body)
	if status != want.status || reason != want.reason {
		t.Errorf("%s: got %d %q; want %d %q", name, status, reason, want.status, want.reason)
	}
	if want.status == 0 && scheme != v.Scheme() {
		t.Errorf("%s: scheme %q; want %q", name, scheme, v.Scheme())
	}
}

var (
	pass      = verdict{}
	unsigned  = verdict{400, ReasonUnsigned}
	forged    = verdict{401, ReasonSignature}
	expired   = verdict{401, ReasonExpired}
	replayed  = verdict{401, ReasonReplayed}
	eventBody = func(id string) []byte {
		return []byte(`{"id":"` + id + `","object":"event","type":"payment_intent.succeeded"}`)
	}
)

func TestStripe(t *testing.T) {
	v := verifier(t, Stripe, stripeSecret)

	body := eventBody("evt_1")
	h := stripeHeader(body, stripeSecret, clock.Add(-time.Minute))
	// stripe-go agrees that the payload is good (at its own clock, so
	// without its tolerance).
	if err := stripewebhook.ValidatePayloadIgnoringTolerance(body, h.Get("Stripe-Signature"), stripeSecret); err != nil {
		t.Fatalf("stripe-go refuses its own payload: %v", err)
	}
	check(t, v, "signed by stripe-go", h, body, pass)
	check(t, v, "the same delivery again", h, body, replayed)

	// Stripe retries with a new timestamp and signature: that is a new
	// delivery of the same event, let through (the app dedupes events).
	check(t, v, "a retry, signed anew", stripeHeader(body, stripeSecret, clock), body, pass)

	b2 := eventBody("evt_2")
	h2 := stripeHeader(b2, stripeSecret, clock)
	changed := append([]byte{}, b2...)
	changed[len(changed)-3] ^= 1
	check(t, v, "a changed body", h2, changed, forged)
	check(t, v, "re-encoded JSON (a space added)", h2, append([]byte(" "), b2...), forged)
	check(t, v, "a wrong secret", stripeHeader(b2, "whsec_somebody_else_000000000", clock), b2, forged)
	check(t, v, "six minutes old", stripeHeader(b2, stripeSecret, clock.Add(-6*time.Minute)), b2, expired)
	check(t, v, "six minutes ahead", stripeHeader(b2, stripeSecret, clock.Add(6*time.Minute)), b2, expired)
	check(t, v, "no header", http.Header{}, b2, unsigned)
	for _, bad := range []string{"", "t=abc,v1=00", "v1=" + fmt.Sprintf("%064x", 0), "t=1", "t=1,t=2,v1=" + fmt.Sprintf("%064x", 0), "garbage", "t=-5,v1=" + fmt.Sprintf("%064x", 0)} {
		check(t, v, "header "+strconv.Quote(bad), http.Header{"Stripe-Signature": {bad}}, b2, unsigned)
	}
	two := stripeHeader(b2, stripeSecret, clock)
	two.Add("Stripe-Signature", two.Get("Stripe-Signature"))
	check(t, v, "two Stripe-Signature headers", two, b2, unsigned)
	check(t, v, "still good after all that", h2, b2, pass)
}

// TestReplaysPerEndpoint: Stripe sends one event to each endpoint that
// subscribes, signed alike in the same second; sharing a memory, the second
// endpoint still takes it, and a replay at either is still refused.
func TestReplaysPerEndpoint(t *testing.T) {
	shared := NewReplays(16)
	a, err := New(Config{Scheme: Stripe, Endpoint: "sites[0].routes[0]", Secrets: []string{stripeSecret}, Replays: shared, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Scheme: Stripe, Endpoint: "sites[0].routes[1]", Secrets: []string{stripeOld}, Replays: shared, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	body := eventBody("evt_both")
	ha, hb := stripeHeader(body, stripeSecret, clock), stripeHeader(body, stripeOld, clock)
	check(t, a, "the event at the first endpoint", ha, body, pass)
	check(t, b, "the same event at the second", hb, body, pass)
	check(t, a, "replayed at the first", ha, body, replayed)
	check(t, b, "replayed at the second", hb, body, replayed)
}

func TestStripeRotation(t *testing.T) {
	// While Stripe rolls a secret it signs with both: t=…,v1=<new>,v1=<old>.
	body := eventBody("evt_rot")
	at := clock.Add(-10 * time.Second)
	newSig := stripewebhook.ComputeSignature(at, body, stripeSecret)
	oldSig := stripewebhook.ComputeSignature(at, body, stripeOld)
	both := http.Header{"Stripe-Signature": {fmt.Sprintf("t=%d,v1=%x,v1=%x", at.Unix(), oldSig, newSig)}}
	check(t, verifier(t, Stripe, stripeSecret), "both signatures, the new secret configured", both, body, pass)

	// rampart configured with both while the sender still signs with the old.
	b2 := eventBody("evt_rot2")
	check(t, verifier(t, Stripe, stripeSecret, stripeOld), "the old secret still listed", stripeHeader(b2, stripeOld, clock), b2, pass)
	check(t, verifier(t, Stripe, stripeSecret), "the old secret dropped", stripeHeader(b2, stripeOld, clock), b2, forged)
}

func standardSecret(t *testing.T) string {
	k := make([]byte, 24)
	_, _ = rand.Read(k)
	return "whsec_" + base64.StdEncoding.EncodeToString(k)
}

func standardHeader(t *testing.T, secret, id string, at time.Time, body []byte) http.Header {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {strconv.FormatInt(at.Unix(), 10)}, "Webhook-Signature": {sig}}
}

func TestStandardWebhooks(t *testing.T) {
	secret, other := standardSecret(t), standardSecret(t)
	v := verifier(t, Standard, secret)
	body := []byte(`{"type":"invoice.paid","data":{"id":"in_1"}}`)
	h := standardHeader(t, secret, "msg_1", clock.Add(-30*time.Second), body)
	wh, _ := standardwebhooks.NewWebhook(secret)
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		t.Fatalf("the reference library refuses its own signature: %v", err)
	}
	check(t, v, "signed by the reference library", h, body, pass)
	check(t, v, "the same delivery again", h, body, replayed)
	check(t, v, "the same id, a new attempt signed anew", standardHeader(t, secret, "msg_1", clock, body), body, pass)

	h2 := standardHeader(t, secret, "msg_2", clock, body)
	check(t, v, "a changed body", h2, []byte(`{"type":"invoice.paid","data":{"id":"in_2"}}`), forged)
	forgedID := h2.Clone()
	forgedID.Set("Webhook-Id", "msg_3")
	check(t, v, "a changed id", forgedID, body, forged)
	check(t, v, "a wrong secret", standardHeader(t, other, "msg_2", clock, body), body, forged)
	check(t, v, "ten minutes old", standardHeader(t, secret, "msg_2", clock.Add(-10*time.Minute), body), body, expired)
	for _, drop := range []string{"Webhook-Id", "Webhook-Timestamp", "Webhook-Signature"} {
		h := h2.Clone()
		h.Del(drop)
		check(t, v, "without "+drop, h, body, unsigned)
	}
	for _, bad := range []string{"v1", "v1,not base64!", "v2,AAAA", ""} {
		h := h2.Clone()
		h.Set("Webhook-Signature", bad)
		check(t, v, "signature "+strconv.Quote(bad), h, body, unsigned)
	}
	// Rotation: two secrets listed, and a sender signing with both.
	rot := verifier(t, Standard, other, secret)
	check(t, rot, "the second secret listed", standardHeader(t, secret, "msg_4", clock, body), body, pass)
	both := standardHeader(t, other, "msg_5", clock, body)
	mine := standardHeader(t, secret, "msg_5", clock, body)
	both.Set("Webhook-Signature", both.Get("Webhook-Signature")+" "+mine.Get("Webhook-Signature"))
	check(t, v, "two signatures, one ours", both, body, pass)
	check(t, v, "still good after all that", h2, body, pass)
}

func TestStandardWebhooksEd25519(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	v := verifier(t, Standard, "whpk_"+base64.StdEncoding.EncodeToString(pub))
	body := []byte(`{"type":"ping"}`)
	sign := func(id string, at time.Time, body []byte) http.Header {
		ts := strconv.FormatInt(at.Unix(), 10)
		sig := ed25519.Sign(priv, []byte(id+"."+ts+"."+string(body)))
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {"v1a," + base64.StdEncoding.EncodeToString(sig)}}
	}
	check(t, v, "v1a", sign("msg_a", clock, body), body, pass)
	check(t, v, "v1a replayed", sign("msg_a", clock, body), body, replayed)
	check(t, v, "v1a, a changed body", sign("msg_b", clock, body), []byte(`{"type":"pong"}`), forged)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	ts := strconv.FormatInt(clock.Unix(), 10)
	wrong := http.Header{"Webhook-Id": {"msg_c"}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {"v1a," + base64.StdEncoding.EncodeToString(ed25519.Sign(other, []byte("msg_c."+ts+"."+string(body))))}}
	check(t, v, "v1a by another key", wrong, body, forged)
	// A v1 (HMAC) signature cannot pass where only a public key is known.
	check(t, v, "v1 without an HMAC secret", standardHeader(t, standardSecret(t), "msg_d", clock, body), body, forged)
}

func TestNewRefuses(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	for _, c := range []Config{
		{Scheme: "github", Secrets: []string{stripeSecret}},
		{Scheme: Stripe},
		{Scheme: Stripe, Secrets: []string{"short"}},
		{Scheme: Standard, Secrets: []string{"whsec_not base64"}},
		{Scheme: Standard, Secrets: []string{"whsec_" + base64.StdEncoding.EncodeToString([]byte("tiny"))}},
		{Scheme: Standard, Secrets: []string{"whsk_" + base64.StdEncoding.EncodeToString(priv)}},
		{Scheme: Standard, Secrets: []string{"whpk_AAAA"}},
		{Scheme: Stripe, Secrets: []string{stripeSecret}, Tolerance: time.Millisecond},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) = nil error; want one", c)
		}
	}
}

func TestReplaysBounded(t *testing.T) {
	r := NewReplays(4)
	until := clock.Add(time.Hour)
	for i := range 10 {
		if !r.first(Stripe, strconv.Itoa(i), 1, clock, until) {
			t.Fatalf("delivery %d refused the first time", i)
		}
	}
	if n := r.Len(); n != 4 {
		t.Errorf("remembered %d; want 4 (the size)", n)
	}
	if r.first(Stripe, "9", 1, clock, until) {
		t.Error("the newest delivery was forgotten")
	}
	if !r.first(Stripe, "0", 1, clock, until) {
		t.Error("the oldest was not pushed out by newer ones")
	}
	if !r.first(Standard, "9", 1, clock, until) {
		t.Error("an id of another scheme counted as a replay")
	}
	if !r.first(Stripe, "9", 2, clock, until) {
		t.Error("the same id with another timestamp counted as a replay")
	}
	if !r.first(Stripe, "x", 1, clock, clock) || !r.first(Stripe, "x", 1, clock.Add(time.Second), until) {
		t.Error("a delivery past its time was still refused")
	}
}

// FuzzVerify: whatever the headers, nothing passes without the secret (and
// nothing panics).
func FuzzVerify(f *testing.F) {
	body := eventBody("evt_f")
	f.Add(stripeHeader(body, stripeOld, clock).Get("Stripe-Signature"), "msg", "1780000000", "v1,"+base64.StdEncoding.EncodeToString(make([]byte, 32)), body)
	f.Add("t=1780000000,v1=00,v0=11", "a b", "0001780000000", "v1a,AAAA v1,BBBB", []byte("{}"))
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123"))
	f.Fuzz(func(t *testing.T, stripeSig, id, stamp, sig string, body []byte) {
		for _, v := range []*Verifier{verifier(t, Stripe, stripeSecret), verifier(t, Standard, secret)} {
			h := http.Header{"Stripe-Signature": {stripeSig}, "Webhook-Id": {id}, "Webhook-Timestamp": {stamp}, "Webhook-Signature": {sig}}
			if scheme, status, _ := v.Verify(h, body); scheme != "" || (status != 400 && status != 401) {
				t.Fatalf("%s: passed or odd status %d without the secret", v.Scheme(), status)
			}
		}
	})
}
