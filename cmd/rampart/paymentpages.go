package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/rampart-proxy/rampart/metrics"
	"github.com/rampart-proxy/rampart/paymentpage"
	"github.com/rampart-proxy/rampart/proxy"
)

// pagesDir is where the data directory keeps the payment pages' inventory.
func pagesDir(dataDir string) string { return filepath.Join(dataDir, "payment-pages") }

// paymentPages makes the file's payment_page settings into pages, each
// table anew, over one inventory opened at start; and says each change: a
// log line, the metric, and the alert webhook if one is set.
type paymentPages struct {
	dataDir  string
	store    atomic.Pointer[paymentpage.Store] // opened when a page first needs it (a start's or a reload's)
	log      *zap.Logger
	metrics  *metrics.Metrics
	alertURL string
	alerts   chan paymentpage.Event // to the webhook; full: dropped and logged
	client   *http.Client
}

func newPaymentPages(cfg *config, log *zap.Logger, m *metrics.Metrics) (*paymentPages, error) {
	pp := &paymentPages{dataDir: cfg.dataDir, log: log, metrics: m, alerts: make(chan paymentpage.Event, 64)}
	if len(cfg.pages) > 0 {
		if err := pp.open(); err != nil {
			return nil, err
		}
	}
	if cfg.pageAlertURL != nil {
		pp.alertURL = cfg.pageAlertURL.String()
		// No Proxy: an alert goes where it is told, not through HTTP_PROXY.
		pp.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{ForceAttemptHTTP2: true}}
	}
	return pp, nil
}

// open opens the inventory, once: only a start or reload with a payment
// page needs it, so nothing else depends on its files.
func (pp *paymentPages) open() error {
	if pp.store.Load() != nil {
		return nil // only the start and the reloads, one at a time, open it
	}
	dir := pagesDir(pp.dataDir)
	st, err := paymentpage.Open(dir)
	if err != nil {
		return &settingError{"payment_page", err.Error(), "move " + dir + "/inventory.json aside (rampart starts a new one), or make " + dir + " readable and writable by rampart"}
	}
	pp.store.Store(st)
	return nil
}

// sites returns cfg's sites with each payment_page made a Page; sites
// without one are shared, not copied.
func (pp *paymentPages) sites(cfg *config) ([]proxy.Site, error) {
	if len(cfg.pages) == 0 {
		return cfg.sites, nil
	}
	if err := pp.open(); err != nil {
		return nil, err
	}
	sites := slices.Clone(cfg.sites)
	var labels []string
	for _, ps := range cfg.pages {
		st := &sites[ps.Site]
		path := ""
		if ps.Route >= 0 {
			path = st.Routes[ps.Route].Match.Path
		}
		page, err := paymentpage.New(paymentpage.Config{Store: pp.store.Load(), Site: st.Hosts[0], Hosts: st.Hosts, Path: path,
			Mode: ps.Mode, Sample: ps.Sample, OnChange: pp.changed})
		if err != nil {
			return nil, err
		}
		if ps.Route < 0 {
			st.Policy.PaymentPage = page
		} else {
			st.Routes = slices.Clone(st.Routes)
			st.Routes[ps.Route].Policy.PaymentPage = page
		}
		labels = append(labels, st.Hosts[0])
	}
	pp.metrics.PaymentPages(labels)
	return sites, nil
}

// changed says a change on a payment page.
func (pp *paymentPages) changed(e paymentpage.Event) {
	pp.log.Warn("payment page changed", zap.String("site", e.Site), zap.String("page", e.Page), zap.String("kind", e.Kind),
		zap.String("subject", e.Subject), zap.String("detail", e.Detail))
	pp.metrics.PaymentPageChange(e.Site, e.Kind)
	if pp.client == nil {
		return
	}
	select {
	case pp.alerts <- e:
	default:
		pp.log.Error("payment page alert dropped: the alert webhook is behind", zap.String("kind", e.Kind), zap.String("subject", e.Subject))
	}
}

// run keeps the inventory: it reads the approvals the scripts command
// writes, writes what was seen (every 2 s at most, and at the stop), and
// sends the alerts.
func (pp *paymentPages) run(ctx context.Context) {
	if pp.client != nil { // alerts on their own, so a slow receiver delays nothing else
		done := make(chan struct{})
		defer func() { <-done }()
		go func() {
			defer close(done)
			for {
				select {
				case <-ctx.Done():
					return
				case e := <-pp.alerts:
					pp.send(ctx, e)
				}
			}
		}()
	}
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			pp.flush()
			return
		case <-tick.C:
			st := pp.store.Load()
			if st == nil {
				continue
			}
			if changed, err := st.ReloadApprovals(); err != nil {
				pp.log.Error("payment page approvals unreadable; the last ones read stay", zap.Error(err),
					zap.String("fix", "let rampart's user read "+pagesDir(pp.dataDir)+"/approvals.json (rampart scripts, run as root, writes it as the data directory's owner), or restore it"))
			} else if changed {
				pp.log.Info("payment page approvals read")
			}
			pp.flush()
		}
	}
}

func (pp *paymentPages) flush() {
	st := pp.store.Load()
	if st == nil {
		return
	}
	if err := st.Flush(); err != nil {
		pp.log.Error("payment page inventory not written", zap.Error(err), zap.String("fix", "make the data directory writable by rampart"))
	}
}

// send posts one alert.
func (pp *paymentPages) send(ctx context.Context, e paymentpage.Event) {
	body, _ := json.Marshal(map[string]any{"source": "rampart", "event": "payment_page_changed", "change": e})
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, pp.alertURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := pp.client.Do(req)
	if err != nil {
		pp.log.Error("payment page alert not delivered", zap.Error(err), zap.String("kind", e.Kind))
		return
	}
	res.Body.Close()
	if res.StatusCode >= 300 {
		pp.log.Error("payment page alert refused", zap.Int("status", res.StatusCode), zap.String("kind", e.Kind))
	}
}
