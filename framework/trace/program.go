package trace

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/btf"
	"golang.org/x/sys/unix"
)

// Buckets is the number of log2 latency buckets per syscall: bucket b
// counts calls of [2^b, 2^(b+1)) nanoseconds (bucket 0 also counts 0 ns).
const Buckets = 64

// sampleBytes is one sample: the call's start (CLOCK_MONOTONIC ns), its
// duration, its return value, the caller's pid_tgid and its slot.
const sampleBytes = 40

// sampleBatch samples are gathered per CPU and sent as one ring-buffer
// record: one reserve, query and submit (a locked ring and the consumer's
// cache line) for 16 calls instead of each.
const sampleBatch = 16

// totals fields, u64 each, per slot and CPU.
const (
	totCalls = iota * 8
	totNs
	totBytes
	totErrors
	totDropped
	totalsBytes
)

// cpuLayout places what each CPU counts in one value of a per-CPU array,
// so that a call finds it with one lookup and touches few cache lines
// (after a call that moved 64 KiB, each is a miss): the batch's count and
// the first slot's totals share the first. Then the batch being gathered
// and the log2 histograms.
type cpuLayout struct{ slots int }

const cpuCount = 0 // u64: samples in the batch

func (l cpuLayout) totals(slot int) int { return 8 + slot*totalsBytes }
func (l cpuLayout) stage() int          { return l.totals(l.slots) }
func (l cpuLayout) hist() int           { return l.stage() + sampleBatch*sampleBytes }
func (l cpuLayout) size() int           { return l.hist() + l.slots*Buckets*8 }

// Map names in the collection.
const (
	mapStarts  = "starts"
	mapCPU     = "cpu"
	mapEvents  = "events"
	mapGen     = "gen"
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
	task     taskLayout
	exclude  []int // TGIDs left out
	maxDepth int   // v1: how many levels below the target a process may be
	ringSize uint32
}

// collectionSpec assembles the programs, keyed by the tracepoint each is
// attached to, and their maps.
func collectionSpec(c programConfig) (*ebpf.CollectionSpec, error) {
	if len(c.numbers) == 0 {
		return nil, fmt.Errorf("no syscalls to trace")
	}
	spec := &ebpf.CollectionSpec{
		Maps: map[string]*ebpf.MapSpec{
			mapStarts:  startsMap(),
			mapCPU:     {Name: "pvr_cpu", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: uint32(cpuLayout{len(c.numbers)}.size()), MaxEntries: 1},
			mapEvents:  {Name: "pvr_events", Type: ebpf.RingBuf, MaxEntries: c.ringSize},
			mapGen:     {Name: "pvr_gen", Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1},
			mapExclude: {Name: "pvr_exclude", Type: ebpf.Hash, KeySize: 4, ValueSize: 1, MaxEntries: maxExclude},
		},
		Programs: map[string]*ebpf.ProgramSpec{
			"sys_enter": {Name: "pvr_sys_enter", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_enter",
				License: "GPL", Instructions: enterProgram(c)},
			"sys_exit": {Name: "pvr_sys_exit", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "sys_exit",
				License: "GPL", Instructions: exitProgram(c)},
			"cgroup_attach_task": {Name: "pvr_cg_attach", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "cgroup_attach_task",
				License: "GPL", Instructions: genProgram()},
			"cgroup_transfer_tasks": {Name: "pvr_cg_transfer", Type: ebpf.Tracing, AttachType: ebpf.AttachTraceRawTp, AttachTo: "cgroup_transfer_tasks",
				License: "GPL", Instructions: genProgram()},
		},
	}
	return spec, nil
}

// startsMap is, for each thread of the cgroup, the start of the traced
// call it is in and whether it is of the cgroup: task-local storage, found
// from the task in a few loads, with no hash, lock or delete on the way (a
// hash keyed by pid_tgid costs two locked updates a call), and freed with
// the thread even if it dies inside the call. The value is {start ns (0:
// no call), slot, generation}: the thread was found in the cgroup, and not
// excluded, while the generation map held that generation.
func startsMap() *ebpf.MapSpec {
	u64 := &btf.Int{Name: "__u64", Size: 8}
	return &ebpf.MapSpec{
		Name: "pvr_starts", Type: ebpf.TaskStorage, KeySize: 4, ValueSize: 24, Flags: unix.BPF_F_NO_PREALLOC,
		// Local storage maps need the key and value in BTF.
		Key: &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed},
		Value: &btf.Struct{Name: "pvr_start", Size: 24, Members: []btf.Member{
			{Name: "ns", Type: u64, Offset: 0},
			{Name: "slot", Type: u64, Offset: 64},
			{Name: "gen", Type: u64, Offset: 128},
		}},
	}
}

// Offsets in a startsMap value.
const (
	startNs   = 0
	startSlot = 8
	startGen  = 16
)

// genProgram runs when a task or process moves to another cgroup
// (tp_btf/cgroup_attach_task, and cgroup_transfer_tasks on v1): it moves
// the generation on, so that every thread's cached finding is looked at
// again. On a host a move is rare; a syscall is not.
func genProgram() asm.Instructions {
	return append(lookupGen(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
}

// lookupGen looks up the generation (key 0 of mapGen): R0 points at it,
// or is 0. It uses the word at RFP-4.
func lookupGen() asm.Instructions {
	return asm.Instructions{
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, -4, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapGen),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
	}
}

// enterProgram runs at every syscall entry (tp_btf/sys_enter: ctx[0] is
// the pt_regs, ctx[1] the syscall number): for a chosen syscall made by a
// process of the cgroup, not excluded, it records the start time and slot
// in the thread's task storage. Whether the thread is of the cgroup is
// found once and kept there until a cgroup move changes the generation:
// the walk up the cgroups reads four structures, a cache miss each after a
// call that moved 64 KiB.
func enterProgram(c programConfig) asm.Instructions {
	const (
		rGen  = asm.R6 // the ctx before
		rVal  = asm.R7 // the syscall number before
		rSlot = asm.R8
		rTask = asm.R9
	)
	in := asm.Instructions{
		asm.LoadMem(rVal, asm.R1, 8, asm.DWord),
	}
	// Syscall filter: a chain of compares is cheaper than a map lookup
	// for the few syscalls traced, and nothing else runs for the rest.
	for i, nr := range c.numbers {
		in = append(in, asm.JEq.Imm(rVal, int32(nr), fmt.Sprintf("slot%d", i)))
	}
	in = append(in, asm.Ja.Label("out"))
	for i := range c.numbers {
		in = append(in,
			asm.Mov.Imm(rSlot, int32(i)).WithSymbol(fmt.Sprintf("slot%d", i)),
			asm.Ja.Label("gen"),
		)
	}
	// The generation is read before the cgroup: a move while the cgroup is
	// looked at leaves the finding out of date, never a stale finding up to
	// date.
	gen := lookupGen()
	gen[0] = gen[0].WithSymbol("gen")
	in = append(append(in, gen...),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(rGen, asm.R0, 0, asm.DWord),
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Reg(rTask, asm.R0),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, rTask),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnTaskStorageGet.Call(),
		asm.Mov.Reg(rVal, asm.R0),
		asm.JEq.Imm(rVal, 0, "cgroup"),
		asm.LoadMem(asm.R1, rVal, startGen, asm.DWord),
		asm.JEq.Reg(asm.R1, rGen, "record"),
	)
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
			asm.LoadMem(asm.R1, rTask, int16(l.taskCgroups), asm.DWord).WithSymbol("cgroup"),
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
	// Excluded processes (those in the container before a traced command
	// started) are skipped: compares for a few, a map beyond, nothing
	// when none is.
	var tail asm.Instructions
	switch {
	case len(c.exclude) == 0:
	case len(c.exclude) <= maxExcludeImm:
		tail = append(tail, asm.LoadMem(asm.R1, rTask, int16(c.task.tgid), asm.Word))
		for _, pid := range c.exclude {
			tail = append(tail, asm.JEq.Imm(asm.R1, int32(pid), "out"))
		}
	default:
		tail = append(tail,
			asm.LoadMem(asm.R1, rTask, int16(c.task.tgid), asm.Word),
			asm.StoreMem(asm.RFP, -8, asm.R1, asm.Word),
			asm.LoadMapPtr(asm.R1, 0).WithReference(mapExclude),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -8),
			asm.FnMapLookupElem.Call(),
			asm.JNE.Imm(asm.R0, 0, "out"),
		)
	}
	tail = append(tail,
		// A thread found in the cgroup gets its storage, and keeps the
		// finding with the generation it was made in.
		asm.JNE.Imm(rVal, 0, "found"),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, rTask),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, unix.BPF_LOCAL_STORAGE_GET_F_CREATE),
		asm.FnTaskStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(rVal, asm.R0),
		asm.StoreMem(rVal, startGen, rGen, asm.DWord).WithSymbol("found"),
		// starts[task] = {now, slot}; the clock is read last, so the
		// call's time holds as little of the program's as it can.
		asm.StoreMem(rVal, startSlot, rSlot, asm.DWord).WithSymbol("record"),
		asm.FnKtimeGetNs.Call(),
		asm.StoreMem(rVal, startNs, asm.R0, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	)
	tail[0] = tail[0].WithSymbol("match")
	in = append(in, tail...)
	return in
}

// exitProgram runs at every syscall exit (tp_btf/sys_exit: ctx[1] is the
// return value): for a thread with a recorded start it counts the call in
// the slot's log2 histogram and totals, then adds a sample to the CPU's
// batch, and sends a full batch; a full ring buffer counts the batch's
// calls as dropped, the histogram has them anyway. Other syscalls, the most
// of a busy host's, leave after one compare chain on the number in
// ctx[0]'s pt_regs, before any helper call.
func exitProgram(c programConfig) asm.Instructions {
	const (
		rCtx  = asm.R6 // then the CPU's counts
		rTs   = asm.R7 // then the slot's totals
		rSlot = asm.R8 // then the record
		rPid  = asm.R9 // the task, then pid_tgid
		// stack
		sDur = -8  // u64
		sRet = -16 // s64
		sTs  = -24 // u64
		sIdx = -28 // u32 bucket
		sKey = -32 // u32 map key
	)
	in := asm.Instructions{
		asm.Mov.Reg(rCtx, asm.R1),
		asm.LoadMem(asm.R1, rCtx, 0, asm.DWord),
		asm.LoadMem(asm.R1, asm.R1, int16(c.task.nr), asm.DWord),
	}
	for _, nr := range c.numbers {
		in = append(in, asm.JEq.Imm(asm.R1, int32(nr), "traced"))
	}
	in = append(in,
		asm.Ja.Label("out"),
		// A thread of another cgroup has no storage, one of the cgroup
		// whose call was not recorded a start of 0.
		asm.FnGetCurrentTaskBtf.Call().WithSymbol("traced"),
		asm.Mov.Reg(rPid, asm.R0),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapStarts),
		asm.Mov.Reg(asm.R2, rPid),
		asm.Mov.Imm(asm.R3, 0),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnTaskStorageGet.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(rTs, asm.R0, startNs, asm.DWord),
		asm.JEq.Imm(rTs, 0, "out"),
		asm.LoadMem(rSlot, asm.R0, startSlot, asm.DWord),
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.R0, startNs, asm.R1, asm.DWord),
		asm.FnKtimeGetNs.Call(),
		asm.Sub.Reg(asm.R0, rTs),
		asm.StoreMem(asm.RFP, sDur, asm.R0, asm.DWord),
		asm.StoreMem(asm.RFP, sTs, rTs, asm.DWord),
		asm.LoadMem(asm.R1, rCtx, 8, asm.DWord),
		asm.StoreMem(asm.RFP, sRet, asm.R1, asm.DWord),
		// pid_tgid, as bpf_get_current_pid_tgid has it, from the task.
		asm.LoadMem(asm.R1, rPid, int16(c.task.tgid), asm.Word),
		asm.LSh.Imm(asm.R1, 32),
		asm.LoadMem(asm.R2, rPid, int16(c.task.pid), asm.Word),
		asm.Or.Reg(asm.R1, asm.R2),
		asm.Mov.Reg(rPid, asm.R1),
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
	l := cpuLayout{len(c.numbers)}
	in = append(in,
		// The CPU's counts. The slot is the program's own, from the
		// thread's storage: bounded here for the verifier.
		asm.JGE.Imm(rSlot, int32(l.slots), "out").WithSymbol(next),
		asm.StoreMem(asm.RFP, sIdx, asm.R2, asm.Word), // the bucket
		asm.Mov.Imm(asm.R1, 0),
		asm.StoreMem(asm.RFP, sKey, asm.R1, asm.Word),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapCPU),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, sKey),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Reg(rCtx, asm.R0),
		// hist[slot][bucket]++
		asm.LoadMem(asm.R2, asm.RFP, sIdx, asm.Word),
		asm.And.Imm(asm.R2, Buckets-1),
		asm.Mov.Reg(asm.R1, rSlot),
		asm.LSh.Imm(asm.R1, 6),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.LSh.Imm(asm.R1, 3),
		asm.Add.Reg(asm.R1, rCtx),
		asm.LoadMem(asm.R2, asm.R1, int16(l.hist()), asm.DWord),
		asm.Add.Imm(asm.R2, 1),
		asm.StoreMem(asm.R1, int16(l.hist()), asm.R2, asm.DWord),
		// totals[slot]: calls, ns, bytes or errors
		asm.Mov.Reg(rTs, rSlot),
		asm.Mul.Imm(rTs, totalsBytes),
		asm.Add.Reg(rTs, rCtx),
		asm.LoadMem(asm.R1, rTs, int16(l.totals(0)+totCalls), asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(rTs, int16(l.totals(0)+totCalls), asm.R1, asm.DWord),
		asm.LoadMem(asm.R1, rTs, int16(l.totals(0)+totNs), asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, sDur, asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(rTs, int16(l.totals(0)+totNs), asm.R1, asm.DWord),
		asm.LoadMem(asm.R2, asm.RFP, sRet, asm.DWord),
		asm.JSLT.Imm(asm.R2, 0, "failed"),
		asm.LoadMem(asm.R1, rTs, int16(l.totals(0)+totBytes), asm.DWord),
		asm.Add.Reg(asm.R1, asm.R2),
		asm.StoreMem(rTs, int16(l.totals(0)+totBytes), asm.R1, asm.DWord),
		asm.Ja.Label("sample"),
		asm.LoadMem(asm.R1, rTs, int16(l.totals(0)+totErrors), asm.DWord).WithSymbol("failed"),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(rTs, int16(l.totals(0)+totErrors), asm.R1, asm.DWord),
		// The sample goes to the CPU's batch: samples[count++].
		asm.LoadMem(asm.R1, rCtx, cpuCount, asm.DWord).WithSymbol("sample"),
		asm.And.Imm(asm.R1, sampleBatch-1),
		asm.Mov.Reg(asm.R3, asm.R1),
		asm.Mul.Imm(asm.R3, sampleBytes),
		asm.Mov.Reg(asm.R2, rCtx),
		asm.Add.Reg(asm.R2, asm.R3),
		asm.LoadMem(asm.R3, asm.RFP, sTs, asm.DWord),
		asm.StoreMem(asm.R2, int16(l.stage()), asm.R3, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, sDur, asm.DWord),
		asm.StoreMem(asm.R2, int16(l.stage()+8), asm.R3, asm.DWord),
		asm.LoadMem(asm.R3, asm.RFP, sRet, asm.DWord),
		asm.StoreMem(asm.R2, int16(l.stage()+16), asm.R3, asm.DWord),
		asm.StoreMem(asm.R2, int16(l.stage()+24), rPid, asm.DWord),
		asm.StoreMem(asm.R2, int16(l.stage()+32), rSlot, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.JEq.Imm(asm.R1, sampleBatch, "send"),
		asm.StoreMem(rCtx, cpuCount, asm.R1, asm.DWord),
		asm.Ja.Label("out"),
		// A full batch is one record; a new batch starts either way.
		asm.Mov.Imm(asm.R1, 0).WithSymbol("send"),
		asm.StoreMem(rCtx, cpuCount, asm.R1, asm.DWord),
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapEvents),
		asm.Mov.Imm(asm.R2, sampleBatch*sampleBytes),
		asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop0"),
		asm.Mov.Reg(rSlot, asm.R0),
	)
	for off := 0; off < sampleBatch*sampleBytes; off += 8 {
		in = append(in,
			asm.LoadMem(asm.R1, rCtx, int16(l.stage()+off), asm.DWord),
			asm.StoreMem(rSlot, int16(off), asm.R1, asm.DWord),
		)
	}
	in = append(in,
		// A wakeup of the reader per record (irq_work, then the
		// scheduler) costs microseconds: the reader polls, and is woken
		// only once a quarter of the ring is waiting.
		asm.LoadMapPtr(asm.R1, 0).WithReference(mapEvents),
		asm.Mov.Imm(asm.R2, bpfRbAvailData),
		asm.FnRingbufQuery.Call(),
		asm.Mov.Imm(asm.R2, bpfRbNoWakeup),
		asm.JLT.Imm(asm.R0, int32(c.ringSize/4), "submit"),
		asm.Mov.Imm(asm.R2, bpfRbForceWakeup),
		asm.Mov.Reg(asm.R1, rSlot).WithSymbol("submit"),
		asm.FnRingbufSubmit.Call(),
		asm.Ja.Label("out"),
	)
	// A full ring: each call of the batch is a drop of its slot.
	for i := range sampleBatch {
		skip := fmt.Sprintf("drop%d", i+1)
		if i == sampleBatch-1 {
			skip = "out"
		}
		in = append(in,
			asm.LoadMem(asm.R1, rCtx, int16(l.stage()+i*sampleBytes+32), asm.DWord).WithSymbol(fmt.Sprintf("drop%d", i)),
			asm.JGE.Imm(asm.R1, int32(l.slots), skip),
			asm.Mul.Imm(asm.R1, totalsBytes),
			asm.Add.Reg(asm.R1, rCtx),
			asm.LoadMem(asm.R2, asm.R1, int16(l.totals(0)+totDropped), asm.DWord),
			asm.Add.Imm(asm.R2, 1),
			asm.StoreMem(asm.R1, int16(l.totals(0)+totDropped), asm.R2, asm.DWord),
		)
	}
	in = append(in,
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
