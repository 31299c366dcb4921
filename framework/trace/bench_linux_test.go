package trace

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTracerCost copies a 64 MiB file on tmpfs with sendfile in 16 MiB
// and 64 KiB calls from a process in a cgroup, untraced and traced (every
// syscall of DefaultSyscalls): the throughput difference is the tracer's
// cost on a traced copy. Pages on tmpfs are always in memory, so the calls
// are page-cache copies only, as short as they get: the worst case for the
// relative cost.
//
// Each iteration makes one untraced and one traced copy of the same file,
// in alternating order; one tracer is started for each call size and its
// programs attached around the traced copies only (outside the timing),
// so the untraced copies pay nothing of it. Only the calls are timed, not
// the open and truncation of the destination. Pairs made together see
// the same host: ns/op and MB/s are the traced copies', off-MB/s the
// untraced ones' (median), cost-% the median over the pairs of the
// throughput lost, 100*(1 - untraced time/traced time), and cpu-cost-%
// the same of this process's CPU time (the tracer's reader included). On
// a busy host run it at real-time priority, and read the medians of
// several runs:
//
//	go test -c -o trace.test ./framework/trace
//	chrt -f 10 ./trace.test -test.run '^$' -test.bench TracerCost -test.count 10 | tee b.txt
//	benchstat b.txt
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

	// tmpfs keeps the disk and its writeback out of the comparison.
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
		name := map[int]string{16 << 20: "16Mi", 64 << 10: "64Ki"}[chunk]
		b.Run("chunk="+name, func(b *testing.B) {
			tr, err := Start(b.Context(), Options{Cgroup: cg})
			if err != nil {
				b.Fatal(err)
			}
			copyFile(b, src, dst, chunk, false) // a traced copy first: every page and map is in place
			if err := tr.detach(); err != nil {
				b.Fatal(err)
			}
			var off, cost, cpuCost []float64
			var copies uint64 = 1
			for b.Loop() {
				// The timer runs for the traced copy only.
				b.StopTimer()
				var wall, cpu [2]time.Duration // untraced, traced
				for j := range 2 {
					traced := (len(off)+j)%2 == 1
					if !traced {
						wall[0], cpu[0] = copyFile(b, src, dst, chunk, false)
						continue
					}
					if err := tr.attach(); err != nil {
						b.Fatal(err)
					}
					wall[1], cpu[1] = copyFile(b, src, dst, chunk, true)
					if err := tr.detach(); err != nil {
						b.Fatal(err)
					}
					copies++
				}
				off = append(off, wall[0].Seconds())
				cost = append(cost, 100*(1-wall[0].Seconds()/wall[1].Seconds()))
				cpuCost = append(cpuCost, 100*(1-cpu[0].Seconds()/cpu[1].Seconds()))
				b.StartTimer()
			}
			res, err := tr.Stop()
			if err != nil {
				b.Fatal(err)
			}
			var samples uint64
			for _, s := range res.Samples {
				if s.Syscall == Sendfile {
					samples++
				}
			}
			if st := res.Syscalls[0]; st.Bytes != copies*size || st.Dropped > 0 || samples != st.Calls {
				b.Fatalf("traced %d sendfile calls of %d bytes (%d samples, %d dropped), want %d bytes and a sample each", st.Calls, st.Bytes, samples, st.Dropped, copies*size)
			}
			b.SetBytes(size)
			b.ReportMetric(size/median(off)/1e6, "off-MB/s")
			b.ReportMetric(median(cost), "cost-%")
			b.ReportMetric(median(cpuCost), "cpu-cost-%")
		})
	}
}

// median of xs, which it sorts.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n == 0 {
		return 0
	}
	return (xs[(n-1)/2] + xs[n/2]) / 2
}

// copyFile copies src to dst with sendfile in chunk-byte calls; it returns
// the calls' time and the process's CPU time over them (the tracer's reader
// included), and runs the benchmark timer over them if timed.
func copyFile(b *testing.B, src, dst string, chunk int, timed bool) (wall, cpu time.Duration) {
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
	if timed {
		b.StartTimer()
	}
	t0, c0 := time.Now(), processCPU(b)
	defer func() {
		wall, cpu = time.Since(t0), processCPU(b)-c0
		if timed {
			b.StopTimer()
		}
	}()
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

// processCPU is the CPU time of this process's threads.
func processCPU(b *testing.B) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ts.Nano())
}
