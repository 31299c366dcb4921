package trace

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/probe"
	"golang.org/x/sys/unix"
)

// needRoot skips a test that loads BPF programs or makes cgroups.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs and makes cgroups (run the tests as root, as CI does)")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("needs a kernel with BTF (/sys/kernel/btf/vmlinux)")
	}
}

// testCgroup makes a cgroup for the test in the hierarchy ("unified" or a
// v1 controller) and removes it at the end.
// pidsCgroups makes a test cgroup in the pids hierarchy (which the tracer
// uses on this host) and returns it, this process's own cgroup (home), and
// a function moving this process into a cgroup's directory.
func pidsCgroups(t *testing.T) (cg, home Cgroup, move func(dir string)) {
	t.Helper()
	cg = testCgroup(t, "pids")
	home, err := CgroupOfPID("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if home.Controller != "pids" {
		t.Skipf("this host's cgroup for tracing is %s, not pids", home.Controller)
	}
	move = func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			t.Fatal(err)
		}
	}
	return cg, home, move
}

func testCgroup(t testing.TB, hierarchy string) Cgroup {
	t.Helper()
	mounts, err := cgroupMounts("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var root string
	for _, m := range mounts {
		if (hierarchy == "unified" && m.v2) || (hierarchy != "unified" && !m.v2 && len(m.controllers) > 0 && m.controllers[0] == hierarchy) {
			root = m.dir
		}
	}
	if root == "" {
		t.Skipf("no %s cgroup hierarchy mounted on this host", hierarchy)
	}
	name := fmt.Sprintf("pvreboot-trace-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The processes have exited; an empty cgroup is removed with rmdir.
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	v, ctrl := 1, hierarchy
	if hierarchy == "unified" {
		v, ctrl = 2, ""
	}
	cg, err := newCgroup(v, ctrl, root, "/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return cg
}

// runIn runs argv as a process of the cgroup: a fixed shell moves itself
// into it, then execs argv (values are positional parameters, never text).
func runIn(ctx context.Context, cg Cgroup, argv ...string) ([]byte, error) {
	args := append([]string{"-c", `echo $$ > "$1" && shift && exec "$@"`, "sh", filepath.Join(cg.Dir, "cgroup.procs")}, argv...)
	return exec.CommandContext(ctx, "/bin/sh", args...).CombinedOutput()
}

func makeFile(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for n := int64(0); n < size; n += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestTraceBusyboxCp(t *testing.T) {
	needRoot(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (apt-get install busybox-static)")
	}
	for _, h := range []string{"pids", "unified"} {
		t.Run(h, func(t *testing.T) {
			ctx := t.Context()
			cg := testCgroup(t, h)
			dir := t.TempDir()
			src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
			makeFile(t, src, 64<<20)
			tr, err := Start(ctx, Options{Cgroup: cg, Syscalls: []Syscall{Sendfile, Read, Write}})
			if err != nil {
				t.Fatal(err)
			}
			out, runErr := runIn(ctx, cg, bb, "cp", src, dst)
			// A copy outside the cgroup must not be counted.
			if out, err := exec.CommandContext(ctx, bb, "cp", src, dst+".outside").CombinedOutput(); err != nil {
				t.Fatalf("cp outside: %v: %s", err, out)
			}
			res, err := tr.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if runErr != nil {
				t.Fatalf("cp: %v: %s", runErr, out)
			}
			var data, eof int
			for _, s := range res.Samples {
				switch {
				case s.Syscall != Sendfile:
				case s.Ret == 16<<20 && s.Ns > 0:
					data++
				case s.Ret == 0:
					eof++
				default:
					t.Errorf("sample %+v: want 16 MiB in a positive time, or the 0 of end of file", s)
				}
			}
			if data != 4 || eof != 1 {
				t.Fatalf("got %d sendfile calls of 16 MiB and %d of 0 bytes, want 4 and 1 (64 MiB in 16 MiB calls, then EOF): %+v", data, eof, res.Samples)
			}
			st := res.Syscalls[0]
			if st.Calls != 5 || st.Bytes != 64<<20 || st.Dropped != 0 {
				t.Errorf("kernel counts %+v: want 5 calls of 64 MiB in all, none dropped", st)
			}
			rep := ProbeReport(res, Sendfile, nil, probe.Env{})
			if rep.Method != "trace:sendfile" || rep.Summary.Calls != 4 || rep.ChunkBytes != 16<<20 || rep.FileBytes != 64<<20 {
				t.Errorf("probe report: method %s, %d calls, chunk %d, file %d; want trace:sendfile, 4 calls of 16 MiB, 64 MiB", rep.Method, rep.Summary.Calls, rep.ChunkBytes, rep.FileBytes)
			}
			var hist uint64
			for _, b := range st.Histogram {
				hist += b.Count
			}
			if hist != 5 {
				t.Errorf("histogram %+v holds %d calls, want 5", st.Histogram, hist)
			}
		})
	}
}

// TestTraceExclude leaves this test's own process out, by immediate
// compares (a few) and by the map (many): its own sendfile is not counted,
// a child's is.
func TestTraceExclude(t *testing.T) {
	needRoot(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (apt-get install busybox-static)")
	}
	for _, n := range []int{1, maxExcludeImm + 4} {
		t.Run(fmt.Sprintf("exclude=%d", n), func(t *testing.T) {
			cg, home, move := pidsCgroups(t)
			move(cg.Dir)
			defer move(home.Dir)
			exclude := []int{os.Getpid()}
			for i := 1; len(exclude) < n; i++ {
				exclude = append(exclude, 1<<22+i) // beyond pid_max's default, no process
			}
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			makeFile(t, src, 4<<20)
			tr, err := Start(t.Context(), Options{Cgroup: cg, Syscalls: []Syscall{Sendfile}, Exclude: exclude})
			if err != nil {
				t.Fatal(err)
			}
			in, err := os.Open(src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(src + ".self")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := unix.Sendfile(int(out.Fd()), int(in.Fd()), nil, 1<<20); err != nil {
				t.Fatal(err)
			}
			in.Close()
			out.Close()
			// The child is a new process of the cgroup: counted.
			if out, err := exec.CommandContext(t.Context(), bb, "cp", src, src+".child").CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
			res, err := tr.Stop()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Samples {
				if s.PID == os.Getpid() {
					t.Errorf("sample of the excluded process: %+v", s)
				}
			}
			if got := res.Syscalls[0].Calls; got != 2 {
				t.Errorf("%d sendfile calls, want the child's 2 (4 MiB, then end of file)", got)
			}
		})
	}
}

// TestTraceManyCalls makes more calls than a batch holds, many times over:
// with a ring buffer of plenty every call has its sample, sent in batches
// or left in a CPU's batch at Stop; with a ring of one page most batches
// are dropped, and each call is a sample or a drop, never both or neither.
func TestTraceManyCalls(t *testing.T) {
	needRoot(t)
	const calls = 20000
	for _, ring := range []int{DefaultRingBytes, os.Getpagesize()} {
		t.Run(fmt.Sprintf("ring=%d", ring), func(t *testing.T) {
			cg, home, move := pidsCgroups(t)
			zero, err := os.Open("/dev/zero")
			if err != nil {
				t.Fatal(err)
			}
			defer zero.Close()
			tr, err := Start(t.Context(), Options{Cgroup: cg, Syscalls: []Syscall{Pread64}, RingBytes: ring})
			if err != nil {
				t.Fatal(err)
			}
			move(cg.Dir)
			buf := make([]byte, 1)
			for range calls {
				if _, err := unix.Pread(int(zero.Fd()), buf, 0); err != nil {
					move(home.Dir)
					t.Fatal(err)
				}
			}
			move(home.Dir)
			res, err := tr.Stop()
			if err != nil {
				t.Fatal(err)
			}
			st := res.Syscalls[0]
			var hist uint64
			for _, b := range st.Histogram {
				hist += b.Count
			}
			if st.Calls != calls || st.Bytes != calls || hist != calls {
				t.Fatalf("kernel counts: %d calls of %d bytes, %d in the histogram; want %d of 1 byte each", st.Calls, st.Bytes, hist, calls)
			}
			var samples uint64
			for _, s := range res.Samples {
				if s.Syscall != Pread64 || s.Ret != 1 || s.PID != os.Getpid() {
					t.Fatalf("sample %+v: want a pread64 of 1 byte by pid %d", s, os.Getpid())
				}
				samples++
			}
			if samples+st.Dropped != calls {
				t.Errorf("%d samples and %d dropped, want %d calls in all", samples, st.Dropped, calls)
			}
			if ring == DefaultRingBytes && st.Dropped != 0 {
				t.Errorf("%d samples dropped from a ring of %d bytes", st.Dropped, ring)
			}
			t.Logf("%d calls: %d samples, %d dropped", calls, samples, st.Dropped)
		})
	}
}

// TestTraceMoves moves this test's process into the cgroup, out and in
// again: a thread keeps whether it is of the cgroup until a move, so the
// calls made outside must not count and those made back inside must.
func TestTraceMoves(t *testing.T) {
	needRoot(t)
	cg, home, move := pidsCgroups(t)
	defer move(home.Dir)
	zero, err := os.Open("/dev/zero")
	if err != nil {
		t.Fatal(err)
	}
	defer zero.Close()
	preads := func(n int) {
		buf := make([]byte, n)
		for i := range n {
			if _, err := unix.Pread(int(zero.Fd()), buf[:i+1], 0); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr, err := Start(t.Context(), Options{Cgroup: cg, Syscalls: []Syscall{Pread64}})
	if err != nil {
		t.Fatal(err)
	}
	move(cg.Dir)
	preads(10) // counted: 1+2+...+10 bytes
	move(home.Dir)
	preads(7) // not counted
	move(cg.Dir)
	preads(5) // counted: 1+...+5 bytes
	move(home.Dir)
	res, err := tr.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if st := res.Syscalls[0]; st.Calls != 15 || st.Bytes != 55+15 {
		t.Errorf("%d pread64 calls of %d bytes, want the 15 made in the cgroup, of 70 bytes", st.Calls, st.Bytes)
	}
}
