package trace

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// Defaults of Options.
const (
	// DefaultRingBytes holds about 100 000 samples (40 bytes each, in
	// records of 16 with an 8-byte header) before the reader must catch up.
	DefaultRingBytes = 4 << 20
	// DefaultMaxDepth lets processes in cgroups up to 4 levels below the
	// target count (a container that makes cgroups of its own).
	DefaultMaxDepth = 4
)

// Options of a trace.
type Options struct {
	Cgroup   Cgroup
	Syscalls []Syscall // none means DefaultSyscalls
	// Exclude are TGIDs left out: the container's processes from before a
	// traced command started, so that only that command's run is measured.
	Exclude []int
	// RingBytes is the ring buffer's size, a power of two of at least a
	// page; 0 means DefaultRingBytes.
	RingBytes int
	// MaxDepth is how many levels below the cgroup a traced process may be
	// (v1; on v2 any depth counts); 0 means DefaultMaxDepth.
	MaxDepth int
	Log      *slog.Logger
}

// Sample is one traced call.
type Sample struct {
	Syscall Syscall `json:"syscall"`
	// StartNs is when the call entered the kernel (CLOCK_MONOTONIC ns, as
	// MonotonicNs reads it).
	StartNs int64 `json:"startNs"`
	Ns      int64 `json:"ns"`
	// Ret is the syscall's return value: bytes moved, or -errno.
	Ret int64 `json:"ret"`
	PID int   `json:"pid"`
	TID int   `json:"tid"`
}

// Bucket of a log2 histogram: Count calls took [LowNs, 2*LowNs) ns
// (bucket 0 holds 0 and 1 ns).
type Bucket struct {
	LowNs int64  `json:"lowNs"`
	Count uint64 `json:"count"`
}

// SyscallResult is what the kernel counted for one syscall, samples
// dropped or not.
type SyscallResult struct {
	Syscall Syscall `json:"syscall"`
	Calls   uint64  `json:"calls"`
	Errors  uint64  `json:"errors"`
	Bytes   uint64  `json:"bytes"`
	Ns      uint64  `json:"ns"`
	// Dropped is how many calls have no sample: the ring buffer was full.
	// The histogram and totals count them.
	Dropped   uint64   `json:"dropped"`
	Histogram []Bucket `json:"histogram,omitempty"`
}

// Result of a trace.
type Result struct {
	Cgroup    Cgroup          `json:"cgroup"`
	StartedAt time.Time       `json:"startedAt"`
	Duration  time.Duration   `json:"duration"`
	Syscalls  []SyscallResult `json:"syscalls"`
	// Samples are the calls in order of their start.
	Samples []Sample `json:"samples"`
}

// Dropped is the samples lost over all syscalls.
func (r *Result) Dropped() uint64 {
	var n uint64
	for _, s := range r.Syscalls {
		n += s.Dropped
	}
	return n
}

// Tracer is a running trace; Stop ends it.
type Tracer struct {
	opts     Options
	syscalls []Syscall
	coll     *ebpf.Collection
	links    []link.Link
	reader   *ringbuf.Reader
	started  time.Time
	startMon int64
	log      *slog.Logger

	done    chan struct{}
	mu      sync.Mutex
	samples []Sample
	readErr error
	stopped bool
}

// ErrNotPermitted is a tracer started without the privileges to load BPF
// programs (root, or CAP_BPF and CAP_PERFMON).
var ErrNotPermitted = errors.New("loading BPF programs needs root (CAP_BPF and CAP_PERFMON)")

// MonotonicNs reads CLOCK_MONOTONIC, the clock of Sample.StartNs.
func MonotonicNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// Start loads and attaches the programs; samples are read until Stop.
func Start(ctx context.Context, o Options) (*Tracer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	t := &Tracer{opts: o, log: o.Log, done: make(chan struct{})}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	t.syscalls = o.Syscalls
	if len(t.syscalls) == 0 {
		t.syscalls = DefaultSyscalls()
	}
	if len(o.Exclude) > maxExclude {
		return nil, fmt.Errorf("start trace: %d processes to leave out, more than %d", len(o.Exclude), maxExclude)
	}
	cfg := programConfig{cgroup: o.Cgroup, maxDepth: o.MaxDepth, ringSize: uint32(o.RingBytes), exclude: o.Exclude}
	if cfg.maxDepth <= 0 {
		cfg.maxDepth = DefaultMaxDepth
	}
	if cfg.ringSize == 0 {
		cfg.ringSize = DefaultRingBytes
	}
	if cfg.ringSize < uint32(unix.Getpagesize()) || cfg.ringSize&(cfg.ringSize-1) != 0 {
		return nil, fmt.Errorf("start trace: ring buffer size %d is not a power of two of at least a page", cfg.ringSize)
	}
	for _, s := range t.syscalls {
		nr, ok := s.number()
		if !ok {
			return nil, fmt.Errorf("start trace: unknown syscall %q", s)
		}
		cfg.numbers = append(cfg.numbers, nr)
	}
	if o.Cgroup.Version != 1 && o.Cgroup.Version != 2 {
		return nil, fmt.Errorf("start trace: cgroup version %d (want 1 or 2)", o.Cgroup.Version)
	}
	// tp_btf programs need the kernel's BTF anyway; it also lays out the
	// v1 cgroup walk and pt_regs.
	kspec, err := loadKernelBTF()
	if err != nil {
		return nil, fmt.Errorf("start trace: %w", err)
	}
	if cfg.task, err = layoutTask(kspec); err != nil {
		return nil, fmt.Errorf("start trace: %w", err)
	}
	if o.Cgroup.Version == 1 {
		if cfg.layout, err = layoutV1(kspec, o.Cgroup.Controller); err != nil {
			return nil, fmt.Errorf("start trace: %w", err)
		}
	}
	spec, err := collectionSpec(cfg)
	if err != nil {
		return nil, fmt.Errorf("start trace: %w", err)
	}
	coll, err := ebpf.NewCollection(spec)
	if err != nil {
		if errors.Is(err, unix.EPERM) {
			return nil, fmt.Errorf("start trace: %w: %v", ErrNotPermitted, err)
		}
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("start trace: load programs: %+v", ve)
		}
		return nil, fmt.Errorf("start trace: load programs: %w", err)
	}
	t.coll = coll
	for _, pid := range o.Exclude {
		if err := coll.Maps[mapExclude].Put(uint32(pid), uint8(1)); err != nil {
			t.close()
			return nil, fmt.Errorf("start trace: exclude pid %d: %w", pid, err)
		}
	}
	if t.reader, err = ringbuf.NewReader(coll.Maps[mapEvents]); err != nil {
		t.close()
		return nil, fmt.Errorf("start trace: ring buffer reader: %w", err)
	}
	go t.read()
	if err := t.attach(); err != nil {
		t.close()
		<-t.done
		return nil, fmt.Errorf("start trace: %w", err)
	}
	t.started, t.startMon = time.Now(), MonotonicNs()
	t.log.Debug("trace started", "cgroup", o.Cgroup.Path, "id", o.Cgroup.ID, "version", o.Cgroup.Version, "syscalls", t.syscalls)
	return t, nil
}

// attach attaches the programs: the generation's first, so that no cgroup
// move goes unseen while threads keep their finding, then exit before
// enter, so that an entry recorded is always followed by its exit. The
// generation moves on first: threads may have moved while detached.
func (t *Tracer) attach() error {
	gen := t.coll.Maps[mapGen]
	var g uint64
	if err := gen.Lookup(uint32(0), &g); err != nil {
		return fmt.Errorf("read cgroup generation: %w", err)
	}
	if err := gen.Put(uint32(0), g+1); err != nil {
		return fmt.Errorf("move cgroup generation on: %w", err)
	}
	for _, name := range []string{"cgroup_attach_task", "cgroup_transfer_tasks", "sys_exit", "sys_enter"} {
		l, err := link.AttachTracing(link.TracingOptions{Program: t.coll.Programs[name], AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			return fmt.Errorf("attach %s: %w", name, err)
		}
		t.links = append(t.links, l)
	}
	return nil
}

// detach detaches the programs, enter before exit: every call that
// entered still gets its exit.
func (t *Tracer) detach() error {
	var errs []error
	for i := len(t.links) - 1; i >= 0; i-- {
		errs = append(errs, t.links[i].Close())
	}
	t.links = nil
	return errors.Join(errs...)
}

// read collects samples until the ring buffer is flushed or closed.
func (t *Tracer) read() {
	defer close(t.done)
	var rec ringbuf.Record
	// The deadline is renewed when it passes, not for every sample: on
	// hosts without a vDSO clock (kvm-clock without a stable TSC) reading
	// the time is a system call. Samples that woke no one are read at the
	// latest when it passes.
	t.reader.SetDeadline(time.Now().Add(ReaderPoll))
	for {
		err := t.reader.ReadInto(&rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.reader.SetDeadline(time.Now().Add(ReaderPoll))
			continue
		}
		if err != nil {
			if !errors.Is(err, ringbuf.ErrFlushed) && !errors.Is(err, ringbuf.ErrClosed) {
				t.mu.Lock()
				t.readErr = err
				t.mu.Unlock()
			}
			return
		}
		t.mu.Lock()
		t.samples = t.decode(t.samples, rec.RawSample)
		t.mu.Unlock()
	}
}

// decode appends the samples of b, a record or a CPU's batch.
func (t *Tracer) decode(samples []Sample, b []byte) []Sample {
	for ; len(b) >= sampleBytes; b = b[sampleBytes:] {
		slot := binary.NativeEndian.Uint64(b[32:])
		if slot >= uint64(len(t.syscalls)) {
			continue
		}
		pt := binary.NativeEndian.Uint64(b[24:])
		samples = append(samples, Sample{Syscall: t.syscalls[slot], StartNs: int64(binary.NativeEndian.Uint64(b[0:])), Ns: int64(binary.NativeEndian.Uint64(b[8:])),
			Ret: int64(binary.NativeEndian.Uint64(b[16:])), PID: int(pt >> 32), TID: int(uint32(pt))})
	}
	return samples
}

// cpuCounts are the per-CPU values of the CPU map, one a CPU.
func (t *Tracer) cpuCounts() ([][]byte, error) {
	var per [][]byte
	if err := t.coll.Maps[mapCPU].Lookup(uint32(0), &per); err != nil {
		return nil, fmt.Errorf("read per-CPU counts: %w", err)
	}
	return per, nil
}

// staged are the samples of the CPUs' batches not yet sent.
func (t *Tracer) staged(per [][]byte) []Sample {
	l := cpuLayout{len(t.syscalls)}
	var out []Sample
	for _, c := range per {
		n := min(binary.NativeEndian.Uint64(c[cpuCount:]), sampleBatch)
		out = t.decode(out, c[l.stage():l.stage()+int(n)*sampleBytes])
	}
	return out
}

// Samples returns a copy of the samples read so far; up to 15 calls a
// CPU wait in the kernel for a full batch until Stop.
func (t *Tracer) Samples() []Sample {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.samples)
}

// Stop detaches the programs, reads the samples left in the ring buffer
// and the in-kernel counts, and releases everything.
func (t *Tracer) Stop() (*Result, error) {
	if t.stopped {
		return nil, errors.New("stop trace: already stopped")
	}
	t.stopped = true
	errs := []error{t.detach()}
	dur := time.Since(t.started)
	if err := t.reader.Flush(); err != nil {
		errs = append(errs, fmt.Errorf("flush ring buffer: %w", err))
		_ = t.reader.Close()
	}
	<-t.done
	res := &Result{Cgroup: t.opts.Cgroup, StartedAt: t.started, Duration: dur}
	per, err := t.cpuCounts()
	errs = append(errs, err)
	res.Syscalls = t.counts(per)
	staged := t.staged(per)
	t.mu.Lock()
	t.samples = append(t.samples, staged...)
	res.Samples, errs = t.samples, append(errs, t.readErr)
	t.mu.Unlock()
	slices.SortStableFunc(res.Samples, func(a, b Sample) int { return int(a.StartNs - b.StartNs) })
	errs = append(errs, t.close())
	if err := errors.Join(errs...); err != nil {
		return res, fmt.Errorf("stop trace: %w", err)
	}
	return res, nil
}

// counts sums the per-CPU histograms and totals.
func (t *Tracer) counts(per [][]byte) []SyscallResult {
	l := cpuLayout{len(t.syscalls)}
	out := make([]SyscallResult, len(t.syscalls))
	for i, s := range t.syscalls {
		r := SyscallResult{Syscall: s}
		var hist [Buckets]uint64
		for _, c := range per {
			f := func(off int) uint64 { return binary.NativeEndian.Uint64(c[l.totals(i)+off:]) }
			r.Calls += f(totCalls)
			r.Ns += f(totNs)
			r.Bytes += f(totBytes)
			r.Errors += f(totErrors)
			r.Dropped += f(totDropped)
			for b := range hist {
				hist[b] += binary.NativeEndian.Uint64(c[l.hist()+(i*Buckets+b)*8:])
			}
		}
		for b, n := range hist {
			if n > 0 {
				low := int64(0)
				if b > 0 {
					low = int64(1) << b
				}
				r.Histogram = append(r.Histogram, Bucket{LowNs: low, Count: n})
			}
		}
		out[i] = r
	}
	return out
}

func (t *Tracer) close() error {
	var errs []error
	for _, l := range t.links {
		errs = append(errs, l.Close())
	}
	t.links = nil
	if t.reader != nil {
		errs = append(errs, t.reader.Close())
	}
	if t.coll != nil {
		t.coll.Close()
	}
	return errors.Join(errs...)
}
