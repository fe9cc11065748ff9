package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// maxSignatures bounds the signatures a header may carry (of a version this
// package reads): a sender rotating a secret sends two.
const maxSignatures = 8

// parseStripe reads Stripe-Signature: t=<unix>,v1=<hex>,…; other keys (v0,
// a scheme to come) are ignored, as Stripe's libraries do.
func parseStripe(h http.Header) (delivery, bool) {
	var d delivery
	vals := h.Values("Stripe-Signature")
	if len(vals) != 1 || len(vals[0]) > 4096 {
		return d, false
	}
	for pair := range strings.SplitSeq(vals[0], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			return d, false
		}
		switch k {
		case "t":
			if d.stamp != "" {
				return d, false // two timestamps: which one was signed?
			}
			if d.timestamp, ok = parseStamp(v); !ok {
				return d, false
			}
			d.stamp = v
		case "v1":
			sig, err := hex.DecodeString(v)
			if err != nil || len(sig) != sha256.Size {
				continue // as Stripe's libraries: an unreadable signature is no signature
			}
			if len(d.sigs) == maxSignatures {
				return d, false
			}
			d.sigs = append(d.sigs, sig)
		}
	}
	return d, d.stamp != "" && len(d.sigs) > 0
}

// parseStamp reads a Unix time in seconds: digits only, as both schemes
// write it.
func parseStamp(s string) (int64, bool) {
	if s == "" || len(s) > 12 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// stripeSigned tells whether one of the delivery's signatures is an
// HMAC-SHA256 of "<t>.<body>" under one of the secrets.
func (v *Verifier) stripeSigned(d delivery, body []byte) bool {
	good := false
	for _, key := range v.hmacKeys {
		mac := hmac.New(sha256.New, key)
		mac.Write([]byte(d.stamp))
		mac.Write([]byte{'.'})
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range d.sigs {
			// Every pair is compared, so the time taken does not tell which
			// secret or signature was close.
			good = hmac.Equal(want, sig) || good
		}
	}
	return good
}

// replayID is what names a delivery: Standard Webhooks' webhook-id, or the
// id of Stripe's event (its body's "id"; the body's hash if it has none).
func (d delivery) replayID(scheme string, body []byte) string {
	if scheme == Standard {
		return d.id
	}
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(body, &ev) == nil && ev.ID != "" {
		return ev.ID
	}
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}
