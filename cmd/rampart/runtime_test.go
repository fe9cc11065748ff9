package main

import (
	"io/fs"
	"runtime/debug"
	"testing"
)

func fakeFiles(files map[string]string) func(string) ([]byte, error) {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestContainerMemoryLimit(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  int64
		ok    bool
	}{
		{"container (cgroup namespace)", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "268435456\n"}, 268435456, true},
		{"systemd unit", map[string]string{"/proc/self/cgroup": "0::/system.slice/rampart.service\n", "/sys/fs/cgroup/system.slice/rampart.service/memory.max": "536870912\n"}, 536870912, true},
		{"v2 container without a cgroup namespace", map[string]string{"/proc/self/cgroup": "0::/machine.slice/libpod-1.scope\n", "/sys/fs/cgroup/memory.max": "268435456\n"}, 268435456, true},
		{"no limit", map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "max\n"}, 0, false},
		{"v1 container (podman, cgroupfs)", map[string]string{
			"/proc/self/cgroup":                           "5:pids:/libpod_parent/libpod-1\n4:memory:/libpod_parent/libpod-1\n1:cpu:/libpod_parent/libpod-1\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes": "268435456\n"}, 268435456, true},
		{"v1 systemd unit", map[string]string{
			"/proc/self/cgroup": "4:memory:/system.slice/rampart.service\n",
			"/sys/fs/cgroup/memory/system.slice/rampart.service/memory.limit_in_bytes": "536870912\n",
			"/sys/fs/cgroup/memory/memory.limit_in_bytes":                              "9223372036854771712\n"}, 536870912, true},
		{"v1 unlimited", map[string]string{"/proc/self/cgroup": "4:memory:/\n", "/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, false},
		{"nothing readable", map[string]string{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := containerMemoryLimit(fakeFiles(tt.files))
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestApplyMemoryLimit(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1)) // put back what the test process had
	files := fakeFiles(map[string]string{"/proc/self/cgroup": "0::/\n", "/sys/fs/cgroup/memory.max": "1000000000\n"})
	if got := applyMemoryLimit(func(string) string { return "" }, files); got != 900_000_000 {
		t.Errorf("limit %d; want 900000000 (90%% of the cgroup's)", got)
	}
	if got := debug.SetMemoryLimit(-1); got != 900_000_000 {
		t.Errorf("runtime's limit %d; want 900000000", got)
	}
	// GOMEMLIMIT set by the operator wins: the runtime's value is left alone.
	debug.SetMemoryLimit(123 << 20)
	if got := applyMemoryLimit(func(k string) string { return map[string]string{"GOMEMLIMIT": "123MiB"}[k] }, files); got != 123<<20 {
		t.Errorf("limit %d with GOMEMLIMIT set; want the runtime's %d", got, 123<<20)
	}
}
