package audit

import (
	"strings"
	"testing"
)

var (
	aes128   = Suite{Name: "TLS_AES_128_GCM_SHA256", Bits: 128, ForwardSecrecy: true, AEAD: true}
	aes256   = Suite{Name: "TLS_AES_256_GCM_SHA384", Bits: 256, ForwardSecrecy: true, AEAD: true}
	chacha   = Suite{Name: "TLS_CHACHA20_POLY1305_SHA256", Bits: 256, ForwardSecrecy: true, AEAD: true}
	cbcFS    = Suite{Name: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", Bits: 128, ForwardSecrecy: true}
	rsaKx    = Suite{Name: "TLS_RSA_WITH_AES_128_GCM_SHA256", Bits: 128, AEAD: true}
	rsaCBC   = Suite{Name: "TLS_RSA_WITH_AES_128_CBC_SHA", Bits: 128}
	des3     = Suite{Name: "TLS_RSA_WITH_3DES_EDE_CBC_SHA", Bits: 112, Block64: true}
	rc4      = Suite{Name: "TLS_ECDHE_RSA_WITH_RC4_128_SHA", Bits: 128, ForwardSecrecy: true, RC4: true}
	export40 = Suite{Name: "TLS_RSA_EXPORT_WITH_RC4_40_MD5", Bits: 40, Export: true, RC4: true}
	null     = Suite{Name: "TLS_RSA_WITH_NULL_SHA", Bits: 0}
)

// rampartLike is what rampart's defaults offer, with an ECDSA P-256 certificate.
func rampartLike() Findings {
	return Findings{
		Protocols: []uint16{TLS12, TLS13}, Suites: []Suite{aes128, aes256, chacha},
		KeyType: "ecdsa", KeyBits: 256, ECDHBits: 256, SignatureHash: "sha256",
		Trusted: true, NameMatch: true, DaysLeft: 80,
		HSTSMaxAge: 63072000, HSTSIncludeSubDomains: true, SecureRenegotiation: true,
		RedirectsToHTTPS: true, CSP: true, NoSniff: true, FrameOptions: true,
	}
}

// rampartSuites is every suite the probe finds on rampart: the three of TLS
// 1.3 (each probed alone) and the six ECDHE AEAD suites of its TLS 1.2.
func rampartSuites() []Suite {
	var ss []Suite
	for _, id := range []uint16{0x1301, 0x1302, 0x1303} {
		ss = append(ss, tls13Suites[id])
	}
	for _, id := range []uint16{0xc02b, 0xc02c, 0xc02f, 0xc030, 0xcca9, 0xcca8} {
		ss = append(ss, knownSuites[id])
	}
	return ss
}

func TestGrade(t *testing.T) {
	tests := []struct {
		name      string
		mutate    func(*Findings)
		grade     string
		score     int
		mentioned string // a cap or warning reason that must appear
	}{
		{"rampart's defaults", func(*Findings) {}, "A+", 96, ""},
		{"rampart's defaults, every suite the probe finds", func(f *Findings) { f.Suites = rampartSuites() }, "A+", 96, ""}, // cipher mean(100, 80) = 90, whatever the count
		{"RSA 2048 certificate", func(f *Findings) { f.KeyType, f.KeyBits = "rsa", 2048 }, "A+", 93, ""},
		{"RSA 4096 and AES-256 only", func(f *Findings) {
			f.KeyType, f.KeyBits = "rsa", 4096
			f.Suites = []Suite{aes256, chacha}
		}, "A+", 100, ""},
		{"no HSTS", func(f *Findings) { f.HSTSMaxAge = -1 }, "A-", 96, "no HSTS header"},
		{"short HSTS", func(f *Findings) { f.HSTSMaxAge = 86400 }, "A-", 96, "under six months"},
		{"HSTS of exactly six months", func(f *Findings) { f.HSTSMaxAge = 15552000 }, "A+", 96, ""},
		{"no TLS 1.3", func(f *Findings) { f.Protocols = []uint16{TLS12} }, "A-", 96, "TLS 1.3 not supported"},
		{"no secure renegotiation", func(f *Findings) { f.SecureRenegotiation = false }, "A-", 96, "secure renegotiation"},
		{"TLS 1.0 enabled", func(f *Findings) { f.Protocols = []uint16{TLS10, TLS11, TLS12, TLS13} }, "B", 95, "TLS 1.0 or 1.1"}, // protocol mean(100, 90) = 95: 28.5 + 30 + 36 = 94.5, rounded up
		{"TLS 1.1 enabled", func(f *Findings) { f.Protocols = []uint16{TLS11, TLS12, TLS13} }, "B", 95, "TLS 1.0 or 1.1"},
		{"CBC only in TLS 1.2, no TLS 1.3", func(f *Findings) {
			f.Protocols, f.Suites = []uint16{TLS12}, []Suite{cbcFS}
		}, "B", 92, "no AEAD"},
		{"no forward secrecy", func(f *Findings) {
			f.Protocols, f.Suites, f.ECDHBits = []uint16{TLS12}, []Suite{rsaKx, rsaCBC}, 0
		}, "B", 92, "no forward secrecy"},
		{"RSA 1024 certificate", func(f *Findings) { f.KeyType, f.KeyBits = "rsa", 1024 }, "B", 90, "weak key exchange"},
		{"RSA 512 certificate", func(f *Findings) { f.KeyType, f.KeyBits = "rsa", 512 }, "F", 78, "key of 512 bits"},
		{"1024-bit DH group", func(f *Findings) { f.DHBits = 1024 }, "B", 90, "DH group of 1024 bits"},
		{"RC4 offered", func(f *Findings) { f.Suites = append(f.Suites, rc4) }, "C", 96, "RC4 with TLS 1.1 or later"},
		{"3DES offered", func(f *Findings) { f.Suites = append(f.Suites, des3) }, "C", 84, "SWEET32"}, // cipher mean(100, 20) = 60
		{"no TLS 1.2, TLS 1.3 only", func(f *Findings) { f.Protocols = []uint16{TLS13} }, "C", 96, "TLS 1.2 not offered"},
		{"TLS compression", func(f *Findings) { f.Compression = true }, "C", 96, "CRIME"},
		{"SSL 3 offered", func(f *Findings) { f.Protocols = []uint16{SSL30, TLS12, TLS13} }, "B", 93, "SSL 3 offered"}, // protocol mean(100, 80)
		{"SSL 3 only", func(f *Findings) { f.Protocols = []uint16{SSL30} }, "F", 90, "SSL 3 is the best"},
		{"SSL 2 offered", func(f *Findings) { f.Protocols = []uint16{0x0200, TLS12} }, "F", 81, "SSL 2"}, // protocol mean(100, 0) = 50
		{"export suite", func(f *Findings) { f.Suites = append(f.Suites, export40) }, "F", 84, "export suite"},
		{"NULL suite", func(f *Findings) { f.Suites = append(f.Suites, null) }, "F", 80, "0-bit"}, // cipher mean(100, 0) = 50
		{"MD5 signature", func(f *Findings) { f.SignatureHash = "md5" }, "F", 96, "MD5"},
		{"SHA-1 signature", func(f *Findings) { f.SignatureHash = "sha1" }, "T", 96, "SHA-1"},
		{"self-signed", func(f *Findings) { f.Trusted = false }, "T", 96, "not trusted"},
		{"expired", func(f *Findings) { f.Expired = true }, "T", 96, "expired"},
		{"name mismatch", func(f *Findings) { f.NameMatch = false }, "M", 96, "does not cover"},
		{"nothing offered", func(f *Findings) { f.Protocols = nil }, "F", 0, "no TLS protocol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := rampartLike()
			tt.mutate(&f)
			r := Grade(f)
			if r.Grade != tt.grade || r.Score != tt.score {
				t.Errorf("grade %s score %d; want %s %d (caps %v, warnings %v)", r.Grade, r.Score, tt.grade, tt.score, r.Caps, r.Warnings)
			}
			if tt.mentioned != "" {
				found := false
				for _, i := range append(r.Caps, r.Warnings...) {
					found = found || strings.Contains(i.Reason, tt.mentioned)
					if i.Fix == "" {
						t.Errorf("issue %q has no fix", i.Reason)
					}
				}
				if !found {
					t.Errorf("no cap or warning mentions %q: caps %v, warnings %v", tt.mentioned, r.Caps, r.Warnings)
				}
			}
		})
	}
}

func TestAtLeast(t *testing.T) {
	for _, c := range []struct {
		grade, min string
		want       bool
	}{{"A+", "A", true}, {"A", "A", true}, {"A-", "A", false}, {"B", "A-", false}, {"T", "F", false}, {"A+", "A+", true}} {
		if got := AtLeast(c.grade, c.min); got != c.want {
			t.Errorf("AtLeast(%s, %s) = %v; want %v", c.grade, c.min, got, c.want)
		}
	}
}
