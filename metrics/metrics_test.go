package metrics

import (
	"crypto/tls"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func newTest(t *testing.T, certs func() []Certificate) (*Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg, Hosts: []string{"shop.test"}, Version: "v1", Certificates: certs})
	if err != nil {
		t.Fatal(err)
	}
	return m, reg
}

func TestLabelsStayBounded(t *testing.T) {
	m, _ := newTest(t, nil)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for _, host := range []string{"shop.test", "SHOP.TEST:443", "evil.test", "x.y.z", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	req := httptest.NewRequest("BREW", "/", nil)
	req.Host = "shop.test"
	h.ServeHTTP(httptest.NewRecorder(), req)

	if got := testutil.ToFloat64(m.requests.WithLabelValues("shop.test", "GET", "418")); got != 2 {
		t.Errorf("shop.test GET 418 = %v; want 2 (port and case do not make a new host)", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("other", "GET", "418")); got != 3 {
		t.Errorf("other GET 418 = %v; want 3", got)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("shop.test", "OTHER", "418")); got != 1 {
		t.Errorf("unknown method = %v; want counted as OTHER", got)
	}
	if n := testutil.CollectAndCount(m.requests); n != 3 {
		t.Errorf("%d request series; want 3", n)
	}

	m.Rejected("not-a-reason")
	m.UpstreamError("strange")
	m.HandshakeError("weird")
	if testutil.ToFloat64(m.rejected.WithLabelValues("malformed")) != 1 ||
		testutil.ToFloat64(m.upstreamErrors.WithLabelValues("other")) != 1 ||
		testutil.ToFloat64(m.handshakeErrors.WithLabelValues("other")) != 1 {
		t.Error("unknown reasons were not folded into the fixed ones")
	}
	m.ACMEOrder("random.example", errors.New("x"))
	if testutil.ToFloat64(m.acmeOrders.WithLabelValues("other", "error")) != 1 {
		t.Error("an order for a name not served was not counted as other")
	}
	m.Handshake(tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256})
	if testutil.ToFloat64(m.handshakes.WithLabelValues("TLS 1.3", "TLS_AES_128_GCM_SHA256")) != 1 {
		t.Error("handshake not counted by version and suite")
	}
}

func TestCertificateSeriesOnlyForServedNames(t *testing.T) {
	notAfter := time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)
	_, reg := newTest(t, func() []Certificate {
		return []Certificate{
			{Domain: "shop.test", KeyType: "ecdsa", Issuer: "R10", NotAfter: notAfter},
			{Domain: "www.unrelated.test", KeyType: "ecdsa", Issuer: "R10", NotAfter: notAfter}, // a SAN not served
			{Domain: "shop.test", KeyType: "ecdsa", Issuer: "R10", NotAfter: notAfter},          // duplicate
		}
	})
	want := `
# HELP rampart_certificate_not_after_timestamp_seconds Unix time at which a certificate in service expires, by served name, key type and issuer.
# TYPE rampart_certificate_not_after_timestamp_seconds gauge
rampart_certificate_not_after_timestamp_seconds{domain="shop.test",issuer="R10",key_type="ecdsa"} ` + strconv.FormatInt(notAfter.Unix(), 10) + `
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "rampart_certificate_not_after_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

func TestNewNeedsARegistry(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a Registerer succeeded")
	}
}

// TestUpstreamAndReloadSeries: one health series per pool member, read at
// each scrape; the reload gauges follow what was applied.
func TestUpstreamAndReloadSeries(t *testing.T) {
	healthy := true
	reg := prometheus.NewRegistry()
	m, err := New(Config{Registerer: reg, Upstreams: func() []Upstream {
		return []Upstream{{Pool: "api", Upstream: "http://10.0.0.1:9000", Healthy: true}, {Pool: "api", Upstream: "http://10.0.0.2:9000", Healthy: healthy}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := func(second string) string {
		return `
# HELP rampart_upstream_healthy 1 if the pool member takes requests (not ejected after failures, not failing its health check), else 0.
# TYPE rampart_upstream_healthy gauge
rampart_upstream_healthy{pool="api",upstream="http://10.0.0.1:9000"} 1
rampart_upstream_healthy{pool="api",upstream="http://10.0.0.2:9000"} ` + second + "\n"
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("1")), "rampart_upstream_healthy"); err != nil {
		t.Error(err)
	}
	healthy = false
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want("0")), "rampart_upstream_healthy"); err != nil {
		t.Error(err)
	}
	at := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	m.ConfigLoaded(true, at)
	m.ConfigLoaded(false, at.Add(time.Minute))
	if testutil.ToFloat64(m.reloadOK) != 0 || testutil.ToFloat64(m.reloadTime) != float64(at.Unix()) {
		t.Errorf("after a refused reload: successful %v, timestamp %v; want 0 and the last applied one's", testutil.ToFloat64(m.reloadOK), testutil.ToFloat64(m.reloadTime))
	}
	m.ConfigLoaded(true, at.Add(2*time.Minute))
	if testutil.ToFloat64(m.reloadOK) != 1 || testutil.ToFloat64(m.reloadTime) != float64(at.Add(2*time.Minute).Unix()) {
		t.Error("an applied reload did not set both gauges")
	}
}

// TestSetHosts: names added by a reload get their series; names removed lose
// theirs, so the host label stays bounded by the configuration.
func TestSetHosts(t *testing.T) {
	m, _ := newTest(t, nil)
	h := m.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	hit := func(host string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.Host = host
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	hit("news.test")
	if testutil.ToFloat64(m.requests.WithLabelValues("other", "GET", "200")) != 1 {
		t.Fatal("a name not served yet was not counted as other")
	}
	m.SetHosts([]string{"shop.test", "news.test"})
	hit("news.test")
	hit("shop.test")
	if testutil.ToFloat64(m.requests.WithLabelValues("news.test", "GET", "200")) != 1 {
		t.Error("a name added is not its own label")
	}
	m.SetHosts([]string{"news.test"})
	if n := testutil.CollectAndCount(m.requests); n != 2 {
		t.Errorf("%d request series after shop.test was removed; want 2 (other, news.test)", n)
	}
	if n := testutil.CollectAndCount(m.acmeOrders); n != 2 {
		t.Errorf("%d order series; want news.test's two", n)
	}
}
