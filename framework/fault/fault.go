package fault

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"maps"
	"path"
	"slices"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/nodescript"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// NodeRunner runs an argv on a node with optional stdin.
type NodeRunner interface {
	NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error)
}

// Mounts is what a fault asks of the volumes' node layer about their own
// systemd units (localpv.Provisioner).
type Mounts interface {
	// DisableMount keeps a filesystem volume's unit from mounting it at
	// the next boot; MountNow mounts it at once and enables it again.
	DisableMount(ctx context.Context, v *localpv.Volume) error
	MountNow(ctx context.Context, v *localpv.Volume) error
	// SetBootMountOptions rewrites a filesystem volume's mount unit so that
	// the next boot mounts it with extra options as well.
	SetBootMountOptions(ctx context.Context, v *localpv.Volume, extra []string) error
}

// Devices resolves a volume to the major:minor of its block device.
type Devices interface {
	Device(ctx context.Context, v *localpv.Volume) (string, error)
}

// Target is what a fault acts on at one moment of a run.
type Target struct {
	Nodes   NodeRunner
	Mounts  Mounts
	Devices Devices
	Node    string
	// Volumes are the run's Local PVs; the workload measures the first.
	Volumes []*localpv.Volume
	// ContainerID is the workload container's runtime ID (with or without
	// its "containerd://" scheme), once a pod is running.
	ContainerID string
	// Record is called, before the change is made, with each change on the
	// node that outlives the pod and that the volume's own teardown does not
	// remove: the run keeps it in its ledger and calls Undo at cleanup.
	Record func(ctx context.Context, c Change) error
	// Note receives what the fault did, for the report and progress.
	Note func(string)
}

func (t Target) note(format string, a ...any) {
	if t.Note != nil {
		t.Note(fmt.Sprintf(format, a...))
	}
}

func (t Target) record(ctx context.Context, c Change) error {
	if t.Record == nil {
		return errors.New("the run cannot record the change: nothing would undo it")
	}
	return t.Record(ctx, c)
}

// Fault is one injected mechanism, made from a scenario's faults[] entry by
// New. A run calls each hook at its moment; a hook with nothing to do at
// that moment returns nil.
type Fault interface {
	// BeforeReboot runs before the node goes down: what the next boot
	// does differently (node-level faults).
	BeforeReboot(ctx context.Context, t Target) error
	// AfterPodBack runs once the node and the same pod are back, before
	// the after-reboot measurement (per-pod faults act here).
	AfterPodBack(ctx context.Context, t Target) error
	// AfterPodGone runs when the old pod is gone during recreation,
	// before the new pod is made.
	AfterPodGone(ctx context.Context, t Target) error
}

// Kind describes a fault type.
type Kind struct {
	Type string
	// Recovers: recreating the pod undoes the fault (a new container has a
	// new cgroup); false for node-level faults, which the node keeps until
	// cleanup (every boot of it does the same).
	Recovers bool
	// Mechanism is what the fault injects, in one line.
	Mechanism string
}

// Kinds returns every fault type, in a fresh slice, in the order a run calls
// their hooks (Ordered): late-mount first, since it mounts the volume the
// others act on (io-throttle resolves the device under the mount point).
func Kinds() []Kind {
	return []Kind{
		{scenario.FaultLateMount, true, "the volume's filesystem is mounted only after the kubelet restarted the pod (mount ordering)"},
		{scenario.FaultIOThrottle, true, "a read bandwidth limit on the restarted container's cgroup for the volume's device"},
		{scenario.FaultMountOptions, false, "the volume's filesystem is mounted at boot with extra options (e.g. sync) from the next boot on"},
		{scenario.FaultMemorySqueeze, true, "a memory limit on the restarted container's cgroup that forces reclaim and writeback during the copy"},
		{scenario.FaultReadahead, false, "read_ahead_kb of the volume's block device is set at boot, after its mount or loop unit"},
	}
}

// Ordered returns a scenario's faults in the order a run calls their hooks
// whatever the scenario's order: the order of Kinds (late-mount first),
// the scenario's among faults of one type; a type Kinds does not know
// comes last (New refuses it).
func Ordered(fs []scenario.Fault) []scenario.Fault {
	rank := func(typ string) int {
		i := slices.IndexFunc(Kinds(), func(k Kind) bool { return k.Type == typ })
		if i < 0 {
			return len(Kinds())
		}
		return i
	}
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b scenario.Fault) int { return rank(a.Type) - rank(b.Type) })
	return out
}

// Describe returns the Kind of a fault type.
func Describe(typ string) (Kind, bool) {
	i := slices.IndexFunc(Kinds(), func(k Kind) bool { return k.Type == typ })
	if i < 0 {
		return Kind{}, false
	}
	return Kinds()[i], true
}

// ErrInvalid marks a fault whose values are not ones it can inject safely,
// whatever validated the scenario before; nothing has run on a node.
var ErrInvalid = errors.New("invalid fault")

func invalid(typ, format string, a ...any) error {
	return fmt.Errorf("%w %s: %s", ErrInvalid, typ, fmt.Sprintf(format, a...))
}

// New makes the fault of a scenario entry, checking its values.
func New(f scenario.Fault) (Fault, error) {
	switch f.Type {
	case scenario.FaultLateMount:
		return lateMount{}, nil
	case scenario.FaultIOThrottle:
		if f.ReadBPS == nil {
			return nil, invalid(f.Type, "no readBPS")
		}
		bps := int64(f.ReadBPS.BytesPerSecond)
		if bps <= 0 {
			return nil, invalid(f.Type, "%d bytes/s: want > 0", bps)
		}
		return ioThrottle{bps: bps}, nil
	case scenario.FaultMountOptions:
		opts := f.BootMountOptions()
		if err := checkMountOptions(opts); err != nil {
			return nil, err
		}
		return mountOptions{options: opts}, nil
	case scenario.FaultMemorySqueeze:
		n, err := f.MemoryLimitBytes()
		if err != nil {
			return nil, invalid(f.Type, "%v", err)
		}
		if err := checkMemoryLimit(n); err != nil {
			return nil, err
		}
		return memorySqueeze{bytes: n}, nil
	case scenario.FaultReadahead:
		kb := f.ReadAheadKBOrDefault()
		if err := checkReadAheadKB(kb); err != nil {
			return nil, err
		}
		return readahead{kb: kb}, nil
	}
	return nil, fmt.Errorf("%w: type %q is not a fault pvreboot can inject", ErrInvalid, f.Type)
}

// Change is what a fault changed on a node beyond the pod and the volume's
// own units: recorded in the run's ledger before it is made, and undone by
// Undo at cleanup or by `pvreboot cleanup`.
type Change struct {
	Fault string
	Node  string
	// Name identifies it on the node (a DNS-1123 subdomain).
	Name string
	// Detail is what Undo needs (keys Detail*).
	Detail map[string]string
}

// Keys of Change.Detail (the same keys as the ledger's for a backing).
const (
	DetailUnit        = "unit"
	DetailPath        = "path"
	DetailRoot        = "root"
	DetailBacking     = "backing"
	DetailReadAheadKB = "readAheadKB"
)

// Undo reverts a Change on its node. It checks every value first and runs
// nothing when one is not what a fault records; it is idempotent (undoing
// what is not there succeeds).
func Undo(ctx context.Context, nodes NodeRunner, c Change) error {
	switch c.Fault {
	case scenario.FaultReadahead:
		return undoReadahead(ctx, nodes, c)
	}
	return fmt.Errorf("%w: undo of %q: no fault of that type leaves a change", ErrInvalid, c.Fault)
}

// Volume is the name of the Local PV (its backing directly under the
// root) whose node side the change is about, "" when it names none. Until
// the change is undone that volume's backing stays: the undo needs it (the
// readahead fault restores the value on the volume's device).
func (c Change) Volume() string {
	p := c.Detail[DetailPath]
	if p == "" || c.Detail[DetailRoot] == "" || path.Dir(p) != c.Detail[DetailRoot] {
		return ""
	}
	return path.Base(p)
}

func (c Change) clone() Change {
	c.Detail = maps.Clone(c.Detail)
	return c
}

// The node-side scripts, each run as `sh -c SCRIPT NAME ARGS...` with every
// value a positional parameter.
//
//go:embed scripts/*.sh
var scriptFiles embed.FS

var scripts = nodescript.New(scriptFiles)

// Script names.
const (
	scriptIOThrottle    = "io-throttle"
	scriptMemorySqueeze = "memory-squeeze"
	scriptReadahead     = "readahead"
)

func script(name string) string { return scripts.Text(name) }

// scriptArgv runs an embedded script with its values as positional
// parameters ($1...; $0 is the script's name).
func scriptArgv(name string, args ...string) []string { return scripts.Argv(name, args...) }

// Scripts returns every node-side script of this package by name (for the
// tests that no node command is built from a value).
func Scripts() map[string]string {
	out := map[string]string{}
	for _, n := range []string{scriptIOThrottle, scriptMemorySqueeze, scriptReadahead} {
		out[n] = script(n)
	}
	return out
}

// noHooks is the nil hooks a fault embeds for the moments it does not act at.
type noHooks struct{}

func (noHooks) BeforeReboot(context.Context, Target) error { return nil }
func (noHooks) AfterPodBack(context.Context, Target) error { return nil }
func (noHooks) AfterPodGone(context.Context, Target) error { return nil }
