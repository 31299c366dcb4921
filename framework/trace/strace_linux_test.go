package trace

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// straceLine is one strace -T sendfile line: "sendfile(4, 3, NULL,
// 16777216) = 16777216 <0.011234>".
var straceLine = regexp.MustCompile(`^(?:\d+ +)?sendfile(?:64)?\(.*\) += (-?\d+).* <(\d+\.\d+)>$`)

// evict drops a file's pages from the page cache, for a cold copy.
func evict(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

// TestTraceMatchesStrace traces a BusyBox cp of 256 MiB that strace -T
// watches too: the same 16 calls of 16 MiB, each within 5% or 50 µs of
// strace's time (strace's includes its own ptrace stops, so it is the
// larger by tens of microseconds: run where the CPUs are busy, it needs
// chrt's real-time priority to stay that close).
func TestTraceMatchesStrace(t *testing.T) {
	needRoot(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (apt-get install busybox-static)")
	}
	st, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("needs strace (apt-get install strace)")
	}
	cg := testCgroup(t, "pids")
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	makeFile(t, src, 256<<20)
	// strace's timestamps are taken when it is woken at each ptrace stop:
	// on a host busy with other work a stop can wait milliseconds for a
	// CPU even at real-time priority, so a run whose calls strace timed
	// late is tried again, up to three runs.
	var fails []string
	for attempt := 1; attempt <= 3; attempt++ {
		table, mismatches := compareWithStrace(t, cg, bb, st, src, filepath.Join(dir, fmt.Sprintf("strace-%d.log", attempt)))
		t.Logf("BusyBox cp of 256 MiB, cold source, run %d:\n%s", attempt, table)
		if len(mismatches) == 0 {
			return
		}
		fails = append(fails, fmt.Sprintf("run %d: %s", attempt, strings.Join(mismatches, "; ")))
	}
	if load, cpus := loadAverage(t), runtime.NumCPU(); load > float64(cpus) {
		t.Skipf("strace -T's own timing is late in every run on this host (load average %.1f on %d CPUs); the calls and bytes matched, the trace's times never exceeded strace's:\n%s",
			load, cpus, strings.Join(fails, "\n"))
	}
	t.Errorf("the trace and strace -T disagree in every run:\n%s", strings.Join(fails, "\n"))
}

// loadAverage is the host's 1-minute load average.
func loadAverage(t *testing.T) float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	f, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// compareWithStrace copies src under strace -T while tracing, and returns
// the table of both timings and the calls more than 5% or 50 µs apart. A
// different number of calls or bytes is fatal.
func compareWithStrace(t *testing.T, cg Cgroup, bb, st, src, log string) (string, []string) {
	t.Helper()
	ctx := t.Context()
	dst := src + ".dst"
	evict(t, src)
	tr, err := Start(ctx, Options{Cgroup: cg, Syscalls: []Syscall{Sendfile}})
	if err != nil {
		t.Fatal(err)
	}
	// Real-time priority keeps strace's own timestamps, taken when it is
	// woken at each ptrace stop, from waiting behind other work for a CPU.
	argv := []string{st, "-f", "-T", "-e", "trace=sendfile", "-o", log, bb, "cp", src, dst}
	if chrt, err := exec.LookPath("chrt"); err == nil {
		argv = append([]string{chrt, "--fifo", "10"}, argv...)
	}
	out, runErr := runIn(ctx, cg, argv...)
	res, err := tr.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if runErr != nil {
		t.Fatalf("strace cp: %v: %s", runErr, out)
	}
	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type call struct {
		ret int64
		ns  int64
	}
	var strace []call
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := straceLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		ret, _ := strconv.ParseInt(m[1], 10, 64)
		sec, _ := strconv.ParseFloat(m[2], 64)
		strace = append(strace, call{ret, int64(sec * 1e9)})
	}
	var traced []call
	for _, s := range res.Samples {
		traced = append(traced, call{s.Ret, s.Ns})
	}
	if len(strace) != len(traced) {
		t.Fatalf("strace saw %d sendfile calls, the trace %d: %v vs %v", len(strace), len(traced), strace, traced)
	}
	var data int
	var mismatches []string
	var b strings.Builder
	b.WriteString("| call | bytes | strace -T | trace | difference |\n|---:|---:|---:|---:|---:|\n")
	for i := range strace {
		s, tc := strace[i], traced[i]
		if s.ret != tc.ret {
			t.Fatalf("call %d: strace returned %d, the trace %d", i+1, s.ret, tc.ret)
		}
		if s.ret == 16<<20 {
			data++
		}
		diff := s.ns - tc.ns
		fmt.Fprintf(&b, "| %d | %d | %s | %s | %+.1f µs (%+.2f%%) |\n", i+1, s.ret, time.Duration(s.ns), time.Duration(tc.ns),
			float64(diff)/1e3, 100*float64(diff)/float64(max(s.ns, 1)))
		// strace's interval holds the kernel's: its entry stop comes before
		// sys_enter, its exit stop after sys_exit.
		if diff < -50_000 {
			t.Errorf("call %d: the trace's %v is longer than strace's %v", i+1, time.Duration(tc.ns), time.Duration(s.ns))
		}
		// The end-of-file call (0 bytes) is strace's fixed cost of tens of
		// microseconds against a few of the kernel's; it is no call of a
		// report either.
		if s.ret > 0 && abs(diff) > max(50_000, s.ns/20) {
			mismatches = append(mismatches, fmt.Sprintf("call %d: strace %v, trace %v", i+1, time.Duration(s.ns), time.Duration(tc.ns)))
		}
	}
	if data != 16 {
		t.Fatalf("%d calls of 16 MiB, want 16", data)
	}
	return b.String(), mismatches
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
