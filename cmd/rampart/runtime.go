package main

import (
	"path"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
)

// Go's runtime sizes GOMAXPROCS from the cgroup's CPU limit on its own (Go
// 1.25 and later, never below 2), but not its heap: in a container whose
// memory is capped, a burst of connections grows the heap until the kernel
// kills the process, while the garbage collector had room to work harder.
// rampart gives the collector a soft limit at 90% of the cgroup's memory,
// unless GOMEMLIMIT says otherwise.

// memoryLimitShare is the part of the cgroup's memory given to Go's soft limit:
// the rest is for the stacks, the kernel's socket buffers and the binary.
const memoryLimitShare = 0.9

// noMemoryLimit is where cgroup v1 says "unlimited" (a page-rounded
// 2^63-1); anything from here up is taken as no limit.
const noMemoryLimit = 1 << 62

// containerMemoryLimit reads this process's cgroup memory limit (v2
// memory.max, or v1 memory.limit_in_bytes) through readFile, or reports
// false when there is none. /proc/self/cgroup names the cgroup; in a
// container without a cgroup namespace that path is the host's, and the
// container sees its own cgroup at the mount's root instead, so both are
// tried, the named one first.
func containerMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	var candidates []string
	if b, err := readFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) != 3 {
				continue
			}
			switch {
			case parts[0] == "0" && parts[1] == "": // v2
				candidates = append(candidates, path.Join("/sys/fs/cgroup", parts[2], "memory.max"), "/sys/fs/cgroup/memory.max")
			case slices.Contains(strings.Split(parts[1], ","), "memory"): // v1
				candidates = append(candidates, path.Join("/sys/fs/cgroup/memory", parts[2], "memory.limit_in_bytes"), "/sys/fs/cgroup/memory/memory.limit_in_bytes")
			}
		}
	}
	for _, name := range candidates {
		b, err := readFile(name)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // v2's "max" means none
		if err != nil || n <= 0 || n >= noMemoryLimit {
			return 0, false
		}
		return n, true
	}
	return 0, false
}

// applyMemoryLimit sets the soft memory limit from the container's, unless
// GOMEMLIMIT is set, and returns the limit in force (0: none).
func applyMemoryLimit(getenv func(string) string, readFile func(string) ([]byte, error)) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return debug.SetMemoryLimit(-1) // the runtime read it already; -1 only reads it back
	}
	n, ok := containerMemoryLimit(readFile)
	if !ok {
		return 0
	}
	limit := int64(float64(n) * memoryLimitShare)
	debug.SetMemoryLimit(limit)
	return limit
}
