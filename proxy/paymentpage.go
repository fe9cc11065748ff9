package proxy

import (
	"bytes"
	"io"
	"net/http"
	"strings"
)

// PaymentPage watches a payment page (package paymentpage has it): the
// policy a browser is sent, the headers and HTML it receives, and the
// reports it sends back.
type PaymentPage interface {
	// Respond adds the page's Content-Security-Policy (enforced or
	// report-only) to a response's headers.
	Respond(h http.Header)
	// Observe is given a response of the page as the browser will receive
	// it (before Respond), and returns where its body is to be copied as it
	// passes, closed at its end; nil if the body is not wanted. If the
	// response is cut off, and the writer has an Abort method, Abort is
	// called instead of Close.
	Observe(r *http.Request, status int, h http.Header) io.WriteCloser
	// Collect takes a report a browser sent to ReportPath on the page's
	// site, and returns the status to answer.
	Collect(contentType string, body []byte) int
	// WantsScript tells whether a request (Host, escaped path) is for a
	// script a payment page loads, whose content is to be observed.
	WantsScript(host, path string) bool
	// ObserveScript is given such a script's response, and returns where
	// its body is to be copied as it passes, closed at its end; nil if not
	// wanted.
	ObserveScript(r *http.Request, status int, h http.Header) io.WriteCloser
}

// ReportPath is where a site with a payment page takes the browsers'
// reports: rampart answers it (and anything else under /.well-known/rampart,
// with 404), whatever the routes say, and it never reaches an app.
const ReportPath = "/.well-known/rampart/csp-report"

// maxReportBytes bounds a report's body.
const maxReportBytes = 64 << 10

// reportLimit bounds each client's reports: a page load sends a few; a
// flood gets 429.
var reportLimit = RateLimit{Rate: 2, Burst: 20, Clients: 4096}

// pageHandler runs a payment page's route: the app is asked for the page
// uncompressed (so rampart can read its scripts), and its response is
// observed and given the page's policy.
type pageHandler struct {
	page PaymentPage
	next http.Handler
}

func (h *pageHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Header.Del("Accept-Encoding")
	pw := &pageWriter{ResponseWriter: w, page: h.page, r: r, observe: h.page.Observe, respond: true}
	defer pw.finish()
	h.next.ServeHTTP(pw, r)
}

// scriptHandler runs every route of a table with payment pages: a script
// such a page loads is asked for uncompressed, and its content observed as
// it passes.
type scriptHandler struct {
	page PaymentPage // any: the scripts they load are known to all
	next http.Handler
}

func (h *scriptHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || !h.page.WantsScript(r.Host, r.URL.EscapedPath()) {
		h.next.ServeHTTP(w, r)
		return
	}
	r.Header.Del("Accept-Encoding")
	pw := &pageWriter{ResponseWriter: w, page: h.page, r: r, observe: h.page.ObserveScript}
	defer pw.finish()
	h.next.ServeHTTP(pw, r)
}

// pageWriter observes a response as it is written, and gives a page's its
// policy.
type pageWriter struct {
	http.ResponseWriter
	page    PaymentPage
	r       *http.Request
	observe func(r *http.Request, status int, h http.Header) io.WriteCloser
	respond bool // add the page's policy
	sink    io.WriteCloser
	written bool
}

func (w *pageWriter) WriteHeader(code int) {
	if !w.written && code >= 200 {
		w.written = true
		h := w.Header()
		w.sink = w.observe(w.r, code, h)
		if w.respond {
			w.page.Respond(h)
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *pageWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	if w.sink != nil {
		_, _ = w.sink.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

func (w *pageWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish closes the sink when the handler returns; when it panics (the
// ReverseProxy's http.ErrAbortHandler: the client left, or a limit cut the
// response), the body is not whole, so the sink is aborted, and the panic
// goes on.
func (w *pageWriter) finish() {
	if w.sink == nil {
		return
	}
	if v := recover(); v != nil {
		if a, ok := w.sink.(interface{ Abort() }); ok {
			a.Abort()
		}
		panic(v)
	}
	_ = w.sink.Close()
}

// collector answers ReportPath on a site with payment pages.
type collector struct {
	t       *table
	page    PaymentPage // any of the site's: each files a report under the page it names
	limiter *limiter
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := c.t
	if p := strings.TrimRight(r.URL.EscapedPath(), "/"); !strings.EqualFold(p, ReportPath) {
		t.onReject("csp_report")
		t.refusePage(w, r, http.StatusNotFound, noRoutePage)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		t.onReject("csp_report")
		t.refuse(w, r, http.StatusMethodNotAllowed)
		return
	}
	if _, ok := c.limiter.take(t.clientAddr(r)); !ok {
		t.onReject("csp_report")
		t.refuse(w, r, http.StatusTooManyRequests)
		return
	}
	var body bytes.Buffer
	if _, err := body.ReadFrom(r.Body); err != nil { // bounded and paced by the collector's limits
		status, reason := clientBodyStatus(err)
		t.onReject(reason)
		t.refuse(w, r, status)
		return
	}
	status := c.page.Collect(r.Header.Get("Content-Type"), body.Bytes())
	if status >= 300 {
		t.onReject("csp_report")
		t.refuse(w, r, status)
		return
	}
	t.headers.apply(w.Header())
	w.WriteHeader(status)
}

// siteCollector builds the site's collector if one of its routes has a
// payment page, and its limits.
func (t *table) siteCollector(pages []PaymentPage) (http.Handler, Limits) {
	if len(pages) == 0 {
		return nil, Limits{}
	}
	lim := t.limits
	lim.MaxBodyBytes, lim.BufferBodyBytes = maxReportBytes, maxReportBytes
	return &collector{t: t, page: pages[0], limiter: newLimiter(reportLimit)}, lim
}

// rampartPrefix is the folder of ReportPath: on a site with a payment page
// all of it is rampart's, so no spelling of the path reaches an app.
const rampartPrefix = "/.well-known/rampart"

// isRampartPath tells whether an escaped path is in rampartPrefix, however
// cased.
func isRampartPath(p string) bool {
	return len(p) >= len(rampartPrefix) && strings.EqualFold(p[:len(rampartPrefix)], rampartPrefix) &&
		(len(p) == len(rampartPrefix) || p[len(rampartPrefix)] == '/')
}
