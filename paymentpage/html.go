package paymentpage

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// MaxPageBytes bounds how much of a page's HTML is read for its scripts; a
// page past it is scanned up to it (and said to be cut).
const MaxPageBytes = 2 << 20

// maxToken bounds one token (an inline script, a tag) the tokenizer holds.
const maxToken = 256 << 10

// script is a script element of a page, as rampart served it.
type script struct {
	url       string // a src's URL, resolved and reduced; or "inline"
	exact     string // a src's path and query as resolved, unreduced: kept in memory only
	integrity string // its integrity attribute, if any
	hash      string // an inline script's "sha256-<base64>", as CSP names it
}

// key names the script in the inventory: its URL, or an inline one by its
// hash.
func (s script) key() string {
	if s.url == "inline" {
		return "inline " + s.hash
	}
	return s.url
}

// scanHTML reads the scripts of a page with a streaming tokenizer: each
// <script src> (resolved against the page's URL) with its integrity, each
// inline script by the hash CSP would give it. Elements whose type is not
// JavaScript (JSON data, templates) are not scripts. cut is true when a token
// passed maxToken and the rest was not read.
func scanHTML(page *url.URL, r io.Reader) (scripts []script, cut bool) {
	z := html.NewTokenizer(r)
	z.SetMaxBuf(maxToken)
	inScript := false
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return scripts, !errors.Is(z.Err(), io.EOF)
		case html.StartTagToken:
			name, hasAttr := z.TagName()
			if string(name) != "script" {
				continue
			}
			var src, integrity, typ string
			for hasAttr {
				var k, v []byte
				k, v, hasAttr = z.TagAttr()
				switch string(k) {
				case "src":
					src = strings.TrimSpace(string(v))
				case "integrity":
					integrity = strings.TrimSpace(string(v))
				case "type":
					typ = strings.ToLower(strings.TrimSpace(string(v)))
				}
			}
			if !javascript(typ) {
				continue
			}
			if src == "" {
				inScript = true
				continue
			}
			if u, err := page.Parse(src); err == nil {
				if reduced, ok := reduceURL(u.String()); ok {
					scripts = append(scripts, script{url: reduced, exact: exactSrc(u.EscapedPath(), u.RawQuery), integrity: integrity})
				}
			}
		case html.TextToken:
			if inScript {
				sum := sha256.Sum256(z.Text())
				scripts = append(scripts, script{url: "inline", hash: "sha256-" + base64.StdEncoding.EncodeToString(sum[:])})
				inScript = false
			}
		case html.EndTagToken:
			inScript = false
		}
	}
}

// exactSrc is a script's path and query, as the page names it and a
// request for it spells it.
func exactSrc(path, query string) string {
	if query == "" {
		return path
	}
	return path + "?" + query
}

// javascript tells whether a script element's type makes it run.
func javascript(typ string) bool {
	typ, _, _ = strings.Cut(typ, ";")
	switch strings.TrimSpace(typ) {
	case "", "text/javascript", "module", "application/javascript", "text/ecmascript", "application/ecmascript":
		return true
	}
	return false
}
