package trace

import (
	"fmt"

	"github.com/pvreboot/pvreboot/framework/probe"
)

// Window is a span of CLOCK_MONOTONIC time (MonotonicNs): one run of a
// traced command, an iteration of the report.
type Window struct {
	StartNs, EndNs int64
}

// ProbeReport renders the calls of one syscall in the probe's shape
// (schema pvreboot.dev/probe/v1, method trace:<syscall>), so that budgets,
// diagnosis and reports read a trace as they read a probe run.
//
// Each window is an iteration holding the calls that started in it; no
// windows make one iteration of the whole trace. A call is one sample:
// its bytes are the return value. Calls that failed, and calls of a
// byte-moving syscall that moved nothing (the 0 of end of file that ends
// every copy loop), are not calls of the report: they are counted in
// Result.Syscalls. An iteration's Ns is the time spent in its calls, so its
// throughput is the syscall's, not the command's (which includes the
// exec). ChunkBytes is the largest call; FileBytes the most bytes of an
// iteration. When samples were dropped, the env notes say so: the calls
// are then a subset, the kernel's totals and histogram are complete.
func ProbeReport(res *Result, s Syscall, windows []Window, env probe.Env) *probe.Report {
	rep := &probe.Report{Schema: probe.Schema, Method: probe.Method(s.Method()), Cache: probe.CacheWarm, StartedAt: res.StartedAt, Env: env}
	if len(windows) == 0 {
		windows = []Window{{StartNs: 0, EndNs: 1<<63 - 1}}
	}
	for i, w := range windows {
		it := probe.Iteration{Index: i, Calls: []probe.Call{}}
		for _, sm := range res.Samples {
			if sm.Syscall != s || sm.StartNs < w.StartNs || sm.StartNs >= w.EndNs || sm.Ret < 0 || (sm.Ret == 0 && s.MovesBytes()) {
				continue
			}
			it.Calls = append(it.Calls, probe.Call{Bytes: sm.Ret, Ns: sm.Ns})
			it.Bytes += sm.Ret
			it.Ns += sm.Ns
			rep.ChunkBytes = max(rep.ChunkBytes, sm.Ret)
		}
		if it.Ns > 0 {
			it.BytesPerSecond = float64(it.Bytes) / (float64(it.Ns) / 1e9)
		}
		rep.FileBytes = max(rep.FileBytes, it.Bytes)
		rep.Iterations = append(rep.Iterations, it)
	}
	for _, sr := range res.Syscalls {
		if sr.Syscall == s && sr.Dropped > 0 {
			rep.Env.Notes = append(rep.Env.Notes, fmt.Sprintf("trace: %d of %d %s calls have no sample (the ring buffer was full); the calls and summary are of the others, the kernel's histogram counted all",
				sr.Dropped, sr.Calls, s))
		}
	}
	rep.Summary = probe.Summarize(rep.Iterations)
	return rep
}

// Busiest is the traced syscall that moved the most bytes (for fsync and
// fdatasync, which move none, the one with the most calls), the one a
// workload is judged by when none is named; "" when nothing was called.
func (r *Result) Busiest() Syscall {
	var best Syscall
	var bestBytes, bestCalls uint64
	for _, s := range r.Syscalls {
		if s.Bytes > bestBytes || (bestBytes == 0 && s.Calls > bestCalls) {
			best, bestBytes, bestCalls = s.Syscall, s.Bytes, s.Calls
		}
	}
	return best
}
