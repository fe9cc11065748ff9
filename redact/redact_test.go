package redact

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestCardNumbersMasked(t *testing.T) {
	tests := []struct{ in, want string }{
		{"4111111111111111", "411111******1111"},                           // Visa
		{"5555555555554444", "555555******4444"},                           // Mastercard
		{"378282246310005", "378282*****0005"},                             // Amex, 15 digits
		{"4111 1111 1111 1111", "4111 11** **** 1111"},                     // spaces
		{"4111-1111-1111-1111", "4111-11**-****-1111"},                     // dashes
		{"3782 822463 10005", "3782 82**** *0005"},                         // Amex grouping
		{"/pay/4111111111111111/confirm", "/pay/411111******1111/confirm"}, // path segment
		{"card=4111111111111111&x=1", "card=411111******1111&x=1"},         // query value
		{"n=4111%201111%201111%201111", "n=4111%2011**%20****%201111"},     // URL-encoded spaces
		{"n=4111+1111+1111+1111", "n=4111+11**+****+1111"},                 // form-encoded spaces
		{"6011111111111117", "601111******1117"},                           // Discover
		{"4222222222222", "422222***2222"},                                 // 13-digit Visa
		{"4111 1111 1111 1111 2026", "4111 11** **** 1111 ****"},           // a PAN followed by more digits: its neighbours go too
		{"7 4111 1111 1111 1111", "* 4111 11** **** 1111"},                 // and preceded
		{`error: "4111111111111111"`, `error: "411111******1111"`},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Errorf("String(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestOrdinaryNumbersKept(t *testing.T) {
	for _, s := range []string{
		"4111111111111112",         // 16 digits failing Luhn
		"order 1234567890",         // an order id
		"1764352543",               // a unix timestamp
		"2026-11-28T18:01:43.548Z", // an RFC 3339 time
		"127.0.0.1:18443",          // an address
		"12345678901234567890123",  // 23 digits, no groups: not a card
		"ref 000000000000",         // 12 digits
	} {
		if got := String(s); got != s {
			t.Errorf("String(%q) = %q; want it unchanged", s, got)
		}
	}
}

func TestQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a=1&b=2", "a=1&b=2"},
		{"cvv=123&amount=10", "cvv=" + Redacted + "&amount=10"},
		{"card_number=4111111111111111", "card_number=" + Redacted},
		{"api_key=s3cr3t&page=2", "api_key=" + Redacted + "&page=2"},
		{"password=hunter2", "password=" + Redacted},
		{"sessionid=abc&Token=x", "sessionid=" + Redacted + "&Token=" + Redacted},
		{"q=4111111111111111", "q=411111******1111"},
		{"flag", "flag"},
	}
	for _, tt := range tests {
		if got := Query(tt.in); got != tt.want {
			t.Errorf("Query(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncoderRedactsEveryField(t *testing.T) {
	var out bytes.Buffer
	core := zapcore.NewCore(Encoder(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())), zapcore.AddSync(&out), zap.DebugLevel)
	log := zap.New(core).With(zap.String("context", "4111 1111 1111 1111"))
	log.Info("paid with 5555555555554444",
		zap.String("path", "/pay/4111111111111111"),
		zap.Error(errString(`Get "http://app/charge?pan=4111111111111111&token=abc": dial tcp: refused`)),
		zap.Strings("list", []string{"378282246310005"}),
		zap.Any("object", map[string]string{"x": "4111-1111-1111-1111"}),
	)
	line := out.String()
	for _, leak := range []string{"4111111111111111", "5555555555554444", "378282246310005", "4111 1111 1111 1111", "4111-1111-1111-1111", "token=abc"} {
		if strings.Contains(line, leak) {
			t.Errorf("log line holds %q:\n%s", leak, line)
		}
	}
	if !strings.Contains(line, "411111******1111") || !strings.Contains(line, "token="+Redacted) {
		t.Errorf("log line lost the masked forms:\n%s", line)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// cardRun is an oracle written apart from Bytes: a separator-joined digit run.
var cardRun = regexp.MustCompile(`\d(?:(?:[ +\-]|%20|%2[dD])?\d)*`)
var sepRe = regexp.MustCompile(`[ +\-]|%20|%2[dD]`)

func luhnString(digits string) bool {
	sum, double := 0, false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// FuzzNoCardSurvives: after redaction no run (or span of whole groups) of
// 13 to 19 digits passes the Luhn check.
func FuzzNoCardSurvives(f *testing.F) {
	for _, s := range []string{"4111111111111111", "x 4111 1111 1111 1111 2026 y", "5555-5555-5555-4444", "4111%201111%201111%201111", "12345678901234567890"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		for _, run := range cardRun.FindAllString(out, -1) {
			groups := sepRe.Split(run, -1)
			for g := range groups {
				digits := ""
				for h := g; h < len(groups); h++ {
					digits += groups[h]
					if len(digits) > 19 {
						break
					}
					if len(digits) >= 13 && luhnString(digits) {
						t.Fatalf("String(%q) = %q still holds %q", s, out, digits)
					}
				}
			}
		}
	})
}

// secretParamOracle is the regular expression the scanner replaced; the
// fuzz target holds them to the same output.
var secretParamOracle = regexp.MustCompile(`([?&])([A-Za-z0-9_.\-\[\]]+)=([^&#\s"\\]*)`)

func oracleHide(line string) string {
	return secretParamOracle.ReplaceAllStringFunc(line, func(m string) string {
		sub := secretParamOracle.FindStringSubmatch(m)
		if !IsSecretName(sub[2]) {
			return m
		}
		return sub[1] + sub[2] + "=" + Redacted
	})
}

func FuzzSecretParamsScanner(f *testing.F) {
	for _, s := range []string{`{"query":"?card=1&x=2"}`, `Get "http://a/b?token=abc&q=1": refused`, "?=&&a=&token=", `?k\"=v`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := pool.Get()
		defer out.Free()
		hideSecretParams(out, []byte(s))
		if got, want := out.String(), oracleHide(s); got != want {
			t.Fatalf("scanner %q; regular expression %q; input %q", got, want, s)
		}
	})
}
