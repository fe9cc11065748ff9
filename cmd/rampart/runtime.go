package main

import (
	"path"
	"runtime/debug"
	"strconv"
	"strings"
)

// Go's runtime sizes GOMAXPROCS from the cgroup's CPU limit on its own (Go
// 1.25 and later), but not its heap: in a container whose memory is capped,
// a burst of connections grows the heap until the kernel kills the process,
// while the garbage collector had room to work harder. rampart gives the
// collector a soft limit at 90% of the cgroup's memory, unless GOMEMLIMIT
// says otherwise.

// memoryLimitShare is the part of the cgroup's memory given to Go's soft limit:
// the rest is for the stacks, the kernel's socket buffers and the binary.
const memoryLimitShare = 0.9

// containerMemoryLimit reads the cgroup v2 memory limit of this process
// through readFile (rooted at /), or reports false when there is none.
func containerMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	dir := "/sys/fs/cgroup"
	if b, err := readFile("/proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if p, ok := strings.CutPrefix(line, "0::"); ok { // the v2 hierarchy
				dir = path.Join(dir, p)
			}
		}
	}
	b, err := readFile(path.Join(dir, "memory.max"))
	if err != nil {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64) // "max" means none
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
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
