package probe

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestThrottledDeviceSlowsCalls reproduces the regression's mechanism for
// real: an ext4 filesystem on a loop device is probed healthy, then the
// probe's own cgroup gets a read bandwidth limit on that device, and p50 per
// sendfile call must rise to what the limit implies.
func TestThrottledDeviceSlowsCalls(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a loop device, mounts ext4 and writes cgroup limits")
	}
	for _, tool := range []string{"losetup", "mkfs.ext4", "mount", "umount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (util-linux, e2fsprogs): %v", tool, err)
		}
	}
	ctx := context.Background()
	work := t.TempDir()
	img := filepath.Join(work, "disk.img")
	mnt := filepath.Join(work, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(512<<20))
	must(t, f.Close())
	loop := attachLoop(t, img)
	run(t, "mkfs.ext4", "-q", "-F", loop)
	run(t, "mount", "-t", "ext4", loop, mnt)
	t.Cleanup(func() { runQuiet(t, "umount", mnt) })

	var st unix.Stat_t
	must(t, unix.Stat(loop, &st))
	majmin := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))

	opts := Options{Dir: mnt, Method: MethodSendfile, FileBytes: 64 << 20, ChunkBytes: 16 << 20, Iterations: 2, Cache: CacheCold}
	healthy, err := Run(ctx, opts, nil)
	must(t, err)
	if healthy.Env.Mount.MajorMinor != majmin || healthy.Env.Mount.FSType != "ext4" {
		t.Errorf("env mount = %+v, want %s ext4", healthy.Env.Mount, majmin)
	}

	const bps = 32 << 20 // 32 MiB/s: a 16 MiB call should take ~0.5 s
	leave := enterThrottledCgroup(t, majmin, bps)
	throttled, err := Run(ctx, opts, nil)
	leave()
	must(t, err)

	implied := float64(opts.ChunkBytes) / bps * 1e9
	h, s := float64(healthy.Summary.P50Ns), float64(throttled.Summary.P50Ns)
	t.Logf("p50 per call: healthy %.1f ms, throttled %.1f ms, throttle implies %.1f ms (x%.1f)", h/1e6, s/1e6, implied/1e6, s/h)
	if s < 0.7*implied {
		t.Errorf("throttled p50 %.1f ms is below 70%% of the %.1f ms the throttle implies", s/1e6, implied/1e6)
	}
	if h > 0.5*implied {
		t.Skipf("healthy p50 %.1f ms is already close to the throttle; this disk is too slow to tell them apart", h/1e6)
	}
	if s/h < 2 {
		t.Errorf("throttled p50 is only x%.1f the healthy one", s/h)
	}
	if got := throttled.Env.Cgroup.Limits["blkio.throttle.read_bps_device"] + throttled.Env.Cgroup.Limits["io.max"]; !strings.Contains(got, majmin) {
		t.Errorf("env does not show the io limit on %s: %q", majmin, got)
	}
}

// enterThrottledCgroup moves this process into a new cgroup that limits reads
// from majmin to bps, and returns a function that moves it back and removes
// the cgroup.
func enterThrottledCgroup(t *testing.T, majmin string, bps int) func() {
	t.Helper()
	pid := strconv.Itoa(os.Getpid())
	name := fmt.Sprintf("pvreboot-probe-test-%d", os.Getpid())
	var st unix.Statfs_t
	must(t, unix.Statfs("/sys/fs/cgroup", &st))
	var dir, home, file, value string
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		home = "/sys/fs/cgroup" + ownCgroup(t, "")
		dir = filepath.Join("/sys/fs/cgroup", name)
		file, value = "io.max", fmt.Sprintf("%s rbps=%d", majmin, bps)
		_ = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+io"), 0o644)
	} else {
		home = "/sys/fs/cgroup/blkio" + ownCgroup(t, "blkio")
		dir = filepath.Join("/sys/fs/cgroup/blkio", name)
		file, value = "blkio.throttle.read_bps_device", fmt.Sprintf("%s %d", majmin, bps)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create cgroup %s: %v", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644); err != nil {
		_ = os.Remove(dir)
		t.Skipf("cannot set %s: %v", file, err)
	}
	back := func() {
		if err := os.WriteFile(filepath.Join(home, "cgroup.procs"), []byte(pid), 0o644); err != nil {
			t.Errorf("move back to %s: %v", home, err)
		}
		if err := os.Remove(dir); err != nil {
			t.Errorf("remove cgroup %s: %v", dir, err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(pid), 0o644); err != nil {
		_ = os.Remove(dir)
		t.Skipf("cannot join cgroup %s: %v", dir, err)
	}
	t.Cleanup(func() {
		// Idempotent: if the test failed before leaving, leave now.
		if _, err := os.Stat(dir); err == nil {
			back()
		}
	})
	return back
}

func ownCgroup(t *testing.T, ctrl string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	must(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == ctrl {
				return parts[2]
			}
		}
	}
	t.Fatalf("no %q controller in /proc/self/cgroup", ctrl)
	return ""
}

// attachLoop attaches img to a free loop device, detached at cleanup; the
// test is skipped when no loop device can be had.
func attachLoop(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device available: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { runQuiet(t, "losetup", "--detach", loop) })
	return loop
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v: %s", argv, err, out)
	}
}

func runQuiet(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Errorf("cleanup %v: %v: %s", argv, err, out)
	}
}
