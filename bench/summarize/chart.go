package main

import (
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
)

// chartMetrics are the bars of the chart: each is a ratio to the reference
// (higher is better, inverted for memory and latency).
// target is the project's goal as a ratio to nginx (issue 7), drawn as a
// mark across the group; 0 means none set in those terms.
var chartMetrics = []struct {
	scen, metric, label string
	target              float64
}{
	{"small", "rps", "keep-alive req/s", 0},
	{"small", "rps_per_core", "keep-alive per CPU-s", 0.8},
	{"h2", "rps", "HTTP/2 req/s", 0.5},
	{"64k", "MBps", "64 KiB MB/s", 0.9},
	{"1m", "MBps", "1 MiB MB/s", 0.95},
	{"post", "rps", "4 KiB POST req/s", 0},
	{"hs", "hs_per_s", "full handshakes/s", 0.95},
	{"hsres", "hs_per_s", "resumed handshakes/s", 0},
	{"mem", "kb_per_conn", "memory per idle conn", 0},
	{"lat", "p99_ms", "p99 at fixed rate", 0},
}

var chartColors = []string{"#1f6feb", "#d97706", "#059669", "#7c3aed", "#dc2626", "#6b7280"}

// writeChart draws, for each metric, one bar per config: its pinned-mode
// median as a ratio to ref's, with a line at 1 (the reference). Configs that
// are floors or ceilings rather than rivals (direct-tls, backend-plain) and
// ref itself are left out.
func writeChart(path string, vals map[key][]float64, proxies []string, ref, ref2 string) error {
	var bars []string
	for _, p := range proxies {
		if p != ref && p != "direct-tls" && p != "backend-plain" {
			bars = append(bars, p)
		}
	}
	// The project and the second reference first, so the eye finds them.
	slices.SortStableFunc(bars, func(a, b string) int { return rank(a, ref2) - rank(b, ref2) })
	ratio := func(p string, scen, metric string) (float64, bool) {
		r, ok := ratioTo(vals, "pinned", p, ref, scen, metric)
		return r, ok && r > 0 // a bar has a length
	}
	var metrics []int
	top := 1.0
	for i, m := range chartMetrics {
		for _, p := range bars {
			if r, ok := ratio(p, m.scen, m.metric); ok {
				top = max(top, r)
				if !slices.Contains(metrics, i) {
					metrics = append(metrics, i)
				}
			}
		}
	}
	if len(metrics) == 0 {
		return fmt.Errorf("summarize: nothing to chart against %s", ref)
	}
	top = math.Ceil(top*2) / 2
	const left, barH, width, plotW = 170.0, 11.0, 760.0, 540.0
	groupH := barH*float64(len(bars)) + 12
	height := 60 + groupH*float64(len(metrics)) + 20*float64(len(bars)) + 20
	x := func(r float64) float64 { return left + plotW*min(r, top)/top }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="10" y="18" font-size="13" font-weight="bold">Ratio to %s, measured in the same run (higher is better; memory and latency inverted)</text>`+"\n", ref)
	y0 := 34.0
	for t := 0.0; t <= top+1e-9; t += 0.5 {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%s"/>`+"\n",
			x(t), y0, x(t), y0+groupH*float64(len(metrics)), map[bool]string{true: "#111", false: "#ddd"}[t == 1], map[bool]string{true: "1.5", false: "1"}[t == 1])
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%.1f×</text>`+"\n", x(t), y0+groupH*float64(len(metrics))+14, t)
	}
	for gi, mi := range metrics {
		m := chartMetrics[mi]
		gy := y0 + groupH*float64(gi)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", left-8, gy+groupH/2+3, m.label)
		if ref == "nginx-1" && m.target > 0 {
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#111" stroke-width="2" stroke-dasharray="3,2"><title>target %.2f×</title></line>`+"\n",
				x(m.target), gy+2, x(m.target), gy+groupH-6, m.target)
		}
		for bi, p := range bars {
			r, ok := ratio(p, m.scen, m.metric)
			if !ok {
				continue
			}
			by := gy + 4 + barH*float64(bi)
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %.2f×</title></rect>`+"\n",
				left, by, x(r)-left, barH-2, chartColors[bi%len(chartColors)], p, m.label, r)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#333" font-size="9">%.2f</text>`+"\n", x(r)+3, by+barH-3, r)
		}
	}
	ly := y0 + groupH*float64(len(metrics)) + 30
	if ref == "nginx-1" {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#111" stroke-width="2" stroke-dasharray="3,2"/><text x="%.1f" y="%.1f">rampart's target</text>`+"\n",
			left+250, ly, left+250, ly+10, left+258, ly+9)
	}
	for bi, p := range bars {
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="10" height="10" fill="%s"/><text x="%.1f" y="%.1f">%s</text>`+"\n",
			left, ly+20*float64(bi), chartColors[bi%len(chartColors)], left+15, ly+20*float64(bi)+9, p)
	}
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func rank(p, ref2 string) int {
	switch {
	case p == "rampart":
		return 0
	case p == ref2:
		return 1
	}
	return 2
}
