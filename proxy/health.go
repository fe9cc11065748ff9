package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"
)

// HealthCheck is a pool's active health check: each member is asked for Path
// every Interval; Unhealthy failures in a row take it out of rotation and
// Healthy successes in a row bring it back. A member starts in rotation.
type HealthCheck struct {
	// Path is asked for with GET, such as /healthz. Required.
	Path string
	// Interval is the time between two checks of a member. Zero means 5 seconds.
	Interval time.Duration
	// Timeout bounds one check. Zero means 2 seconds; at most Interval.
	Timeout time.Duration
	// Status is the status a healthy member answers. Zero means any 2xx.
	Status int
	// Healthy is how many successes in a row bring a member back. Zero means 2.
	Healthy int
	// Unhealthy is how many failures in a row take it out. Zero means 2.
	Unhealthy int
}

// withDefaults returns h with its zero values filled in, or nil for nil.
func (h *HealthCheck) withDefaults() *HealthCheck {
	if h == nil {
		return nil
	}
	c := *h
	if c.Interval == 0 {
		c.Interval = 5 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = min(2*time.Second, c.Interval)
	}
	if c.Healthy == 0 {
		c.Healthy = 2
	}
	if c.Unhealthy == 0 {
		c.Unhealthy = 2
	}
	return &c
}

func (h *HealthCheck) check() error {
	c := h.withDefaults()
	switch {
	case !strings.HasPrefix(c.Path, "/") || strings.ContainsAny(c.Path, " \r\n\x00#"):
		return fmt.Errorf("health path %q: want a path such as /healthz", c.Path)
	case c.Interval < 100*time.Millisecond:
		return fmt.Errorf("health interval %s: at least 100ms", c.Interval)
	case c.Timeout <= 0 || c.Timeout > c.Interval:
		return fmt.Errorf("health timeout %s: more than 0 and at most the interval (%s)", c.Timeout, c.Interval)
	case c.Status != 0 && (c.Status < 200 || c.Status > 599):
		return fmt.Errorf("health status %d: want 200 to 599", c.Status)
	case c.Healthy < 1 || c.Unhealthy < 1 || c.Healthy > 100 || c.Unhealthy > 100:
		return errors.New("health thresholds: want 1 to 100")
	}
	if _, err := url.ParseRequestURI(c.Path); err != nil {
		return fmt.Errorf("health path %q: %v", c.Path, err)
	}
	return nil
}

// check runs a member's active health check until ctx ends.
func (r *registry) check(ctx context.Context, m *member) {
	h := m.health
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	var ok, bad int
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := r.probe(ctx, m, h)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			ok, bad = ok+1, 0
			if m.down.Load() && ok >= h.Healthy {
				m.down.Store(false)
				m.log.Info("upstream healthy again", zap.String("upstream", m.label), zap.Int("checks_passed", ok))
			}
			continue
		}
		ok, bad = 0, bad+1
		if !m.down.Load() && bad >= h.Unhealthy {
			m.down.Store(true)
			m.log.Warn("upstream unhealthy", zap.String("upstream", m.label), zap.Int("checks_failed", bad), zap.Error(err))
		}
	}
}

// probe asks a member for the health path once.
func (r *registry) probe(ctx context.Context, m *member, h *HealthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	u := &url.URL{Scheme: m.scheme, Host: m.host}
	if i := strings.IndexByte(h.Path, '?'); i >= 0 {
		u.Path, u.RawQuery = h.Path[:i], h.Path[i+1:]
	} else {
		u.Path = h.Path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.URL.Scheme = m.scheme // NewRequest does not keep h2c
	req.Header.Set("User-Agent", "rampart-health-check")
	if strings.HasSuffix(m.host, unixHostSuffix) {
		req.Host = "localhost"
	}
	rt := r.transport()
	if rt == nil {
		return errors.New("no configuration yet")
	}
	res, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.CopyN(io.Discard, res.Body, 4<<10)
	res.Body.Close()
	if h.Status != 0 && res.StatusCode != h.Status || h.Status == 0 && (res.StatusCode < 200 || res.StatusCode > 299) {
		return fmt.Errorf("health check answered %d", res.StatusCode)
	}
	return nil
}
