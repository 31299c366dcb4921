package report

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/calibrate"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// Schema of a Result document.
const Schema = "pvreboot.dev/result/v1"

// Result is everything one scenario run found.
type Result struct {
	Schema     string         `json:"schema"`
	Scenario   string         `json:"scenario"`
	StartedAt  time.Time      `json:"startedAt"`
	FinishedAt time.Time      `json:"finishedAt"`
	Cluster    ClusterFacts   `json:"cluster"`
	Node       NodeFacts      `json:"node"`
	Phases     []PhaseResult  `json:"phases"`
	Reboots    []Reboot       `json:"reboots,omitempty"`
	Verdict    budget.Verdict `json:"verdict"`
	Diagnosis  []Change       `json:"diagnosis,omitempty"`
	Faults     []string       `json:"faults,omitempty"`
	Errors     []string       `json:"errors,omitempty"`
	// Failure is the step the run stopped in and why (nil when every step
	// ran): see failure.go.
	Failure *Failure     `json:"failure,omitempty"`
	Timings []StepTiming `json:"timings,omitempty"`
	// Cycles judges each reboot cycle's after-reboot phase, when the run
	// made more than one.
	Cycles []CycleResult `json:"cycles,omitempty"`
	// Volumes are the measurements of the scenario's further volumes; the
	// first volume's are Phases. Each is judged by the same budgets.
	Volumes []VolumeResult `json:"volumes,omitempty"`
	// Provenance says what made the result: pvreboot's build, the run's ID,
	// the host it ran from and the scenario as run (after defaults).
	Provenance *Provenance `json:"provenance,omitempty"`
	// Calibration is the noise measured by `pvreboot calibrate`: its own
	// result, or the one a run was given (run --calibration).
	Calibration *calibrate.Calibration `json:"calibration,omitempty"`
}

// Provenance is where a result comes from.
type Provenance struct {
	Build Build `json:"build"`
	// RunID is the run's identifier: its namespace is pvreboot-<RunID>.
	RunID string    `json:"runID,omitempty"`
	Host  HostFacts `json:"host"`
	// Scenario is the scenario as run, after defaults.
	Scenario *scenario.Scenario `json:"scenario,omitempty"`
}

// Build identifies the pvreboot binary.
type Build struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	GoVersion string `json:"goVersion,omitempty"`
}

// HostFacts describe the machine pvreboot ran on (not the node).
type HostFacts struct {
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Kernel   string `json:"kernel,omitempty"`
}

// ClusterFacts describe the cluster.
type ClusterFacts struct {
	Name              string `json:"name"`
	Provider          string `json:"provider"` // kind or existing
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`
}

// NodeFacts describe the node under test.
type NodeFacts struct {
	Name             string `json:"name"`
	InternalIP       string `json:"internalIP,omitempty"`
	KernelVersion    string `json:"kernelVersion,omitempty"`
	ContainerRuntime string `json:"containerRuntime,omitempty"`
	BootID           string `json:"bootID,omitempty"`
}

// PhaseResult is one measured phase.
type PhaseResult struct {
	Name  string        `json:"name"`
	Pod   PodFacts      `json:"pod"`
	Probe *probe.Report `json:"probe,omitempty"`
	Data  *DataCheck    `json:"data,omitempty"`
	Error string        `json:"error,omitempty"`
	// Cycle is the reboot cycle an after-reboot phase measured, when the
	// run made more than one (a qualification's cycles).
	Cycle int `json:"cycle,omitempty"`
}

// PodFacts identify the workload pod a phase ran in.
type PodFacts struct {
	Name         string `json:"name"`
	UID          string `json:"uid"`
	RestartCount int32  `json:"restartCount"`
	ContainerID  string `json:"containerID,omitempty"`
	IP           string `json:"ip,omitempty"`
}

// DataCheck is the check of the file written before the reboot.
type DataCheck struct {
	Path   string `json:"path"`
	Want   string `json:"want"`
	Got    string `json:"got,omitempty"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Reboot is one reboot's timeline.
type Reboot struct {
	Method         string     `json:"method"`
	Node           string     `json:"node"`
	Cycle          int        `json:"cycle,omitempty"`
	Issued         time.Time  `json:"issued"`
	Returned       time.Time  `json:"returned"` // the reboot command returned
	NotReadySeen   *time.Time `json:"notReadySeen,omitempty"`
	KubeletBack    *time.Time `json:"kubeletBack,omitempty"` // first heartbeat newer than Issued
	NodeReady      *time.Time `json:"nodeReady,omitempty"`
	PodReady       *time.Time `json:"podReady,omitempty"`
	SamePod        bool       `json:"samePod"`
	RestartsBefore int32      `json:"restartsBefore"`
	RestartsAfter  int32      `json:"restartsAfter"`
	BootIDBefore   string     `json:"bootIDBefore,omitempty"`
	BootIDAfter    string     `json:"bootIDAfter,omitempty"`
	Notes          []string   `json:"notes,omitempty"`
}

// StepTiming is how long a step took.
type StepTiming struct {
	Step    string        `json:"step"`
	Elapsed time.Duration `json:"elapsedNs"`
}

// Phase returns the named phase or nil.
func (r *Result) Phase(name string) *PhaseResult {
	for i := range r.Phases {
		if r.Phases[i].Name == name {
			return &r.Phases[i]
		}
	}
	return nil
}

// BudgetPhases turns the measured phases into budget input.
func (r *Result) BudgetPhases() map[string]budget.Phase {
	out := map[string]budget.Phase{}
	for _, p := range r.Phases {
		if _, seen := out[p.Name]; p.Probe != nil && !seen {
			// The first of a name, as Phase returns: a run of several
			// cycles judges later cycles' after-reboot phases in Cycles.
			out[p.Name] = PhaseFromProbe(p.Probe)
		}
	}
	return out
}

// CycleResult is how one reboot cycle's after-reboot phase fared against
// the budgets about it.
type CycleResult struct {
	Cycle          int     `json:"cycle"`
	Pass           bool    `json:"pass"`
	P50Ns          int64   `json:"p50Ns,omitempty"`
	P99Ns          int64   `json:"p99Ns,omitempty"`
	BytesPerSecond float64 `json:"bytesPerSecond,omitempty"`
	// Failed names the budgets and checks the cycle failed.
	Failed []string `json:"failed,omitempty"`
	Error  string   `json:"error,omitempty"`
}

// CyclePhases returns the after-reboot phases of each cycle, in order (one
// phase for a run of one cycle).
func (r *Result) CyclePhases() []*PhaseResult {
	var out []*PhaseResult
	for i := range r.Phases {
		if r.Phases[i].Name == scenario.PhaseAfterReboot {
			out = append(out, &r.Phases[i])
		}
	}
	return out
}

// PhaseFromProbe extracts budget input from a probe report: every call, and
// the calls grouped by copy (iteration), the statistical budget's unit.
func PhaseFromProbe(rep *probe.Report) budget.Phase {
	p := budget.Phase{BytesPerSecond: rep.Summary.BytesPerSecond}
	for _, it := range rep.Iterations {
		ns := make([]float64, len(it.Calls))
		for i, c := range it.Calls {
			ns[i] = float64(c.Ns)
		}
		p.Iterations = append(p.Iterations, ns)
		p.CallNs = append(p.CallNs, ns...)
	}
	// A copy served by shared extents read nothing: a budget judged on it
	// cannot see the data path, and says so.
	if shared, _ := rep.SharedExtents(); shared {
		p.Blind = string(rep.Method) + " shared extents (reflink), no data was read"
	}
	return p
}

// ReadFile reads a Result, or a probe report (pvreboot probe -o json) as a
// one-phase Result named after its method.
func ReadFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	r, err := Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Decode reads a Result, or a probe report (wrapped as a one-phase Result),
// by its schema.
func Decode(b []byte) (*Result, error) {
	var head struct {
		Schema string `json:"schema"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	switch head.Schema {
	case Schema:
		var r Result
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, err
		}
		return &r, nil
	case probe.Schema:
		var p probe.Report
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		return FromProbe(&p), nil
	}
	return nil, fmt.Errorf("schema %q is neither %s nor %s", head.Schema, Schema, probe.Schema)
}

// FromProbe wraps a host probe report as a one-phase Result.
func FromProbe(p *probe.Report) *Result {
	return &Result{
		Schema: Schema, Scenario: "probe " + p.Dir, StartedAt: p.StartedAt, FinishedAt: p.StartedAt,
		Node:   NodeFacts{Name: p.Env.Hostname, KernelVersion: p.Env.KernelRelease, BootID: p.Env.BootID},
		Phases: []PhaseResult{{Name: "probe", Probe: p}},
	}
}
