package trace

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
)

// Buckets is the number of log2 latency buckets per syscall: bucket b
// counts calls of [2^b, 2^(b+1)) nanoseconds (bucket 0 also counts 0 ns).
const Buckets = 64

// sampleBytes is one ring-buffer sample: the call's start (CLOCK_MONOTONIC
// ns), its duration, its return value, the caller's pid_tgid and its slot.
const sampleBytes = 40

// totals fields, u64 each, per slot and CPU.
const (
	totCalls = iota * 8
	totNs
	totBytes
	totErrors
	totDropped
	totalsBytes
)

// Map names in the collection.
const (
	mapStarts  = "starts"
	mapHist    = "hist"
	mapTotals  = "totals"
	mapEvents  = "events"
	mapExclude = "exclude"
)

// bpf_ringbuf_query and bpf_ringbuf_submit flags (uapi/linux/bpf.h).
const (
	bpfRbNoWakeup    = 1
	bpfRbForceWakeup = 2
	bpfRbAvailData   = 0
)

// ReaderPoll is how often the reader collects samples that did not wake it.
const ReaderPoll = 20 * time.Millisecond

// maxInFlight bounds the threads inside a traced syscall at once.
const maxInFlight = 16384

// maxExclude bounds the processes a trace leaves out; up to maxExcludeImm
// are compared as immediates, more looked up in a map.
const (
	maxExclude    = 4096
	maxExcludeImm = 16
)

// programConfig is what a program is assembled for.
type programConfig struct {
	numbers  []int64 // syscall numbers, by slot
	cgroup   Cgroup
	layout   kernelLayout // v1 only
	nrOffset int32        // pt_regs' syscall number
	exclude  []int        // TGIDs left out
	maxDepth int          // v1: how many levels below the target a process may be
	ringSize uint32
}

// collectionSpec assembles the two programs and their maps.
func collectionSpec(c programConfig) (*ebpf.CollectionSpec, error) {
	if len(c.numbers) == 0 {
		return nil, fmt.Errorf("no syscalls to trace")
	}
	slots := uint32(len(c.numbers))
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			mapStarts:  {Name: "pvr_starts", Type: ebpf.Hash, KeySize: 8, ValueSize: 16, MaxEntries: maxInFlight},
			mapHist:    {Name: "pvr_hist", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: slots * Buckets},
			mapTotals:  {Name: "pvr_totals", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: totalsBytes, MaxEntries: slots},
			mapEvents:  {Name: "pvr_events", Type: ebpf.RingBuf, MaxEntries: c.ringSize},
			mapExclude: {Name: "pvr_exclude", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: maxExclude},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			"enter": {Name: "pvr_sys_enter", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_enter",
				License: "GPL", Instructions: enterProgram(c)},
			"exit": {Name: "pvr_sys_exit", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_exit",
				License: "GPL", Instructions: exitProgram(c)},
		},
	}
	return spec, nil
}

// enterProgram runs at every syscall entry (tp_btf/sys_enter: ctx[0] is
// the pt_regs, ctx[1] the syscall number): for a chosen syscall made by a
// process of the cgroup, not excluded, it records the start time and slot
// under the thread's pid_tgid.
func enterProgram(c programConfig) asm.Instructions {
	const (
		rCtx  = asm.R6
		rNr   = asm.R7
		rSlot = asm.R8
		rPid  = asm.R9
	)
	in := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(rNr, rCtx, 8, asm.DWord),
	}
	// Syscall filter: a chain of compares is cheaper than a map lookup
	// for the few syscalls traced, and nothing else runs for the rest.
	for i, nr := range c.numbers {
		in = append(in, asm.JEq.Imm(rNr, int32(nr), fmt.Sprintf("slot%d", i)))
	}
	in = append(in, asm.Ja.Label("out"))
	for i := range c.numbers {
		in = append(in,
			asm.Mov.Imm(rSlot, int32(i)).WithSymbol(fmt.Sprintf("slot%d", i)),
			asm.Ja.Label("cgroup"),
		)
	}
	if c.cgroup.Version == 2 {
		// The ancestor of the current task's unified cgroup at the
		// target's level is the target for the target and its descendants.
		in = append(in,
			asm.Mov.Imm(asm.R1, int32(c.cgroup.Level)).WithSymbol("cgroup"),
			asm.FnGetCurrentAncestorCgroupId.Call(),
			asm.LoadImm(asm.R1, int64(c.cgroup.ID), asm.DWord),
			asm.JNE.Reg(asm.R0, asm.R1, "out"),
		)
	} else {
		// current->cgroups->subsys[id]: the task's css in the controller's
		// hierarchy; then css->cgroup->kn->id, up through css->parent.
		l := c.layout
		in = append(in,
			asm.FnGetCurrentTaskBtf.Call().WithSymbol("cgroup"),
			asm.LoadMem(asm.R1, asm.R0, int16(l.taskCgroups), asm.DWord),
			asm.JEq.Imm(asm.R1, 0, "out"),
			asm.LoadMem(asm.R1, asm.R1, int16(l.cssSetSubsy), asm.DWord),
			asm.LoadImm(asm.R3, int64(c.cgroup.ID), asm.DWord),
		)
		for d := 0; d <= c.maxDepth; d++ {
			in = append(in,
				asm.JEq.Imm(asm.R1, 0, "out"),
				asm.LoadMem(asm.R2, asm.R1, int16(l.cssCgroup), asm.DWord),
				asm.JEq.Imm(asm.R2, 0, "out"),
				asm.LoadMem(asm.R2, asm.R2, int16(l.cgroupKn), asm.DWord),
				asm.JEq.Imm(asm.R2, 0, "out"),
				asm.LoadMem(asm.R2, asm.R2, int16(l.kernfsID), asm.DWord),
				asm.JEq.Reg(asm.R2, asm.R3, "match"),
			)
			if d < c.maxDepth {
				in = append(in, asm.LoadMem(asm.R1, asm.R1, int16(l.cssParent), asm.DWord))
			}
		}
		in = append(in, asm.Ja.Label("out"))
	}
	in = append(in,
		asm.FnGetCurrentPidTgid.Call().WithSymbol("match"),
		asm.Mov.Reg(rPid, asm.R0),
		// Excluded processes (those in the container before a traced
		// command started) are skipped: compares for a few, a map beyond.
		asm.Mov.Reg(asm.R1, rPid),
		asm.RSh.Imm(asm.R1, 32),
	)
	switch {
	case len(c.exclude) <= maxExcludeImm:
		for _, pid := range c.exclude {
			in = append(in, asm.JEq.Imm(asm.R1, int32(pid), "out"))
		}
	default:
		in = append(in,
			asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
			asm.LoadMapPtr(asm.R1, 0).WithReference(mapExclude),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -4),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		)
	}
	in = append(in,
		// starts[pid_tgid] = {now, slot}
		asm.StoreMem(asm.RFP, -16, rPid, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(asm.RFP, -32, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, -24, rSlot, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -16),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -32),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return in
}

// exitProgram runs at every syscall exit (tp_btf/sys_exit: ctx[1] is the
// return value): for a thread with a recorded start it counts the call in
// the slot's log2 histogram and totals, then tries to send a sample; a
// full ring buffer counts a drop, the histogram has the call anyway.
// Other syscalls, the most of a busy host's, leave after one compare chain
// on the number in ctx[0]'s pt_regs, before any map lookup.
func exitProgram(c programConfig) asm.Instructions {
	const (
		rCtx  = asm.R6
		rTs   = asm.R7
		rSlot = asm.R8
		rPid  = asm.R9
		// stack
		sKey = -8  // u64 pid_tgid
		sDur = -16 // u64
		sRet = -24 // s64
		sTs  = -32 // u64
		sIdx = -36 // u32 map index
	)
	in := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(asm.R1, rCtx, 0, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, int16(c.nrOffset), asm.DWord),
	}
	for _, nr := range c.numbers {
		in = append(in, asm.JEq.Imm(asm.R1, int32(nr), "traced"))
	}
	in = append(in,
		asm.Ja.Label("out"),
		asm.FnGetCurrentPidTgid.Call().WithSymbol("traced"),
		asm.Mov.Reg(rPid, asm.R0),
		asm.StoreMem(asm.RFP, sKey, asm.R0, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(rTs, asm.R0, 0, asm.DWord),
		asm.LoadMem(rSlot, asm.R0, 8, asm.DWord),
		asm.StoreMem(asm.RFP, sTs, rTs, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sKey),
		asm.FnMapDeleteElem.Call(),
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, rTs),
		asm.StoreMem(asm.RFP, sDur, asm.R0, asm.DWord),
		asm.LoadMem(asm.R1, rCtx, 8, asm.DWord),
		asm.StoreMem(asm.RFP, sRet, asm.R1, asm.DWord),
		// bucket = floor(log2(dur)), by halving.
		asm.Mov.Reg(asm.R1, asm.R0),
		asm.Mov.Imm(asm.R2, 0),
	)
	next := ""
	for _, sh := range []int32{32, 16, 8, 4, 2, 1} {
		first := asm.Mov.Reg(asm.R3, asm.R1)
		if next != "" {
			first = first.WithSymbol(next)
		}
		next = fmt.Sprintf("log%d", sh)
		in = append(in,
			first,
			asm.RSh.Imm(asm.R3, sh),
			asm.JEq.Imm(asm.R3, 0, next),
			asm.Mov.Reg(asm.R1, asm.R3),
			asm.Add.Imm(asm.R2, sh),
		)
	}
	in = append(in,
		// hist[slot*64+bucket]++
		asm.Mov.Reg(asm.R1, rSlot).WithSymbol(next),
		asm.LSh.Imm(asm.R1, 6),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(asm.RFP, sIdx, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapHist),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sIdx),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "totals"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		// totals[slot]: calls, ns, bytes or errors
		asm.StoreMem(asm.RFP, sIdx, rSlot, asm.Word).WithSymbol("totals"),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapTotals),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sIdx),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(rTs, asm.R0), // rTs now holds the totals pointer
		asm.LoadMem(asm.R1, rTs, totCalls, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(rTs, totCalls, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, rTs, totNs, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, sDur, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(rTs, totNs, asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, sRet, asm.DWord),
		asm.JSLT.Imm(asm.R2, 0, "failed"),
		asm.LoadMem(asm.R1, rTs, totBytes, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(rTs, totBytes, asm.R1, asm.DWord),
		asm.Ja.Label("sample"),
		asm.LoadMem(asm.R1, rTs, totErrors, asm.DWord).WithSymbol("failed"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(rTs, totErrors, asm.R1, asm.DWord),
		// sample
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapEvents).WithSymbol("sample"),
		asm.Mov.Imm(asm.R2, sampleBytes),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JNE.Imm(asm.R0, 0, "fill"),
		asm.LoadMem(asm.R1, rTs, totDropped, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(rTs, totDropped, asm.R1, asm.DWord),
		asm.Ja.Label("out"),
		asm.LoadMem(asm.R1, asm.RFP, sTs, asm.DWord).WithSymbol("fill"),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, sDur, asm.DWord),
		asm.StoreMem(asm.R0, 8, asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, asm.RFP, sRet, asm.DWord),
		asm.StoreMem(asm.R0, 16, asm.R1, asm.DWord),
		asm.StoreMem(asm.R0, 24, rPid, asm.DWord),
		asm.StoreMem(asm.R0, 32, rSlot, asm.DWord),
		// A wakeup of the reader per sample (irq_work, then the
		// scheduler) costs microseconds a call: the reader polls, and is
		// woken only once a quarter of the ring is waiting.
		asm.Mov.Reg(rSlot, asm.R0), // rSlot now holds the sample
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapEvents),
		asm.Mov.Imm(asm.R2, bpfRbAvailData),
		asm.FnRingbufQuery.Call(),
		asm.Mov.Imm(asm.R2, bpfRbNoWakeup),
		asm.JLT.Imm(asm.R0, int32(c.ringSize/4), "submit"),
		asm.Mov.Imm(asm.R2, bpfRbForceWakeup),
		asm.Mov.Reg(asm.R1, rSlot).WithSymbol("submit"),
		asm.FnRingbufSubmit.Call(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	return in
}

// loadKernelBTF is the running kernel's BTF.
func loadKernelBTF() (*btf.Spec, error) {
	s, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoBTF, err)
	}
	return s, nil
}
