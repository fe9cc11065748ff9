package redact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/rampart-proxy/rampart/redact/redacttest"
)

func TestCardNumbersMasked(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"Visa", "4111111111111111", "411111******1111"},
		{"Mastercard", "5555555555554444", "555555******4444"},
		{"Amex, 15 digits", "378282246310005", "378282*****0005"},
		{"Discover", "6011111111111117", "601111******1117"},
		{"13-digit Visa", "4222222222222", "422222***2222"},
		{"spaces", "4111 1111 1111 1111", "4111 11** **** 1111"},
		{"dashes", "4111-1111-1111-1111", "4111-11**-****-1111"},
		{"Amex grouping", "3782 822463 10005", "3782 82**** *0005"},
		{"path segment", "/pay/4111111111111111/confirm", "/pay/411111******1111/confirm"},
		{"query value", "card=4111111111111111&x=1", "card=[REDACTED]&x=1"},
		{"percent-encoded spaces", "n=4111%201111%201111%201111", "n=4111%2011**%20****%201111"},
		{"form-encoded spaces", "n=4111+1111+1111+1111", "n=4111+11**+****+1111"},
		{"quoted in an error", `error: "4111111111111111"`, `error: "411111******1111"`},

		// Separators of any kind between the groups.
		{"dots", "4111.1111.1111.1111", "4111.11**.****.1111"},
		{"underscores", "4111_1111_1111_1111", "4111_11**_****_1111"},
		{"slashes in a path", "/pay/4111/1111/1111/1111", "/pay/4111/11**/****/1111"},
		{"tabs, as a JSON line spells them", `4111\t1111\t1111\t1111`, `4111\t11**\t****\t1111`},
		{"a separator of three", "4111 - 1111 - 1111 - 1111", "4111 - 11** - **** - 1111"},
		{"mixed separators", "4111.1111_1111/1111", "4111.11**_****/1111"},
		{"encoded dots", "4111%2E1111%2E1111%2E1111", "4111%2E11**%2E****%2E1111"},
		{"encoded slashes", "4111%2F1111%2F1111%2F1111", "4111%2F11**%2F****%2F1111"},
		{"in a JSON array", `["4111","1111","1111","1111"]`, `["4111","11**","****","1111"]`},

		// Digits spelled another way.
		{"all digits percent-encoded", "%34%31%31%31%31%31%31%31%31%31%31%31%31%31%31%31", "%34%31%31%31%31%31******%31%31%31%31"},
		{"some digits percent-encoded", "41%3111111111111%311", "41%31111******11%311"},
		{"lower- and upper-case escapes", "%2e%2E4111%31%31%31%3111111111", "%2e%2E4111%31%31******1111"},
		{"digits encoded twice", "%2534111111111111111", "%253411111******1111"},
		{"%u escapes", "%u0034111111111111111", "%u003411111******1111"},
		{"full-width digits", "４１１１１１１１１１１１１１１１", "４１１１１１******１１１１"},
		{"full-width digits, percent-encoded", "%EF%BC%94111111111111111", "%EF%BC%9411111******1111"},
		{"Arabic-Indic digits", "٤١١١١١١١١١١١١١١١", "٤١١١١١******١١١١"},

		// A card number inside a longer run of digits.
		{"PAN and expiry joined (track data)", "41111111111111112612", "411111******1111****"},
		{"PAN with digits before", "94111111111111111", "*411111******1111"},
		{"PAN and expiry, grouped", "4111 1111 1111 1111 2026", "4111 11** **** 1111 ****"},
		{"preceded by a group", "7 4111 1111 1111 1111", "* 4111 11** **** 1111"},
		{"track 2", ";4111111111111111=2612101?", ";411111******1111=2612101?"},
		{"in a longer run, grouped", "12 4111 1111 1111 1111 2612", "** 4111 11** **** 1111 ****"},

		// Across the edges of the part of a line that needs decoding.
		{"from plain into encoded", "4111 1111 1111%201111", "4111 11** ****%201111"},
		{"from encoded into plain, far on", "%20" + strings.Repeat("x", 44) + " 4111 1111 1111 1111", "%20" + strings.Repeat("x", 44) + " 4111 11** **** 1111"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestOrdinaryNumbersKept(t *testing.T) {
	for _, s := range []string{
		"4111111111111113",                   // 16 digits, no 13-to-19 span passing Luhn
		"order 1234567890",                   // an order id
		"1764352543",                         // a unix timestamp in seconds
		"2026-11-28T18:01:43.548123456Z",     // an RFC 3339 time, nanoseconds
		"2026-11-28T18:01:43.548Z",           // ISO 8601, milliseconds
		"127.0.0.1:18443",                    // an address
		"192.168.100.200:44321",              // a longer one
		"[2001:db8::1]:443",                  // IPv6
		"ref 000000000000",                   // 12 digits
		"Chrome/156.0.8078.73 Safari/537.36", // a user agent's versions
		`"duration":1234.567891`,             // a duration in seconds, to the microsecond
		"fkbjmepdgoalhcin",                   // a request id of rampart's
	} {
		if got := String(s); got != s {
			t.Errorf("String(%q) = %q; want it unchanged", s, got)
		}
	}
}

func TestSecretsHidden(t *testing.T) {
	const R = Redacted
	tests := []struct{ name, in, want string }{
		{"query", "?cvv=123&amount=10", "?cvv=" + R + "&amount=10"},
		{"card_number", "?card_number=4111111111111111", "?card_number=" + R},
		{"api_key", "?api_key=s3cr3t&page=2", "?api_key=" + R + "&page=2"},
		{"two", "?sessionid=abc&Token=x", "?sessionid=" + R + "&Token=" + R},
		{"in an error's URL", `Get "http://app/charge?pan=4&token=abc": refused`, `Get "http://app/charge?pan=` + R + `&token=` + R + `": refused`},

		// Path parameters.
		{"path parameters", "/login;password=hunter2;cvv=123", "/login;password=" + R + ";cvv=" + R},
		{"path parameter then a query: a value ends only at a separator of pairs", "/a;jsessionid=ABC?x=1", "/a;jsessionid=" + R},

		// Names decoded before they are judged.
		{"percent-encoded name", "?p%61ssword=hunter2", "?p%61ssword=" + R},
		{"name encoded twice", "?p%2561ssword=hunter2", "?p%2561ssword=" + R},
		{"nested name", "?user[password]=hunter2&user[name]=bob", "?user[password]=" + R + "&user[name]=bob"},
		{"nested name, encoded brackets", "?user%5Bpassword%5D=hunter2", "?user%5Bpassword%5D=" + R},
		{"encoded equals sign", "?password%3Dhunter2", "?password%3D" + R},
		{"full-width name", "?ｐａｓｓｗｏｒｄ=hunter2", "?ｐａｓｓｗｏｒｄ=" + R},
		{"name that does not decode", "?p%zzssword=hunter2&a=1", "?p%zzssword=" + R + "&a=1"},
		{"upper case", "?PASSWORD=hunter2", "?PASSWORD=" + R},

		// A URL inside a parameter.
		{"encoded URL in a parameter", "?redirect=https%3A%2F%2Fshop%2Fcb%3Fpassword%3Dhunter2%26next%3D1&a=1", "?redirect=https%3A%2F%2Fshop%2Fcb%3Fpassword%3D" + R + "&a=1"},
		{"URL encoded twice", "?r=%252Fcb%253Ftoken%253Dabc", "?r=%252Fcb%253Ftoken%253D" + R},
		{"a secret's encoded & is part of it", "?password=ab%26cd&x=1", "?password=" + R + "&x=1"},

		// Names the first list missed.
		{"pw", "?pw=hunter2", "?pw=" + R},
		{"new_pw", "?new_pw=hunter2", "?new_pw=" + R},
		{"pswd", "?pswd=hunter2", "?pswd=" + R},
		{"jwt", "?jwt=abc", "?jwt=" + R},
		{"bearer", "?bearer=abc", "?bearer=" + R},
		{"sid", "?sid=abc", "?sid=" + R},
		{"cc_number", "?cc_number=4111", "?cc_number=" + R},
		{"ccnum", "?ccnum=4111", "?ccnum=" + R},
		{"ccNum", "?ccNum=4111", "?ccNum=" + R},
		{"exp_date", "?exp_date=1226", "?exp_date=" + R},
		{"expMonth", "?expMonth=12", "?expMonth=" + R},
		{"acct", "?acct=12345", "?acct=" + R},
		{"hash", "?hash=abc", "?hash=" + R},
		{"nonce", "?nonce=abc", "?nonce=" + R},
		{"security_code", "?security_code=123", "?security_code=" + R},
		{"PHPSESSID", "?PHPSESSID=abc", "?PHPSESSID=" + R},

		// Across the edges of the part of a line that needs decoding.
		{"name before an escape", "?password=%20hunter2", "?password=" + R},
		{"pair far past an escape", "%20" + strings.Repeat("x", 44) + " password=hunter2 y", "%20" + strings.Repeat("x", 44) + " password=" + R + " y"},
		{"pair across the far edge", "%20" + strings.Repeat("x", 49) + " password=hunter2 y", "%20" + strings.Repeat("x", 49) + " password=" + R + " y"},

		// Names set off from their '=' and values from it.
		{"quoted name", "?'password'=hunter2", "?'password'=" + R},
		{"name in escaped quotes", `"q":"\"password\"=hunter2"`, `"q":"\"password\"=` + R + `"`},
		{"name in brackets", "?user(password)=hunter2", "?user(password)=" + R},
		{"value after a space", `"ua":"app token= abc123 x"`, `"ua":"app token=` + R + ` x"`},
		{"spaces around the equals sign", `"ua":"app token = abc123 x"`, `"ua":"app token =` + R + ` x"`},

		// Free text.
		{"user agent", `"user_agent":"app/1.0 token=abc123 (x)"`, `"user_agent":"app/1.0 token=` + R + ` (x)"`},
		{"user agent, a quoted value", `"user_agent":"app token=\"abc def\" x"`, `"user_agent":"app token=` + R + ` x"`},
		{"user agent, tab before the value's end", `"ua":"x password=abc\tdef"`, `"ua":"x password=` + R + `\tdef"`},
		{"start of a field", `"msg":"password=abc"`, `"msg":"password=` + R + `"`},
		{"a JSON Web Token anywhere", `"ua":"x eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl y"`, `"ua":"x ` + R + ` y"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHarmlessParamsKept(t *testing.T) {
	for _, s := range []string{
		"?a=1&b=2",
		"?order=987654321&page=2",
		"?upward=1",     // "pw" only as a word
		"?side=left",    // "sid" only as a word
		"?export=csv",   // "exp" only as a word
		"?success=true", // "cc" only as a word
		"flag",
		"a = b",
	} {
		if got := String(s); got != s {
			t.Errorf("String(%q) = %q; want it unchanged", s, got)
		}
	}
}

func TestUndecodableLineFailsClosed(t *testing.T) {
	// Nine rounds of percent-encoding: more than any client produces. The
	// line is not understood, so every digit in it is masked.
	in := "x=%25252525252525252534111 y=42"
	got := String(in)
	if strings.ContainsAny(got, "0123456789") {
		t.Errorf("String(%q) = %q; want every digit masked", in, got)
	}
}

func TestEncoderRedactsEveryField(t *testing.T) {
	var out bytes.Buffer
	core := zapcore.NewCore(Encoder(zapcore.NewJSONEncoder(EncoderConfig(zap.NewProductionEncoderConfig()))), zapcore.AddSync(&out), zap.DebugLevel)
	log := zap.New(core).With(zap.String("context", "4111 1111 1111 1111"))
	log.Info("paid with 5555555555554444",
		zap.String("path", "/pay/4111111111111111"),
		zap.Error(errString(`Get "http://app/charge?pan=4111111111111111&token=abc": dial tcp: refused`)),
		zap.Strings("list", []string{"378282246310005"}),
		zap.Any("object", map[string]string{"x": "4111-1111-1111-1111"}),
		zap.String("tabbed", "4111\t1111\t1111\t1111"),
	)
	line := out.String()
	for _, leak := range []string{"4111111111111111", "5555555555554444", "378282246310005", "4111 1111 1111 1111", "4111-1111-1111-1111", `4111\t1111\t1111\t1111`, "token=abc"} {
		if strings.Contains(line, leak) {
			t.Errorf("log line holds %q:\n%s", leak, line)
		}
	}
	if !strings.Contains(line, "411111******1111") || !strings.Contains(line, "token="+Redacted) {
		t.Errorf("log line lost the masked forms:\n%s", line)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		t.Errorf("redacted line is not JSON: %v\n%s", err, line)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// FuzzNoCardSurvives: a test card number, spelled as a client could, placed
// anywhere in a log line's message or fields, cannot be read back from the
// redacted line, nor can any other card number the input happens to hold.
func FuzzNoCardSurvives(f *testing.F) {
	f.Add("", "", uint8(0), uint64(0))
	f.Add("/pay/", "/confirm", uint8(1), uint64(7))
	f.Add("?q=", "&x=1", uint8(2), uint64(12345))
	f.Add("x 1 ", " 2026 y", uint8(3), uint64(99))
	f.Add("12345678901234567890", "", uint8(4), uint64(31337))
	f.Add("4111%201111%201111%201111", "5555.5555.5555.4444", uint8(5), uint64(2))
	f.Fuzz(func(t *testing.T, prefix, suffix string, which uint8, seed uint64) {
		planted := redacttest.PlantPAN(redacttest.TestPANs[int(which)%len(redacttest.TestPANs)], seed)
		value := prefix + planted + suffix
		var out bytes.Buffer
		core := zapcore.NewCore(Encoder(zapcore.NewJSONEncoder(EncoderConfig(zap.NewProductionEncoderConfig()))), zapcore.AddSync(&out), zap.DebugLevel)
		log := zap.New(core)
		switch seed % 3 {
		case 0:
			log.Info(value)
		case 1:
			log.Info("request", zap.String("path", value))
		case 2:
			log.Info("request", zap.Strings("list", strings.SplitN(value, ",", 3)))
		}
		line := out.String()
		var doc any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("redacted line is not JSON: %v\n%s", err, line)
		}
		for _, s := range redacttest.JSONStrings(doc, nil) {
			if cards := redacttest.CardsIn(redacttest.PercentDecodeAll(s)); len(cards) > 0 {
				t.Fatalf("planted %q in %q; the redacted line %s still holds card numbers %v (decoded: %q)", planted, value, line, cards, redacttest.PercentDecodeAll(s))
			}
		}
	})
}

// secretNamesPlanted are names a secret may travel under.
var secretNamesPlanted = []string{"password", "cvv", "pw", "token", "api_key", "session", "pin", "jwt", "user[password]", "cc_number", "exp_date", "sid", "nonce", "hash", "Authorization", "PHPSESSID", "access_token", "client_secret"}

// FuzzNoSecretSurvives: a secret value under a secret name, with the name
// spelled as a client could (each character plain or percent-encoded, once
// or twice) and the pair anywhere in a query, path, free text or an
// encoded URL, cannot be read back from the redacted line.
func FuzzNoSecretSurvives(f *testing.F) {
	f.Add("", "", uint8(0), uint64(0), "hunter2")
	f.Add("/login", "&a=1", uint8(3), uint64(5), "s3cr3t")
	f.Add("app/1.0 ", " (x)", uint8(7), uint64(77), "abc")
	f.Add("?redirect=https%3A%2F%2Fx%2Fcb", "", uint8(1), uint64(1234), "tok")
	f.Fuzz(func(t *testing.T, prefix, suffix string, which uint8, seed uint64, secret string) {
		// The secret is a recognisable token that holds no separator of
		// its own: what the fuzzer gives, made safe, and marked.
		secret = "Zq" + strings.Map(func(r rune) rune {
			if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
				return r
			}
			return -1
		}, secret) + "Xj"
		for _, s := range []string{prefix, suffix} {
			if d := redacttest.PercentDecodeAll(s); strings.Contains(d, "Zq") || strings.Contains(d, "Xj") {
				t.Skip("the context holds the secret's markers")
			}
		}
		name := secretNamesPlanted[int(which)%len(secretNamesPlanted)]
		rnd := seed
		next := func(n uint64) uint64 { rnd = rnd*6364136223846793005 + 1442695040888963407; return (rnd >> 33) % n }
		var spelled strings.Builder
		for i := 0; i < len(name); i++ {
			switch next(4) {
			case 1:
				fmt.Fprintf(&spelled, "%%%02X", name[i])
			case 2:
				fmt.Fprintf(&spelled, "%%25%02x", name[i])
			default:
				spelled.WriteByte(name[i])
			}
		}
		before := []string{"?", "&", ";", " ", "%3F", "%26", "%253F", "/"}[next(8)]
		eq := []string{"=", "%3D", "%253D"}[next(3)]
		pair := before + spelled.String() + eq + secret
		var out bytes.Buffer
		core := zapcore.NewCore(Encoder(zapcore.NewJSONEncoder(EncoderConfig(zap.NewProductionEncoderConfig()))), zapcore.AddSync(&out), zap.DebugLevel)
		zap.New(core).Info("request", zap.String("query", prefix+pair+suffix))
		line := out.String()
		var doc any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("redacted line is not JSON: %v\n%s", err, line)
		}
		for _, s := range redacttest.JSONStrings(doc, nil) {
			if strings.Contains(redacttest.PercentDecodeAll(s), secret) {
				t.Fatalf("planted %q in %q; the redacted line still holds %q:\n%s", pair, prefix+pair+suffix, secret, line)
			}
		}
	})
}
