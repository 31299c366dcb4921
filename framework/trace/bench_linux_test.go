package trace

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"golang.org/x/sys/unix"
)

// BenchmarkTracerCost copies a warm 64 MiB file with sendfile in 16 MiB and
// 64 KiB calls from a process in a cgroup, untraced and traced (every
// syscall of DefaultSyscalls): the throughput difference is the tracer's
// cost on a traced copy. Warm pages on tmpfs make the calls as short as
// they get, the worst case for the relative cost. Compare with benchstat:
//
//	go test -run '^$' -bench TracerCost -count 10 ./framework/trace | tee b.txt
//	benchstat -col /trace b.txt
func BenchmarkTracerCost(b *testing.B) {
	needRoot(b)
	cg := testCgroup(b, "pids")
	// The benchmark itself runs in the cgroup: every thread of this
	// process moves (cgroup.procs), and back at the end.
	home, err := CgroupOfPID("/proc", os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	if home.Controller != cg.Controller {
		b.Skipf("this host's cgroup for tracing is %s, not pids", home.Controller)
	}
	move := func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			b.Fatal(err)
		}
	}
	move(cg.Dir)
	b.Cleanup(func() { move(home.Dir) })

	// tmpfs keeps the disk and its writeback out of the comparison: the
	// calls are page-cache copies only.
	dir, err := os.MkdirTemp("/dev/shm", "pvreboot-trace-bench-")
	if err != nil {
		dir = b.TempDir()
	} else {
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	const size = 64 << 20
	makeFile(b, src, size)
	for _, chunk := range []int{16 << 20, 64 << 10} {
		for _, traced := range []bool{false, true} {
			name := "chunk=" + map[int]string{16 << 20: "16Mi", 64 << 10: "64Ki"}[chunk] + "/trace=" + map[bool]string{false: "off", true: "on"}[traced]
			b.Run(name, func(b *testing.B) {
				if traced {
					tr, err := Start(b.Context(), Options{Cgroup: cg})
					if err != nil {
						b.Fatal(err)
					}
					defer func() {
						res, err := tr.Stop()
						if err != nil {
							b.Error(err)
							return
						}
						if res.Syscalls[0].Calls == 0 || res.Dropped() > 0 {
							b.Errorf("traced %d sendfile calls, %d samples dropped", res.Syscalls[0].Calls, res.Dropped())
						}
					}()
					// The kernel's run time of the two programs (every
					// syscall of the host runs them, so this is an upper
					// bound of what the copy paid) against the copy's time.
					stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
					if err != nil {
						b.Fatal(err)
					}
					defer stats.Close()
					defer func() {
						var bpf time.Duration
						var runs uint64
						for _, p := range tr.coll.Programs {
							st, err := p.Stats()
							if err != nil {
								b.Fatal(err)
							}
							bpf += st.Runtime
							runs += st.RunCount
						}
						perOp := float64(bpf.Nanoseconds()) / float64(b.N)
						b.ReportMetric(perOp, "bpf-ns/op")
						b.ReportMetric(100*perOp/(float64(b.Elapsed().Nanoseconds())/float64(b.N)), "bpf-%")
						b.ReportMetric(float64(bpf.Nanoseconds())/float64(max(runs, 1)), "ns/bpf-run")
					}()
				}
				b.SetBytes(size)
				for b.Loop() {
					copyFile(b, src, dst, chunk)
				}
			})
		}
	}
}

// copyFile copies src to dst with sendfile in chunk-byte calls.
func copyFile(b *testing.B, src, dst string, chunk int) {
	in, err := os.Open(src)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	for {
		n, err := unix.Sendfile(int(out.Fd()), int(in.Fd()), nil, chunk)
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}
