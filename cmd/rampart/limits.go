package main

import (
	"fmt"
	"strconv"
	"time"

	conffile "github.com/rampart-proxy/rampart/config"
	"github.com/rampart-proxy/rampart/proxy"
)

// rawLimits are the limit settings as given.
type rawLimits struct {
	maxHeaderBytes, maxBodySize, maxConns, maxConnsPerIP, minBodyRate string
	readHeaderTimeout, bodyIdleTimeout, writeIdleTimeout, idleTimeout string
	upstreamDialTimeout, shutdownDelay, maxRanges, minResponseRate    string
	ipv6ClientPrefix                                                  string
}

// limits are the validated limits.
type limits struct {
	maxHeaderBytes      int
	readHeaderTimeout   time.Duration
	idleTimeout         time.Duration
	conns               proxy.ConnLimits
	request             proxy.Limits
	upstreamDialTimeout time.Duration
	shutdownDelay       time.Duration
}

func addLimitFlags(fs flagSet, r *rawLimits) {
	fs.StringVar(&r.maxHeaderBytes, "max-header-bytes", "32KiB", "largest request header block; larger gets 431")
	fs.StringVar(&r.maxBodySize, "max-body-size", "10MiB", "largest request body; larger gets 413")
	fs.StringVar(&r.maxConns, "max-conns", "8192", "most client connections open at once; 0 for no limit")
	fs.StringVar(&r.maxConnsPerIP, "max-conns-per-ip", "256", "most client connections from one address; 0 for no limit")
	fs.StringVar(&r.readHeaderTimeout, "read-header-timeout", "10s", "time a client has to send its request headers")
	fs.StringVar(&r.bodyIdleTimeout, "body-idle-timeout", "30s", "how long a request body may stall; past it 408")
	fs.StringVar(&r.minBodyRate, "min-body-rate", "1024", "slowest average request body rate in bytes/s, judged after 10s; 0 disables")
	fs.StringVar(&r.writeIdleTimeout, "write-idle-timeout", "30s", "how long one write to a client that stops reading may block")
	fs.StringVar(&r.idleTimeout, "idle-timeout", "120s", "how long an idle keep-alive connection stays open")
	fs.StringVar(&r.upstreamDialTimeout, "upstream-dial-timeout", "5s", "time to connect to the app; past it 502")
	fs.StringVar(&r.shutdownDelay, "shutdown-delay", "5s", "on SIGTERM, how long /readyz answers 503 while rampart still serves, before it drains")
	fs.StringVar(&r.maxRanges, "max-ranges", "100", "most byte ranges one request may ask for; more get 416; 0 for no limit")
	fs.StringVar(&r.minResponseRate, "min-response-rate", "1024", "slowest rate in bytes/s a client may read a response at, judged after 10s of writes waiting on it; 0 disables")
	fs.StringVar(&r.ipv6ClientPrefix, "ipv6-client-prefix", "64", "IPv6 clients are counted by this prefix for --max-conns-per-ip (one host usually holds a /64); 128 counts each address")
}

// flagSet is the part of *flag.FlagSet that addLimitFlags needs.
type flagSet interface {
	StringVar(p *string, name, value, usage string)
}

func validateLimits(r *rawLimits, bad func(flagName, problem, fix string) error) (limits, error) {
	var l limits
	var err error
	size := func(name, v string, dst *int64) error {
		n, e := parseSize(v)
		if e != nil || n <= 0 {
			return bad(name, fmt.Sprintf("%q is not a positive size", v), "use bytes or a KiB/MiB/GiB suffix, such as 32KiB")
		}
		*dst = n
		return nil
	}
	count := func(name, v string, dst *int) error {
		n, e := strconv.Atoi(v)
		if e != nil || n < 0 {
			return bad(name, fmt.Sprintf("%q is not a count", v), "use a whole number, or 0 for no limit")
		}
		*dst = n
		return nil
	}
	dur := func(name, v string, dst *time.Duration, zeroOK bool) error {
		d, e := time.ParseDuration(v)
		if e != nil || d < 0 || (d == 0 && !zeroOK) {
			return bad(name, fmt.Sprintf("%q is not a usable duration", v), "use a duration such as 30s")
		}
		*dst = d
		return nil
	}
	var headerBytes int64
	var rate, ranges, responseRate int
	for _, step := range []func() error{
		func() error { return size("max-header-bytes", r.maxHeaderBytes, &headerBytes) },
		func() error { return size("max-body-size", r.maxBodySize, &l.request.MaxBodyBytes) },
		func() error { return count("max-conns", r.maxConns, &l.conns.Max) },
		func() error { return count("max-conns-per-ip", r.maxConnsPerIP, &l.conns.PerIP) },
		func() error { return count("min-body-rate", r.minBodyRate, &rate) },
		func() error { return dur("read-header-timeout", r.readHeaderTimeout, &l.readHeaderTimeout, false) },
		func() error { return dur("body-idle-timeout", r.bodyIdleTimeout, &l.request.BodyIdleTimeout, false) },
		func() error { return dur("write-idle-timeout", r.writeIdleTimeout, &l.request.WriteIdleTimeout, false) },
		func() error { return dur("idle-timeout", r.idleTimeout, &l.idleTimeout, false) },
		func() error {
			return dur("upstream-dial-timeout", r.upstreamDialTimeout, &l.upstreamDialTimeout, false)
		},
		func() error { return dur("shutdown-delay", r.shutdownDelay, &l.shutdownDelay, true) },
		func() error { return count("max-ranges", r.maxRanges, &ranges) },
		func() error { return count("min-response-rate", r.minResponseRate, &responseRate) },
		func() error { return count("ipv6-client-prefix", r.ipv6ClientPrefix, &l.conns.IPv6Prefix) },
	} {
		if err = step(); err != nil {
			return l, err
		}
	}
	if headerBytes < 4<<10 || headerBytes > 1<<20 {
		return l, bad("max-header-bytes", fmt.Sprintf("%d bytes is outside 4KiB–1MiB", headerBytes), "use a size such as 32KiB")
	}
	l.maxHeaderBytes = int(headerBytes)
	if l.conns.IPv6Prefix < 16 || l.conns.IPv6Prefix > 128 {
		return l, bad("ipv6-client-prefix", fmt.Sprintf("%d is not a prefix length from 16 to 128", l.conns.IPv6Prefix), "use 64 (a host's usual share), 56 or 48 for a site, 128 for single addresses")
	}
	l.request.MinResponseRate = int64(responseRate)
	if responseRate == 0 {
		l.request.MinResponseRate = -1 // proxy.Limits: negative disables
	}
	l.request.MaxRanges = ranges
	if ranges == 0 {
		l.request.MaxRanges = -1 // proxy.Limits: negative is no limit
	}
	l.request.MinBodyRate = int64(rate)
	if rate == 0 {
		l.request.MinBodyRate = -1 // proxy.Limits: negative disables
	}
	return l, nil
}

// parseSize reads a size flag: config's reading, so the flag and the file agree.
func parseSize(s string) (int64, error) { return conffile.ParseSize(s) }
