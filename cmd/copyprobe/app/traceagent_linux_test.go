package app

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/trace"
	"golang.org/x/sys/unix"
)

// containerCgroup makes a cgroup named like a container's (a runtime's hex
// ID) beside this test's own, moves this process into it, and undoes both
// at the end. It returns the ID.
func containerCgroup(t *testing.T) string {
	t.Helper()
	home, err := trace.CgroupOfPID("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	root := strings.TrimSuffix(home.Dir, filepath.FromSlash(home.Path))
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	dir := filepath.Join(root, "pvreboot-agent-test-"+id)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove test cgroup: %v", err)
		}
	})
	move := func(d string) error {
		return os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0)
	}
	if err := move(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := move(home.Dir); err != nil {
			t.Errorf("move back to %s: %v", home.Dir, err)
		}
	})
	return id
}

// TestTraceAgent runs `copyprobe trace-agent` on this host against a
// "container" that is this test process in a cgroup named like one: the
// process running at the start is left out, a BusyBox cp it starts inside a
// window is the window's calls, one outside is counted by the kernel only.
func TestTraceAgent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loads BPF programs and makes cgroups (run the tests as root, as CI does)")
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		t.Skip("needs a kernel with BTF (/sys/kernel/btf/vmlinux)")
	}
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("needs busybox (apt-get install busybox-static)")
	}
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.WriteFile(src, bytes.Repeat([]byte("pvreboot"), 64<<20/8), 0o644); err != nil {
		t.Fatal(err)
	}
	id := containerCgroup(t)

	// The node's init's view, as in a helper pod; where this sandbox keeps
	// PID 1's root from us, our own (the same mounts on a plain host).
	mountsOf := "1"
	if _, err := os.Stat("/proc/1/root/sys/fs/cgroup"); err != nil {
		t.Logf("--mounts-of 0: %v", err)
		mountsOf = "0"
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- Run(ctx, []string{"trace-agent", "--container-id", id, "--syscalls", "sendfile", "--exclude-current", "--mounts-of", mountsOf}, Streams{In: inR, Out: outW, Err: &stderr})
		outW.Close()
	}()
	defer inW.Close()
	c := trace.NewAgentClient(inW, outR)
	if err := c.Ready(ctx); err != nil {
		t.Fatalf("%v (exit %d): %s", err, <-code, stderr.String())
	}
	cp := func(dst string) {
		t.Helper()
		if out, err := exec.CommandContext(ctx, bb, "cp", src, dst).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v: %s", err, out)
		}
	}
	// This process was in the container at the start: left out.
	sendfileSelf(t, src, filepath.Join(dir, "self"))
	if err := c.Evict(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Begin(ctx); err != nil {
		t.Fatal(err)
	}
	cp(filepath.Join(dir, "dst"))
	if _, err := c.End(ctx); err != nil {
		t.Fatal(err)
	}
	cp(filepath.Join(dir, "outside"))
	res, err := c.Stop(ctx)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if got := <-code; got != 0 {
		t.Fatalf("exit %d: %s", got, stderr.String())
	}
	if len(res.Windows) != 1 || res.ContainerID != id {
		t.Fatalf("windows %v, container %s", res.Windows, res.ContainerID)
	}
	for _, s := range res.Result.Samples {
		if s.PID == os.Getpid() {
			t.Errorf("a sample of the process left out: %+v", s)
		}
	}
	if st := res.Result.Syscalls[0]; st.Calls != 10 || st.Bytes != 128<<20 {
		t.Errorf("kernel counts %+v: want the two copies' 10 calls and 128 MiB", st)
	}
	rep := trace.ProbeReport(res.Result, trace.Sendfile, res.Windows, probe.Env{})
	if len(rep.Iterations) != 1 || rep.Summary.Calls != 4 || rep.ChunkBytes != 16<<20 || rep.FileBytes != 64<<20 {
		t.Errorf("report: %d iterations, %d calls, chunk %d, file %d; want 1 of 4 calls of 16 MiB, 64 MiB", len(rep.Iterations), rep.Summary.Calls, rep.ChunkBytes, rep.FileBytes)
	}
	t.Logf("window: %d sendfile calls, p50 %dns; notes %q", rep.Summary.Calls, rep.Summary.P50Ns, res.Notes)
}

func sendfileSelf(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := unix.Sendfile(int(out.Fd()), int(in.Fd()), nil, 1<<20); err != nil {
		t.Fatal(err)
	}
}

// TestTraceAgentBadInput: usage mistakes exit 2 naming the flag, before
// anything is loaded.
func TestTraceAgentBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no container", []string{"trace-agent"}, "--container-id: required"},
		{"scheme", []string{"trace-agent", "--container-id", "containerd://0123456789abcdef"}, `--container-id: "containerd://0123456789abcdef" is not`},
		{"short", []string{"trace-agent", "--container-id", "0123"}, "is not a runtime's hex container ID"},
		{"syscall", []string{"trace-agent", "--container-id", "0123456789abcdef", "--syscalls", "mmap"}, `--syscalls: unknown syscall "mmap"`},
		{"relative proc", []string{"trace-agent", "--container-id", "0123456789abcdef", "--proc", "proc"}, `--proc: "proc" is not an absolute path`},
		{"max duration", []string{"trace-agent", "--container-id", "0123456789abcdef", "--max-duration", "0s"}, "--max-duration: 0s is not positive"},
		{"stray argument", []string{"trace-agent", "--container-id", "0123456789abcdef", "begin"}, `copyprobe trace-agent: unexpected argument "begin"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out, errb bytes.Buffer
			if code := Run(t.Context(), tt.args, Streams{Out: &out, Err: &errb}); code != 2 {
				t.Fatalf("exit %d, want 2; stderr %q", code, errb.String())
			}
			if !strings.Contains(errb.String(), tt.want) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tt.want)
			}
		})
	}
}
