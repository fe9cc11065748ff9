package main

import (
	"runtime"
	"runtime/debug"
)

// version is set at link time (-ldflags "-X main.version=v1.2.3"); empty
// means the module version from the build info.
var version string

// buildVersion is rampart's version, with the VCS revision when known.
func buildVersion() string {
	v := version
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = "+" + s.Value[:12]
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v + rev
}

func versionString() string { return "rampart " + buildVersion() + " " + runtime.Version() }
