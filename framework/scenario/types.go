package scenario

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// API version and kind of scenario files.
const (
	APIVersion = "pvreboot.dev/v1alpha1"
	Kind       = "Scenario"
)

// Phase names.
const (
	PhaseBaseline      = "baseline"
	PhaseAfterReboot   = "after-reboot"
	PhaseAfterRecreate = "after-recreate"
)

// Phases returns the phase names in the order they run (a fresh slice).
func Phases() []string { return []string{PhaseBaseline, PhaseAfterReboot, PhaseAfterRecreate} }

// Scenario is one reboot scenario.
type Scenario struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata names the scenario.
type Metadata struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
}

// Spec is what the scenario does.
type Spec struct {
	Cluster  Cluster  `json:"cluster"`
	Volumes  []Volume `json:"volumes,omitempty"`
	Workload Workload `json:"workload"`
	Reboot   Reboot   `json:"reboot"`
	Phases   []string `json:"phases,omitempty"`
	Budgets  []Budget `json:"budgets,omitempty"`
	Faults   []Fault  `json:"faults,omitempty"`
}

// Cluster is a kind cluster or an existing one, and the nodes to use.
type Cluster struct {
	Kind     *KindCluster     `json:"kind,omitempty"`
	Existing *ExistingCluster `json:"existing,omitempty"`
	Nodes    NodeSelection    `json:"nodes"`
}

// KindCluster is created (or reused) by pvreboot.
type KindCluster struct {
	Name   string `json:"name,omitempty"`
	Config string `json:"config,omitempty"`
	Image  string `json:"image,omitempty"`
}

// ExistingCluster is reached through a kubeconfig; pvreboot never creates or
// deletes it.
type ExistingCluster struct {
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Context    string `json:"context,omitempty"`
}

// NodeSelection picks nodes by name or by labels.
type NodeSelection struct {
	Names    []string       `json:"names,omitempty"`
	Selector *LabelSelector `json:"selector,omitempty"`
}

// LabelSelector matches node labels.
type LabelSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// Volume backings.
const (
	BackingDirectory  = "directory"
	BackingFilesystem = "filesystem"
	BackingBlock      = "block"
)

// BlockCanaryBytes is the data canary at the end of a block volume: written
// before the reboot, checked after. Block volume sizes are multiples of it.
const BlockCanaryBytes = 1 << 20

// Volume is one or more Local PVs.
type Volume struct {
	Name string `json:"name"`
	// Count of PVs of this shape (default 1); explicit 0 is an error.
	Count        *int     `json:"count,omitempty"`
	Backing      string   `json:"backing,omitempty"`
	FSType       string   `json:"fsType,omitempty"`
	Size         string   `json:"size,omitempty"`
	MountOptions []string `json:"mountOptions,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
}

// Workload is the probe run in each phase, or with Exec the user's own
// command measured per call by the tracer.
type Workload struct {
	Method     string `json:"method,omitempty"`
	FileSize   string `json:"fileSize,omitempty"`
	ChunkSize  string `json:"chunkSize,omitempty"`
	Iterations *int   `json:"iterations,omitempty"` // default 5; explicit 0 is an error
	Cache      string `json:"cache,omitempty"`
	// ExecCommand is the probe's method exec: a command template with
	// {src} and {dst} that copyprobe runs and times as a whole, one call
	// per run. For the per-call syscalls of the user's command, see Exec.
	ExecCommand string `json:"execCommand,omitempty"`
	// Exec replaces the probe with the user's own command, run Iterations
	// times per phase in the workload container and measured by the eBPF
	// tracer (framework/trace) from the node's kernel: each run an
	// iteration, each traced syscall a call (method trace:<syscall>).
	// Method, chunkSize and execCommand do not apply; fileSize still sizes
	// the volume.
	Exec *ExecWorkload `json:"exec,omitempty"`
}

// ExecWorkload is the user's command, an argv run without a shell.
type ExecWorkload struct {
	// Command is run Iterations times per phase, traced.
	Command []string `json:"command"`
	// Setup, when set, runs once per phase before the runs, untraced (to
	// write the source file the command copies).
	Setup []string `json:"setup,omitempty"`
	// Syscalls are traced (framework/trace names: sendfile,
	// copy_file_range, splice, read, write, pread64, pwrite64, fsync,
	// fdatasync); default all of them.
	Syscalls []string `json:"syscalls,omitempty"`
	// Measure is the syscall whose calls the phase reports and the budgets
	// judge; default the traced syscall that moved the most bytes.
	Measure string `json:"measure,omitempty"`
	// Evict are files (absolute paths in the container) whose page cache is
	// dropped before each run when cache is cold, as the probe drops its
	// source's; with cache cold at least one is needed.
	Evict []string `json:"evict,omitempty"`
}

// Reboot methods.
const (
	RebootKindRestart = "kind-restart"
	RebootKindKill    = "kind-kill"
	RebootSSH         = "ssh"
	RebootCommand     = "command"
	RebootNodePod     = "node-pod"
)

// Reboot says how and how often the node is rebooted.
type Reboot struct {
	Method  string   `json:"method,omitempty"`
	Count   *int     `json:"count,omitempty"` // default 1; explicit 0 is an error
	Timeout Duration `json:"timeout,omitempty"`
	// Down is how long a kind node stays stopped (kind-restart, kind-kill).
	Down Duration `json:"down,omitempty"`
	// AllowControlPlane permits rebooting control-plane nodes.
	AllowControlPlane bool `json:"allowControlPlane,omitempty"`
	// AllowReboot is refused by validation: a scenario file cannot
	// authorise rebooting machines, only the person running it can
	// (--allow-reboot or PVREBOOT_ALLOW_REBOOT). Kept so that old files get
	// that explanation instead of "unknown field".
	AllowReboot bool `json:"allowReboot,omitempty"`
	// Cordon marks the node unschedulable before the reboot and schedulable
	// again once it is back; Drain also evicts its other pods (kubectl drain
	// without --force). Both off by default: the regression is about pods
	// that stay on the node.
	Cordon  bool        `json:"cordon,omitempty"`
	Drain   bool        `json:"drain,omitempty"`
	SSH     *SSHReboot  `json:"ssh,omitempty"`
	Command *CmdReboot  `json:"command,omitempty"`
	NodePod *NodePodReb `json:"nodePod,omitempty"`
}

// SSHReboot reboots a node over SSH.
type SSHReboot struct {
	User           string `json:"user,omitempty"`
	Port           *int   `json:"port,omitempty"` // default 22
	KeyFile        string `json:"keyFile,omitempty"`
	KnownHosts     string `json:"knownHosts,omitempty"`
	Mode           string `json:"mode,omitempty"` // reboot, sysrq-b, sysrq-c
	Sudo           bool   `json:"sudo,omitempty"`
	InsecureIgnore bool   `json:"insecureIgnoreHostKey,omitempty"`
}

// CmdReboot runs a command template on the test host.
type CmdReboot struct {
	Argv []string `json:"argv"`
}

// NodePodReb reboots a node from a privileged pod on it.
type NodePodReb struct {
	Image string `json:"image,omitempty"`
	Mode  string `json:"mode,omitempty"` // reboot, sysrq-b
}

// Budget metrics.
const (
	MetricP50        = "p50"
	MetricP90        = "p90"
	MetricP99        = "p99"
	MetricMax        = "max"
	MetricMean       = "mean"
	MetricThroughput = "throughput"
)

// Budget is one limit the verdict checks.
type Budget struct {
	Name   string `json:"name,omitempty"`
	Phase  string `json:"phase"`
	Metric string `json:"metric,omitempty"`
	// Max is an absolute latency limit per call (p50/p90/p99/max/mean).
	Max *Duration `json:"max,omitempty"`
	// Min is an absolute throughput floor.
	Min *Throughput `json:"min,omitempty"`
	// RelativeTo and MaxRatio: the metric may be at most MaxRatio times
	// (throughput: at least 1/MaxRatio of) the other phase's.
	RelativeTo  string       `json:"relativeTo,omitempty"`
	MaxRatio    float64      `json:"maxRatio,omitempty"`
	Statistical *Statistical `json:"statistical,omitempty"`
}

// Statistical: the phase's copies are not slower than those of Against by
// more than MaxSlowdown, by a one-sided Mann-Whitney U test on each copy's
// median call latency: the copy (an iteration), not the call, is the unit,
// so the workload needs enough iterations for Alpha (budget.MinIterations).
type Statistical struct {
	Against     string  `json:"against"`
	MaxSlowdown float64 `json:"maxSlowdown"`
	Alpha       float64 `json:"alpha,omitempty"`
}

// Fault types for detection self-tests: each mechanism behind
// kubernetes#131186 (see framework/fault).
const (
	FaultLateMount     = "late-mount"
	FaultIOThrottle    = "io-throttle"
	FaultMountOptions  = "mount-options"
	FaultMemorySqueeze = "memory-squeeze"
	FaultReadahead     = "readahead"
)

// FaultTypes returns the fault types, in a fresh slice.
func FaultTypes() []string {
	return []string{FaultLateMount, FaultIOThrottle, FaultMountOptions, FaultMemorySqueeze, FaultReadahead}
}

// Bounds and defaults of the faults' values.
const (
	// DefaultFaultMemoryLimit: small enough that a 16 MiB sendfile call
	// must reclaim the copy's own page cache and wait for its writeback
	// (measured on kind: p50 per call x5 on a warm cache, x3-4 cold).
	DefaultFaultMemoryLimit = "12Mi"
	// MinFaultMemoryBytes: below it the probe itself is OOM-killed.
	MinFaultMemoryBytes = 8 << 20
	MaxFaultMemoryBytes = 1 << 40
	// MaxFaultReadAheadKB: the readahead fault lowers readahead, at most to
	// the kernel's floor (128 KiB), which a loop device gets back when it is
	// detached: a device a dead run left behind heals itself.
	MaxFaultReadAheadKB = 128
	MaxFaultOptions     = 8
)

// DefaultFaultMountOptions returns the mount-options fault's default options.
func DefaultFaultMountOptions() []string { return []string{"sync"} }

// Fault is an injected mechanism the gate must catch.
type Fault struct {
	Type  string `json:"type"`
	Phase string `json:"phase,omitempty"`
	// ReadBPS is the io-throttle limit in bytes per second (default 20MB/s, the numbers).
	ReadBPS *Throughput `json:"readBPS,omitempty"`
	// MountOptions (mount-options) are added to the mount of every
	// filesystem volume from the next boot on (default [sync]).
	MountOptions []string `json:"mountOptions,omitempty"`
	// MemoryLimit (memory-squeeze) is the memory limit put on the restarted
	// container's cgroup, a quantity (default 12Mi).
	MemoryLimit string `json:"memoryLimit,omitempty"`
	// ReadAheadKB (readahead) is read_ahead_kb of every volume's block
	// device from the next boot on, 0 to 128 (default 0: reads of one page).
	ReadAheadKB *int `json:"readAheadKB,omitempty"`
}

// BootMountOptions are the options the mount-options fault adds.
func (f Fault) BootMountOptions() []string {
	if len(f.MountOptions) == 0 {
		return DefaultFaultMountOptions()
	}
	return append([]string(nil), f.MountOptions...)
}

// MemoryLimitBytes is the memory-squeeze limit in bytes.
func (f Fault) MemoryLimitBytes() (int64, error) {
	if f.MemoryLimit == "" {
		return ParseBytes(DefaultFaultMemoryLimit)
	}
	return ParseBytes(f.MemoryLimit)
}

// ReadAheadKBOrDefault is the readahead fault's read_ahead_kb.
func (f Fault) ReadAheadKBOrDefault() int {
	if f.ReadAheadKB == nil {
		return 0
	}
	return *f.ReadAheadKB
}

// Duration is a time.Duration written with a unit: "120ms", "5m". A value
// that cannot be read is kept as a problem for Validate to report with its
// field path, so that one bad duration does not hide the other errors.
type Duration struct {
	time.Duration
	problem string
	given   bool
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "120ms". A bare number is refused: its unit would be a guess.
func (d *Duration) UnmarshalJSON(b []byte) error {
	*d = Duration{given: true}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		d.problem = fmt.Sprintf("%s has no unit: write a string such as 5m, 90s or 250ms", b)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || !strings.ContainsAny(s, "hmsuµn") {
		// Go reads a bare "0" as a duration; a scenario says its unit.
		d.problem = fmt.Sprintf("%q is not a duration with a unit such as 5m, 90s or 250ms", s)
		return nil
	}
	d.Duration = v
	return nil
}

// Problem is why the written value could not be read, or "".
func (d Duration) Problem() string { return d.problem }

// Given reports whether the file set the duration (even to 0).
func (d Duration) Given() bool { return d.given }

// Throughput is bytes per second written as "200MB/s", "1.5GiB/s".
type Throughput struct {
	BytesPerSecond float64
	problem        string
}

// MarshalJSON writes the throughput as MB/s.
func (t Throughput) MarshalJSON() ([]byte, error) {
	return json.Marshal(strconv.FormatFloat(t.BytesPerSecond/1e6, 'f', -1, 64) + "MB/s")
}

// UnmarshalJSON reads "200MB/s"; what cannot be read is kept for Validate.
func (t *Throughput) UnmarshalJSON(b []byte) error {
	*t = Throughput{}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.problem = fmt.Sprintf("%s: want a string such as 200MB/s", b)
		return nil
	}
	v, err := ParseThroughput(s)
	if err != nil {
		t.problem = err.Error()
		return nil
	}
	t.BytesPerSecond = v
	return nil
}

// Problem is why the written value could not be read, or "".
func (t Throughput) Problem() string { return t.problem }

// ParseThroughput reads "200MB/s", "20MiB/s", "1GB/s", "5000B/s": a finite,
// positive rate.
func ParseThroughput(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "/s")
	if !ok {
		return 0, fmt.Errorf("throughput %q: want a rate like 200MB/s", s)
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"kB", 1e3}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(num, u.suffix); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("throughput %q: %q is not a number", s, v)
			}
			if math.IsNaN(f) || math.IsInf(f, 0) || f <= 0 {
				return 0, fmt.Errorf("throughput %q: must be a finite number > 0", s)
			}
			return f * u.mult, nil
		}
	}
	return 0, fmt.Errorf("throughput %q: unknown unit (want B, kB, MB, GB, KiB, MiB or GiB per second)", s)
}
