package rampart_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// How README.md marks a block the test runs: words after the fence's
// language, which renderers do not show.
//
//	```sh test                  run it; it must exit 0
//	```sh test bg               start it and leave it running (a server) until the
//	                            README's next "## " section, then stop it as Ctrl-C does
//	```sh test retry            run it until it exits 0, for up to 3 minutes (what
//	                            follows a server that is still starting)
//	```sh test only=1           run only these lines of the block (1-based, comma-separated)
//	```sh test expect="text"    its output must hold text
//	```console test exit=2      "$ " lines are commands; the lines after each are
//	                            its output, exactly; exit=N is the status wanted
//
// Blocks run in order, with bash, in a copy of the repository's tracked files
// (a fresh clone, in effect) with a scratch HOME, and with the rampart built
// from that copy first on PATH, as if installed.

// readmeBlock is one fenced block marked as runnable.
type readmeBlock struct {
	line    int // where it starts in README.md
	section string
	lang    string
	script  string
	bg      bool
	retry   bool
	expect  string
	exit    int
}

// parseReadme returns README.md's runnable blocks.
func parseReadme(t *testing.T, data []byte) []readmeBlock {
	t.Helper()
	var blocks []readmeBlock
	var cur *readmeBlock
	var only map[int]bool
	var body []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "## "):
			section = strings.TrimPrefix(line, "## ")
		case cur == nil && strings.HasPrefix(line, "```"):
			words := infoWords(t, n, strings.TrimPrefix(line, "```"))
			if len(words) < 2 || words[1] != "test" {
				cur = &readmeBlock{line: -1} // not runnable; skip to its end
				continue
			}
			cur = &readmeBlock{line: n, section: section, lang: words[0]}
			only, body = nil, nil
			for _, w := range words[2:] {
				key, value, _ := strings.Cut(w, "=")
				switch key {
				case "bg":
					cur.bg = true
				case "retry":
					cur.retry = true
				case "expect":
					cur.expect = value
				case "exit":
					cur.exit, _ = strconv.Atoi(value)
				case "only":
					only = map[int]bool{}
					for _, s := range strings.Split(value, ",") {
						i, _ := strconv.Atoi(s)
						only[i] = true
					}
				default:
					t.Fatalf("README.md:%d: unknown marker %q", n, w)
				}
			}
		case cur != nil && strings.HasPrefix(line, "```"):
			if cur.line > 0 {
				cur.script = strings.Join(body, "\n") + "\n"
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil && cur.line > 0:
			if only == nil || only[len(body)+1] {
				body = append(body, line)
			} else {
				body = append(body, "") // keeps the numbering of the lines after
			}
		}
	}
	return blocks
}

// infoWords splits a fence's info string into words; a value may be quoted.
func infoWords(t *testing.T, n int, info string) []string {
	var words []string
	for info = strings.TrimSpace(info); info != ""; info = strings.TrimSpace(info) {
		end := strings.IndexByte(info, ' ')
		if i := strings.Index(info, `="`); i >= 0 && (end < 0 || i < end) {
			close := strings.IndexByte(info[i+2:], '"')
			if close < 0 {
				t.Fatalf("README.md:%d: unclosed quote in %q", n, info)
			}
			end = i + 2 + close + 1
			words = append(words, info[:i+1]+info[i+2:end-1])
			info = info[end:]
			continue
		}
		if end < 0 {
			end = len(info)
		}
		words = append(words, info[:end])
		info = info[end:]
	}
	return words
}

// TestReadmeCommands runs the README's runnable blocks as a newcomer would
// type them, so a documented command that stops working fails make test.
func TestReadmeCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the README's commands: builds, an image, a CA")
	}
	data, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseReadme(t, data)

	for _, tool := range []string{"bash", "curl", "openssl", "make", "git", "podman"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true: install it in .ci/run)", tool)
			}
			if tool != "podman" {
				t.Skipf("%s is missing", tool)
			}
		}
	}
	// The README's ports must be free: a server left on one would answer
	// for the README's own.
	for _, port := range []string{"8443", "8080", "8081", "8444", "9090", "14000", "15000", "8053", "8055"} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 200*time.Millisecond); err == nil {
			c.Close()
			t.Fatalf("127.0.0.1:%s is in use; the README's commands need it (stop what listens there)", port)
		}
	}
	// Every command ends before the test's own deadline, so a stop never
	// leaves a server of the README's running.
	deadline := time.Now().Add(30 * time.Minute)
	if d, ok := t.Deadline(); ok {
		deadline = d.Add(-30 * time.Second)
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	env := scratchEnvironment(t)
	env.ctx = ctx

	t.Cleanup(func() {
		// What the README must keep runnable: the demo and its curl, the error
		// example, trying ACME locally, and the image tag.
		all := ""
		for _, b := range blocks {
			all += b.script
		}
		for _, want := range []string{"go run ./cmd/rampart demo", "curl --cacert ~/.cache/rampart-demo/", "--tls-min-version 1.1",
			"make acme-local", "--cacert bin/acme-local/pebble-root.pem", "make image", "localhost/rampart:latest"} {
			if !strings.Contains(all, want) {
				t.Errorf("no runnable README block holds %q", want)
			}
		}
	})
	var running []*bgBlock
	stopAll := func() {
		for _, r := range running {
			r.stop(t)
		}
		running = nil
	}
	defer stopAll()
	section := ""
	for _, b := range blocks {
		if b.section != section {
			stopAll()
			section = b.section
		}
		where := fmt.Sprintf("README.md:%d (%s)", b.line, b.section)
		if _, err := exec.LookPath("podman"); err != nil && strings.Contains(b.script, "podman") {
			t.Logf("%s: skipped: podman is missing", where)
			continue
		}
		switch {
		case b.lang == "console":
			runConsole(t, where, b, env)
		case b.bg:
			running = append(running, startBlock(t, where, b, env))
		default:
			runBlock(t, where, b, env, running)
		}
		if t.Failed() {
			return
		}
	}
}

// readmeEnv is where the blocks run.
type readmeEnv struct {
	dir string          // the copy of the repository
	env []string        // HOME and PATH scratch; Go's caches shared
	ctx context.Context // ends before the test's deadline
}

// scratchEnvironment copies the tracked files into a scratch directory and
// builds rampart from it onto a scratch PATH.
func scratchEnvironment(t *testing.T) readmeEnv {
	t.Helper()
	root := t.TempDir()
	dir, home, bin := filepath.Join(root, "rampart"), filepath.Join(root, "home"), filepath.Join(root, "bin")
	files, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(files), "\x00"), "\x00") {
		data, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		} else if err != nil {
			t.Fatal(err)
		}
		fi, _ := os.Stat(f)
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{home, bin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	goenv := func(name string) string {
		out, err := exec.Command("go", "env", name).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(out))
	}
	// podman on these machines needs no default ulimits and runc (the
	// machine's notes); a user's podman needs neither, so the README says
	// nothing of it.
	conf := filepath.Join(root, "containers.conf")
	if err := os.WriteFile(conf, []byte("[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = \"runc\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME" || k == "PATH" || strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "RAMPART_"):
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "PATH="+bin+":"+os.Getenv("PATH"), "CONTAINERS_CONF="+conf,
		"GOCACHE="+goenv("GOCACHE"), "GOMODCACHE="+goenv("GOMODCACHE"), "GOPATH="+goenv("GOPATH"))
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "rampart"), "./cmd/rampart")
	build.Dir, build.Env = dir, env
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building rampart in the copy: %v\n%s", err, out)
	}
	return readmeEnv{dir: dir, env: env}
}

func (e readmeEnv) command(ctx context.Context, script string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir, cmd.Env = e.dir, e.env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// runBlock runs a block to its end (again and again, with retry).
func runBlock(t *testing.T, where string, b readmeBlock, e readmeEnv, running []*bgBlock) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(e.ctx, 15*time.Minute)
		out, err := e.command(ctx, b.script).CombinedOutput()
		cancel()
		if err == nil && strings.Contains(string(out), b.expect) {
			t.Logf("%s: ok (attempt %d)", where, attempt)
			return
		}
		for _, r := range running {
			if r.exited() {
				t.Fatalf("%s: the server started before it stopped:\n%s", where, r.out.String())
			}
		}
		if !b.retry || time.Now().After(deadline) {
			for _, r := range running {
				t.Logf("%s is running; its output so far:\n%s", r.where, r.out.String())
			}
			t.Fatalf("%s: %v; want exit 0 and output holding %q\n%s\n%s", where, err, b.expect, b.script, out)
		}
		time.Sleep(time.Second)
	}
}

// runConsole runs each "$ " command and compares its output.
func runConsole(t *testing.T, where string, b readmeBlock, e readmeEnv) {
	t.Helper()
	var cmds, outs []string
	for _, line := range strings.Split(strings.TrimSuffix(b.script, "\n"), "\n") {
		if c, ok := strings.CutPrefix(line, "$ "); ok {
			cmds, outs = append(cmds, c), append(outs, "")
		} else if len(outs) > 0 {
			outs[len(outs)-1] += line + "\n"
		}
	}
	for i, c := range cmds {
		ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
		out, err := e.command(ctx, c).CombinedOutput()
		cancel()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%s: %s: %v", where, c, err)
		}
		if code != b.exit || string(out) != outs[i] {
			t.Errorf("%s: $ %s\nexit %d, printed:\n%s\nthe README shows exit %d and:\n%s", where, c, code, out, b.exit, outs[i])
		} else {
			t.Logf("%s: $ %s: exit %d and the output shown", where, c, code)
		}
	}
}

// bgBlock is a block left running.
type bgBlock struct {
	where string
	cmd   *exec.Cmd
	out   *lockedBuffer
	done  chan struct{}
}

func startBlock(t *testing.T, where string, b readmeBlock, e readmeEnv) *bgBlock {
	t.Helper()
	r := &bgBlock{where: where, out: &lockedBuffer{}, done: make(chan struct{})}
	r.cmd = e.command(e.ctx, b.script)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.done) }()
	t.Logf("%s: started", where)
	return r
}

func (r *bgBlock) exited() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// stop sends Ctrl-C's signal to the block's process group and waits; what
// does not stop within 30 s fails the test and is killed.
func (r *bgBlock) stop(t *testing.T) {
	t.Helper()
	if r.exited() {
		t.Errorf("%s: ended before it was stopped (%v):\n%s", r.where, r.cmd.ProcessState, r.out.String())
		return
	}
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-r.done:
		t.Logf("%s: stopped by Ctrl-C", r.where)
	case <-time.After(30 * time.Second):
		t.Errorf("%s: still running 30s after Ctrl-C\n%s", r.where, r.out.String())
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.done
	}
	// Nothing of it is left: the process group empties within 10 s.
	for i := 0; syscall.Kill(-r.cmd.Process.Pid, 0) == nil; i++ {
		if i == 100 {
			t.Errorf("%s: processes of the block outlived Ctrl-C by 10s", r.where)
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var _ io.Writer = (*lockedBuffer)(nil)

// TestShellScripts: the scripts a user runs (deploy/) and CI's entry point
// pass shellcheck. (bench/run.sh splits words on purpose and is left out.)
func TestShellScripts(t *testing.T) {
	bin, err := exec.LookPath("shellcheck")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("shellcheck is missing (CI=true: install it in .ci/run)")
		}
		t.Skip("shellcheck is missing")
	}
	scripts, _ := filepath.Glob("deploy/*/*.sh")
	scripts = append(scripts, ".ci/run", ".ci/kube/build")
	if len(scripts) < 3 {
		t.Fatalf("found only %v", scripts)
	}
	if out, err := exec.Command(bin, scripts...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck %v: %v\n%s", scripts, err, out)
	}
}

// TestReadmePCITestsExist: every test the README's PCI DSS section names as
// proof is a test of this module, so the table cannot outlive its evidence.
func TestReadmePCITestsExist(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## PCI DSS\n")
	if !ok {
		t.Fatal("README has no PCI DSS section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(section, -1)
	if len(names) < 10 {
		t.Fatalf("the PCI DSS section names %d tests; want its table's proofs", len(names))
	}
	out, err := exec.Command("git", "grep", "-h", "-o", "^func Test[A-Za-z0-9_]*(", "--", "*_test.go").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(string(out), "func "+n[1]+"(") {
			t.Errorf("the PCI DSS section names %s, which no test file defines", n[1])
		}
	}
}
