package webhook

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
)

// standardKey reads a Standard Webhooks secret: whsec_<base64> (or bare
// base64, as the reference library accepts) is an HMAC key; whpk_<base64>
// an Ed25519 public key. The signing key (whsk_) is refused: rampart only
// checks, and a private key has no business on the edge.
func standardKey(s string) (hmacKey, edKey []byte, err error) {
	switch {
	case strings.HasPrefix(s, "whsk_"):
		return nil, nil, errors.New("is an Ed25519 signing key (whsk_): give its public key (whpk_), which is all checking needs")
	case strings.HasPrefix(s, "whpk_"):
		k, err := base64.StdEncoding.DecodeString(s[len("whpk_"):])
		if err != nil || len(k) != ed25519.PublicKeySize {
			return nil, nil, errors.New("whpk_ is not followed by the base64 of a 32-byte Ed25519 public key")
		}
		return nil, k, nil
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil || len(k) < 16 || len(k) > 128 {
		return nil, nil, errors.New("want whsec_ and the base64 of a 16- to 128-byte key (as the sender shows it), or whpk_ and an Ed25519 public key")
	}
	return k, nil, nil
}

// parseStandard reads webhook-id, webhook-timestamp and webhook-signature
// (space-separated "version,base64" entries; versions other than v1 and v1a
// are ignored).
func parseStandard(h http.Header) (delivery, bool) {
	var d delivery
	ids, stamps, sigs := h.Values("Webhook-Id"), h.Values("Webhook-Timestamp"), h.Values("Webhook-Signature")
	if len(ids) != 1 || len(stamps) != 1 || len(sigs) != 1 || len(sigs[0]) > 4096 {
		return d, false
	}
	d.id = ids[0]
	if d.id == "" || len(d.id) > 256 || strings.ContainsFunc(d.id, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return d, false
	}
	var ok bool
	if d.timestamp, ok = parseStamp(stamps[0]); !ok {
		return d, false
	}
	d.stamp = stamps[0]
	for entry := range strings.FieldsSeq(sigs[0]) {
		version, b64, ok := strings.Cut(entry, ",")
		if !ok {
			return d, false
		}
		var want int
		switch version {
		case "v1":
			want = sha256.Size
		case "v1a":
			want = ed25519.SignatureSize
		default:
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(b64)
		if err != nil || len(sig) != want {
			continue // unreadable: no signature, as the reference library has it
		}
		if len(d.v1)+len(d.v1a) == maxSignatures {
			return d, false
		}
		if version == "v1" {
			d.v1 = append(d.v1, sig)
		} else {
			d.v1a = append(d.v1a, sig)
		}
	}
	return d, len(d.v1)+len(d.v1a) > 0
}

// standardSigned tells whether a v1 signature is an HMAC-SHA256 of
// "<id>.<timestamp>.<body>" under one of the secrets, or a v1a one an
// Ed25519 signature of it by one of the public keys.
func (v *Verifier) standardSigned(d delivery, body []byte) bool {
	good := false
	if len(d.v1) > 0 {
		for _, key := range v.hmacKeys {
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(d.id))
			mac.Write([]byte{'.'})
			mac.Write([]byte(d.stamp))
			mac.Write([]byte{'.'})
			mac.Write(body)
			want := mac.Sum(nil)
			for _, sig := range d.v1 {
				good = hmac.Equal(want, sig) || good
			}
		}
	}
	if len(d.v1a) > 0 && len(v.edKeys) > 0 {
		msg := make([]byte, 0, len(d.id)+len(d.stamp)+2+len(body))
		msg = append(append(append(append(append(msg, d.id...), '.'), d.stamp...), '.'), body...)
		for _, key := range v.edKeys {
			for _, sig := range d.v1a {
				good = ed25519.Verify(key, msg, sig) || good
			}
		}
	}
	return good
}
