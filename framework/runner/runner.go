package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/drain"
	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/wait"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// Nodes runs commands on nodes: an argv, never shell text, with optional
// stdin.
type Nodes interface {
	NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error)
}

// Rebooter reboots one node.
type Rebooter interface {
	Method() string
	Reboot(ctx context.Context, node string) (reboot.Event, error)
}

// Timeouts of the steps; each wait is bounded by one of these.
const (
	podReadyTimeout = 3 * time.Minute // a workload pod from a preloaded image on a bound Local PV
	podGoneTimeout  = 2 * time.Minute // a pod with a 5 s grace period
	measureTimeout  = 10 * time.Minute
	canaryTimeout   = 2 * time.Minute
	cleanupTimeout  = 3 * time.Minute
	// A new namespace's default ServiceAccount (the controller manager's work).
	serviceAccountTimeout = 2 * time.Minute
	drainTimeout          = 5 * time.Minute // evictions, PodDisruptionBudgets included
	canaryPath            = "/data/pvreboot-canary"
	emptySHA256           = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	canaryBytes           = 4 << 20
	workloadPodName       = "pvreboot-workload"
)

// RebootGate admits a reboot of a node; release ends it (the node and the
// pod are back, or the reboot failed).
type RebootGate interface {
	Acquire(ctx context.Context, node string) (release func(), err error)
}

// ErrNoReboot is a reboot asked of a run made with Config.NoReboot.
var ErrNoReboot = errors.New("runner: this run was made never to reboot (NoReboot): its reboot plan was not checked")

// Config of one run.
type Config struct {
	Scenario    *scenario.Scenario
	Client      kubernetes.Interface
	RESTConfig  *rest.Config
	Nodes       Nodes
	Rebooter    Rebooter
	ProbeImage  string
	ClusterName string
	Provider    string // kind or existing
	// Keep leaves the namespace, PVs and backings in place.
	Keep bool
	// Build identifies the pvreboot binary in the result's provenance.
	Build report.Build
	// NoReboot is a run that never reboots (calibrate): its reboot plan is
	// neither checked nor needed.
	NoReboot bool
	// Cycles is how many times the run reboots the node and measures again
	// in the same pod (after-reboot, one phase per cycle) before it
	// recreates the pod; 0 means 1. Faults act around the first cycle's
	// reboot only: later cycles measure what the node kept.
	Cycles int
	// RebootGate, when set, is asked before each reboot and released once
	// the node and the pod are back: a qualification uses it to keep at
	// most maxUnavailable nodes down at once.
	RebootGate RebootGate
	// MeasureGate, when set, is held while the run measures (every volume
	// of a phase): a qualification on a cluster whose nodes share one disk
	// (kind) measures one case at a time, so that cases running at once do
	// not slow each other's copies.
	MeasureGate RebootGate
	// SharedStorageClasses leaves the StorageClasses the run made in place
	// at cleanup: runs at once in one process (a qualification's cases)
	// share them, and one run's cleanup must not remove the class another
	// is binding a claim to. Whoever runs them removes them at the end.
	SharedStorageClasses bool
	// AllowReboot confirms rebooting real machines (--allow-reboot or
	// PVREBOOT_ALLOW_REBOOT): the person running decides, never the scenario.
	AllowReboot bool
	// HostBootID is this host's kernel boot ID (reboot.HostBootID); empty
	// reads it.
	HostBootID string
	// Close, when set, releases what the cluster setup made (node exec
	// helpers); Cleanup calls it last.
	Close    func(ctx context.Context) error
	Progress io.Writer
	Log      *slog.Logger
	// StateDir keeps a local copy of the run's ledger (what it made), for
	// `pvreboot cleanup --run` when the cluster's copy cannot be read; ""
	// keeps only the cluster's (a Lease in pvreboot-runs).
	StateDir string
	// Holder names this process in the run's Lease ("host:pid").
	Holder string
	// HelperNamespace is the node helpers' namespace (existing clusters),
	// recorded in the ledger; Close removes it.
	HelperNamespace string
	// Events, when set, receives the run's structured events (step
	// boundaries, reboot milestones, what cleanup removed or left). Called
	// synchronously: it must not block.
	Events func(Event)
}

// Run is one scenario run; its steps can be driven one by one (the Ginkgo
// suite does) or all at once with Execute.
type Run struct {
	cfg   Config
	id    string
	start time.Time
	node  string
	ns    string
	prov  *localpv.Provisioner
	// mu guards ns and volumes, which Leftovers reads from another
	// goroutine (a second interrupt) while the run cleans up.
	mu      sync.Mutex
	volumes []*localpv.Volume
	// classes are the StorageClasses the run's volumes name (made when
	// missing), recorded before any volume is made.
	classes []string
	// outages are the API server failures retried since the last reboot's
	// timeline took them.
	outages []string
	pod     *corev1.Pod
	// cordoned is set while the node is cordoned by this run (Cleanup
	// uncordons it if the run stops before it is back).
	cordoned bool
	canary   string
	// cycle is the reboot cycle under way (1 from the first Reboot on).
	cycle int
	// faults are the scenario's injected mechanisms, in the order their
	// hooks run (fault.Ordered, whatever the scenario's); changes
	// what they made on the node that Cleanup undoes (guarded by mu).
	faults  []fault.Fault
	changes []fault.Change
	// pendingNotes are what faults did before the first reboot's timeline
	// exists; that timeline takes them.
	pendingNotes []string
	// ledger records what the run makes before it makes it, in the cluster
	// and in StateDir, and holds the run's heartbeat.
	ledger   *ledger.Ledger
	stopBeat func()
	Result   *report.Result
}

// New prepares a run; nothing is created until Prepare.
func New(cfg Config) (*Run, error) {
	if cfg.Scenario == nil || cfg.Client == nil || cfg.RESTConfig == nil || cfg.Nodes == nil || cfg.Rebooter == nil || cfg.ProbeImage == "" {
		return nil, errors.New("runner: scenario, client, REST config, nodes, rebooter and probe image must be set")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	s := cfg.Scenario
	if len(s.Spec.Cluster.Nodes.Names) == 0 {
		return nil, errors.New("runner: the scenario names no node (label selectors need an existing cluster)")
	}
	r := &Run{cfg: cfg, start: time.Now(), node: s.Spec.Cluster.Nodes.Names[0],
		id:   fmt.Sprintf("%08x", time.Now().UnixNano()&0xffffffff),
		prov: localpv.New(cfg.Client, cfg.Nodes, cfg.Log)}
	r.Result = &report.Result{Schema: report.Schema, Scenario: s.Metadata.Name, StartedAt: r.start,
		Cluster: report.ClusterFacts{Name: cfg.ClusterName, Provider: cfg.Provider}}
	// The hooks run in fault.Ordered's order (late-mount first: the others
	// act on the volume it mounts); the report keeps the scenario's.
	for _, f := range fault.Ordered(s.Spec.Faults) {
		ft, err := fault.New(f)
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		r.faults = append(r.faults, ft)
	}
	for _, f := range s.Spec.Faults {
		r.Result.Faults = append(r.Result.Faults, f.Type)
	}
	r.Result.Provenance = &report.Provenance{Build: cfg.Build, RunID: r.id, Host: hostFacts(), Scenario: s}
	return r, nil
}

// HostFacts describes the machine runs are driven from.
func HostFacts() report.HostFacts { return hostFacts() }

// hostFacts describes the machine the run is driven from.
func hostFacts() report.HostFacts {
	h := report.HostFacts{OS: runtime.GOOS, Arch: runtime.GOARCH}
	h.Hostname, _ = os.Hostname()
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		h.Kernel = strings.TrimSpace(string(b))
	}
	return h
}

// waitsSay makes the waits under ctx say, every wait.ReportInterval, what
// they wait for and what they last saw, in the run's progress.
func (r *Run) waitsSay(ctx context.Context) context.Context {
	return wait.WithReporter(ctx, func(s string) { r.progress("%s", s) })
}

// ID is the run's identifier: part of every name it creates and the value
// of the pvreboot.dev/run label.
func (r *Run) ID() string { return r.id }

// Abandon stops the run's heartbeat without cleaning up, as a killed
// process would: its ledger then says it is dead and the sweep takes what it
// made. For fault tests.
func (r *Run) Abandon() {
	if r.stopBeat != nil {
		r.stopBeat()
	}
}

// RunID is ID, for the CLI's interrupt report.
func (r *Run) RunID() string { return r.id }

// Leftovers says what the run made and has not removed yet, one item a
// line ("namespace pvreboot-1a2b", "PV pvreboot-1a2b-data and its
// filesystem backing /mnt/pvreboot/... on node kind-worker"). Safe to call
// while the run goes on.
func (r *Run) Leftovers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	if r.ledger != nil {
		// Everything recorded, half-made volumes and the helpers included.
		for _, it := range r.ledger.Items() {
			out = append(out, it.String())
		}
		return out
	}
	if r.ns != "" {
		out = append(out, "namespace "+r.ns+" (the workload pod, the PVCs)")
	}
	for _, v := range r.volumes {
		item := "PV " + v.PVName
		if v.Path != "" {
			item += fmt.Sprintf(" and its %s backing %s on node %s", v.Backing, v.Path, v.Node)
		}
		out = append(out, item)
	}
	return out
}

func (r *Run) progress(format string, a ...any) {
	fmt.Fprintf(r.cfg.Progress, "[%6.1fs] %s\n", time.Since(r.start).Seconds(), fmt.Sprintf(format, a...))
}

// timed runs one step (id: StepPrepare...; step: what it does, for people),
// with its events, progress lines and timing.
func (r *Run) timed(id, step string, f func() error) error {
	t0 := time.Now()
	r.emit(StepStarted, id, step, nil)
	r.progress("%s ...", step)
	err := f()
	d := time.Since(t0)
	r.emit(StepEnded, id, step, err)
	r.Result.Timings = append(r.Result.Timings, report.StepTiming{Step: step, Elapsed: d})
	if err != nil {
		r.progress("%s: FAILED after %s: %v", step, d.Round(100*time.Millisecond), err)
		r.Result.Errors = append(r.Result.Errors, fmt.Sprintf("%s: %v", step, err))
		if r.Result.Failure == nil {
			// The first step that fails is where the run stopped.
			r.Result.Failure = &report.Failure{Step: id, Error: err.Error()}
		}
		return fmt.Errorf("%s: %w", step, err)
	}
	r.progress("%s: done in %s", step, d.Round(100*time.Millisecond))
	return nil
}

// Execute runs every step and the cleanup. The returned error is an
// infrastructure failure; a failed verdict is in Result.Verdict. With
// ArtifactsIn it saves what explains the run's end before cleaning up
// (artifacts.go).
func (r *Run) Execute(ctx context.Context, opts ...ExecuteOption) (err error) {
	o := executeOptionsOf(opts)
	defer func() {
		// Each cleanup step has its own bound; an interrupt must not stop them.
		if cerr := r.Cleanup(context.WithoutCancel(ctx)); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	steps := []func(context.Context) error{r.Prepare, r.Baseline}
	for range r.Cycles() {
		steps = append(steps, r.Reboot, r.AfterReboot)
	}
	steps = append(steps, r.Recreate, r.AfterRecreate)
	for _, step := range steps {
		if err := step(ctx); err != nil {
			r.Finish()
			r.afterSteps(ctx, o, err)
			return err
		}
	}
	r.Finish()
	r.afterSteps(ctx, o, nil)
	return nil
}

func (r *Run) has(phase string) bool { return slices.Contains(r.cfg.Scenario.Spec.Phases, phase) }

// injectFaults calls one hook of every fault (BeforeReboot, AfterPodBack,
// AfterPodGone) with what it acts on now.
func (r *Run) injectFaults(ctx context.Context, hook func(fault.Fault, context.Context, fault.Target) error) error {
	if len(r.faults) == 0 {
		return nil
	}
	t := fault.Target{Nodes: r.cfg.Nodes, Mounts: r.prov, Devices: r.prov, Node: r.node, Record: r.recordChange,
		Note: func(n string) {
			r.progress("%s", n)
			if k := len(r.Result.Reboots); k > 0 {
				r.Result.Reboots[k-1].Notes = append(r.Result.Reboots[k-1].Notes, n)
			} else {
				r.pendingNotes = append(r.pendingNotes, n)
			}
		}}
	r.mu.Lock()
	t.Volumes = slices.Clone(r.volumes)
	r.mu.Unlock()
	if r.pod != nil {
		t.ContainerID = podFacts(r.pod).ContainerID
	}
	for _, f := range r.faults {
		if err := hook(f, ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// Prepare creates the namespace, the Local PVs and the workload pod.
func (r *Run) Prepare(ctx context.Context) error {
	s := r.cfg.Scenario
	return r.timed(StepPrepare, "prepare: namespace, local PVs, workload pod on "+r.node, func() error {
		if !r.cfg.NoReboot {
			if err := r.checkPlan(ctx); err != nil {
				return err
			}
			if u, ok := r.cfg.Rebooter.(unavailable); ok {
				_, err := u.Reboot(ctx, r.node)
				return err
			}
		}
		node, err := r.getNode(ctx, "prepare")
		if err != nil {
			return fmt.Errorf("node %s: %w", r.node, err)
		}
		r.Result.Node = report.NodeFacts{Name: node.Name, KernelVersion: node.Status.NodeInfo.KernelVersion,
			ContainerRuntime: node.Status.NodeInfo.ContainerRuntimeVersion, BootID: node.Status.NodeInfo.BootID}
		r.Result.Cluster.KubernetesVersion = node.Status.NodeInfo.KubeletVersion
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && r.Result.Node.InternalIP == "" {
				r.Result.Node.InternalIP = a.Address
			}
		}
		if err := r.openLedger(ctx); err != nil {
			return err
		}
		if err := r.record(ctx, ledger.Item{Kind: ledger.KindNamespace, Name: "pvreboot-" + r.id}); err != nil {
			return err
		}
		nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: "pvreboot-" + r.id,
			Labels: map[string]string{localpv.LabelOwned: "true", localpv.LabelRun: r.id, "pvreboot.dev/scenario": s.Metadata.Name,
				// The workload pod runs as root without a seccomp profile:
				// baseline, where a cluster enforces restricted by default.
				"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/warn": "baseline"},
		}}
		// Known before it is asked for: a create whose answer an interrupt
		// lost is still the run's to delete.
		r.mu.Lock()
		r.ns = nsObj.Name
		r.mu.Unlock()
		err = r.retry(ctx, "create namespace", func(ctx context.Context) error {
			_, err := r.cfg.Client.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return nil // an earlier try's answer was lost; the name is the run's
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("create namespace: %w", err)
		}
		if err := namespaceReady(ctx, r.cfg.Client, r.ns); err != nil {
			return err
		}
		for _, v := range s.Spec.Volumes {
			for i := 0; i < v.Instances(); i++ {
				spec := localpv.Spec{Run: r.id, Name: v.InstanceName(i), Node: r.node, Backing: v.Backing, FSType: v.FSType,
					SizeBytes: v.Bytes(), MountOptions: v.MountOptions, StorageClass: v.StorageClass, Namespace: r.ns, Root: nodeRoot}
				// Recorded before it is made: a run killed half way through
				// a Create leaves nothing the ledger does not name.
				items := append(volumeItems(localpv.Planned(spec)), ledger.Item{Kind: ledger.KindStorageClass, Name: v.StorageClass})
				if err := r.record(ctx, items...); err != nil {
					return err
				}
				r.mu.Lock()
				if !slices.Contains(r.classes, v.StorageClass) {
					r.classes = append(r.classes, v.StorageClass)
				}
				r.mu.Unlock()
				vol, err := r.prov.Create(ctx, spec)
				if err != nil {
					if errors.Is(err, localpv.ErrRollback) {
						// Something of it may be left: cleanup tears it down.
						r.mu.Lock()
						r.volumes = append(r.volumes, localpv.Planned(spec))
						r.mu.Unlock()
					} else {
						// Create removed what it had made: nothing of it is left.
						r.forget(context.WithoutCancel(ctx), volumeItems(localpv.Planned(spec))...)
					}
					return err
				}
				r.mu.Lock()
				r.volumes = append(r.volumes, vol)
				r.mu.Unlock()
			}
		}
		return r.createPod(ctx)
	})
}

// apiRetryTimeout bounds the retries of one API call while the API server
// is away (restarting, its node rebooting).
const apiRetryTimeout = 2 * time.Minute

// retry runs an API call through wait.Retry and notes an outage.
func (r *Run) retry(ctx context.Context, what string, f func(context.Context) error) error {
	rctx, cancel := context.WithTimeout(ctx, apiRetryTimeout)
	defer cancel()
	o, err := wait.Retry(rctx, f)
	if o.Retries > 0 {
		note := fmt.Sprintf("the API server failed %d time(s) over %s during %s (last: %v)", o.Retries, o.Lasted.Round(100*time.Millisecond), what, o.Last)
		r.progress("%s", note)
		r.mu.Lock()
		r.outages = append(r.outages, note)
		r.mu.Unlock()
	}
	return err
}

// takeOutages returns the outages noted since the last call.
func (r *Run) takeOutages() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.outages
	r.outages = nil
	return out
}

func (r *Run) getNode(ctx context.Context, what string) (*corev1.Node, error) {
	var n *corev1.Node
	err := r.retry(ctx, "getting node "+r.node+" "+what, func(ctx context.Context) error {
		var err error
		n, err = r.cfg.Client.CoreV1().Nodes().Get(ctx, r.node, metav1.GetOptions{})
		return err
	})
	return n, err
}

// checkPlan builds the reboot plan from the cluster as it is now and returns
// its safety verdict.
func (r *Run) checkPlan(ctx context.Context) error {
	plan, err := BuildPlan(ctx, r.cfg.Client, r.cfg.Scenario, PlanOptions{AllowReboot: r.cfg.AllowReboot, HostBootID: r.cfg.HostBootID})
	if err != nil {
		return err
	}
	return plan.Check()
}

func (r *Run) createPod(ctx context.Context) error {
	// Placed by the PV's node affinity through the scheduler, not nodeName,
	// so that the volume binding is exercised as users have it.
	spec := workload.NewPod(workload.PodSpec{Namespace: r.ns, Name: workloadPodName, Image: r.cfg.ProbeImage,
		ClaimName: r.volumes[0].ClaimName, Block: r.volumes[0].IsBlock(), Labels: map[string]string{localpv.LabelRun: r.id},
		Extra: r.extraClaims()})
	err := r.retry(ctx, "create workload pod", func(ctx context.Context) error {
		_, err := r.cfg.Client.CoreV1().Pods(r.ns).Create(ctx, spec, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("create workload pod: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, podReadyTimeout)
	defer cancel()
	r.progress("waiting for pod %s/%s Ready", r.ns, workloadPodName)
	p, err := wait.PodReady(r.waitsSay(wctx), r.cfg.Client, r.ns, workloadPodName)
	if err != nil {
		return err
	}
	r.pod = p
	r.recordKubeletLoops(ctx)
	return nil
}

// recordKubeletLoops notes the kubelet's loop devices over block volumes so
// that cleanup can detach them after a node was killed (see localpv).
func (r *Run) recordKubeletLoops(ctx context.Context) {
	if err := r.prov.RecordKubeletLoops(ctx, r.volumes); err != nil {
		r.progress("warning: %v (cleanup may leave the kubelet's loop devices of block volumes attached)", err)
	}
	for _, v := range r.volumes {
		if len(v.KubeletLoops) > 0 {
			if err := r.record(ctx, volumeItems(v)[1]); err != nil {
				r.progress("warning: %v", err)
			}
		}
	}
}

func podFacts(p *corev1.Pod) report.PodFacts {
	f := report.PodFacts{Name: p.Name, UID: string(p.UID), IP: p.Status.PodIP}
	for _, cs := range p.Status.ContainerStatuses {
		f.RestartCount, f.ContainerID = cs.RestartCount, cs.ContainerID
	}
	return f
}

func (r *Run) probeOptions() probe.Options {
	w := r.cfg.Scenario.Spec.Workload
	o := probe.Options{Dir: workload.DataDir, Method: probe.Method(w.Method), Iterations: w.Copies(), Cache: probe.CacheMode(w.Cache),
		FileBytes: w.FileBytes(), ChunkBytes: w.ChunkBytes()}
	if len(r.volumes) > 0 && r.volumes[0].IsBlock() {
		o.Dir, o.Device = "", workload.DevicePath
	}
	if w.ExecCommand != "" {
		o.ExecCommand = strings.Fields(w.ExecCommand)
	}
	return o
}

// ErrNodeDown is a step on the node stopped because the node went NotReady.
var ErrNodeDown = errors.New("the node went NotReady")

// whileNodeUp returns a context that ends when the node goes NotReady: an
// exec into a pod whose node stopped hangs on a connection that no longer
// answers, for minutes. stop releases the watch.
func (r *Run) whileNodeUp(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		n, err := wait.NodeNotReady(ctx, r.cfg.Client, r.node)
		if err == nil {
			cancel(fmt.Errorf("%w: node %s (%s)", ErrNodeDown, r.node, wait.DescribeNode(n)))
		}
	}()
	return ctx, func() { cancel(nil) }
}

func (r *Run) exec(ctx context.Context, argv ...string) (string, error) {
	out, _, err := workload.Exec(ctx, r.cfg.RESTConfig, r.cfg.Client, r.ns, r.pod.Name, workload.ContainerName, argv, nil)
	return strings.TrimSpace(string(out)), err
}

// measure runs the probe in the current pod and records the phase.
func (r *Run) measure(ctx context.Context, phase string, check bool) error {
	ph := report.PhaseResult{Name: phase, Pod: podFacts(r.pod)}
	if phase == scenario.PhaseAfterReboot && r.Cycles() > 1 {
		ph.Cycle = r.cycle
	}
	if check {
		ph.Data = r.checkCanary(ctx)
	}
	uctx, stop := r.whileNodeUp(ctx)
	defer stop()
	mctx, cancel := context.WithTimeout(uctx, measureTimeout)
	defer cancel()
	if g := r.cfg.MeasureGate; g != nil {
		release, err := g.Acquire(mctx, r.node)
		if err != nil {
			ph.Error = err.Error()
			r.Result.Phases = append(r.Result.Phases, ph)
			return fmt.Errorf("wait for the other cases' measurements: %w", err)
		}
		defer release()
	}
	r.directIO(mctx, phase)
	var rep *probe.Report
	var err error
	if tracedWorkload(r.cfg.Scenario) {
		rep, err = r.measureTraced(mctx, phase)
	} else {
		o := r.probeOptions()
		r.progress("%s: copyprobe %s of %s in %s calls x%d (%s cache) in pod uid %.8s", phase, o.Method, probe.FormatSize(o.FileBytes), probe.FormatSize(o.ChunkBytes), o.Iterations, o.Cache, r.pod.UID)
		rep, err = workload.Measure(mctx, r.cfg.RESTConfig, r.cfg.Client, r.ns, r.pod.Name, o)
	}
	if cause := context.Cause(uctx); err != nil && errors.Is(cause, ErrNodeDown) {
		err = fmt.Errorf("measure: %w", cause)
	}
	if err != nil {
		ph.Error = err.Error()
		r.Result.Phases = append(r.Result.Phases, ph)
		return err
	}
	ph.Probe = rep
	r.Result.Phases = append(r.Result.Phases, ph)
	r.progress("%s: p50 %s p99 %s, %s", phase, budget.FormatNs(float64(rep.Summary.P50Ns)), budget.FormatNs(float64(rep.Summary.P99Ns)), budget.FormatRate(rep.Summary.BytesPerSecond))
	if tracedWorkload(r.cfg.Scenario) {
		return nil // the user's command copies where it copies
	}
	return r.measureExtra(mctx, uctx, ph)
}

// extraClaims are the volumes after the first, as the workload pod has them.
func (r *Run) extraClaims() []workload.Claim {
	var out []workload.Claim
	for _, v := range r.volumes[1:] {
		out = append(out, workload.Claim{Name: v.ClaimName, Block: v.IsBlock()})
	}
	return out
}

// measureExtra measures every further volume in the same pod, right after
// the first, with the same workload: each volume's phase goes to
// Result.Volumes and is judged by the same budgets.
func (r *Run) measureExtra(ctx, nodeUp context.Context, first report.PhaseResult) error {
	for i, c := range r.extraClaims() {
		if len(r.Result.Volumes) <= i {
			r.Result.Volumes = append(r.Result.Volumes, report.VolumeResult{Name: c.Name})
		}
		o := r.probeOptions()
		o.Dir, o.Device = workload.VolumePath(c), ""
		if c.Block {
			o.Dir, o.Device = "", workload.VolumePath(c)
		}
		ph := report.PhaseResult{Name: first.Name, Pod: first.Pod, Cycle: first.Cycle}
		r.progress("%s: volume %s: copyprobe %s of %s in %s calls x%d", first.Name, c.Name, o.Method, probe.FormatSize(o.FileBytes), probe.FormatSize(o.ChunkBytes), o.Iterations)
		rep, err := workload.Measure(ctx, r.cfg.RESTConfig, r.cfg.Client, r.ns, r.pod.Name, o)
		if cause := context.Cause(nodeUp); err != nil && errors.Is(cause, ErrNodeDown) {
			err = fmt.Errorf("measure volume %s: %w", c.Name, cause)
		}
		if err != nil {
			ph.Error = err.Error()
			r.Result.Volumes[i].Phases = append(r.Result.Volumes[i].Phases, ph)
			return fmt.Errorf("volume %s: %w", c.Name, err)
		}
		ph.Probe = rep
		r.Result.Volumes[i].Phases = append(r.Result.Volumes[i].Phases, ph)
		r.progress("%s: volume %s: p50 %s p99 %s, %s", first.Name, c.Name, budget.FormatNs(float64(rep.Summary.P50Ns)), budget.FormatNs(float64(rep.Summary.P99Ns)), budget.FormatRate(rep.Summary.BytesPerSecond))
	}
	return nil
}

// directIO turns direct I/O on for the loop devices of the volumes before a
// measurement: a filesystem's mount unit attaches a new one at every boot
// without it, and without it a kind node's cold reads come from the host's
// page cache of the image file. Where the kernel refuses, the run goes on;
// each phase's probe env records what the device used.
func (r *Run) directIO(ctx context.Context, phase string) {
	for _, v := range r.volumes {
		got, err := r.prov.DirectIO(ctx, v)
		switch {
		case err != nil:
			r.progress("%s: %v (measuring without it)", phase, err)
		case got != "":
			r.progress("%s: direct I/O of %s's loop device (1 on, 0 refused): %s", phase, v.PVName, strings.ReplaceAll(got, "\n", ", "))
		}
	}
}

// canaryTarget returns the data canary: a file on the volume, or on a block
// volume its last MiB, past the probe's regions (scenario validation keeps
// them apart).
func (r *Run) canaryTarget() workload.Canary {
	if len(r.volumes) == 0 || !r.volumes[0].IsBlock() {
		return workload.Canary{Target: canaryPath, Bytes: canaryBytes}
	}
	return workload.Canary{Target: workload.DevicePath, Block: true, Bytes: scenario.BlockCanaryBytes,
		BlockNum: r.volumes[0].SizeBytes/scenario.BlockCanaryBytes - 1}
}

func (r *Run) writeCanary(ctx context.Context) error {
	uctx, stop := r.whileNodeUp(ctx)
	defer stop()
	cctx, cancel := context.WithTimeout(uctx, canaryTimeout)
	defer cancel()
	out, err := r.exec(cctx, r.canaryTarget().WriteArgv()...)
	if err != nil {
		return fmt.Errorf("write canary file: %w", err)
	}
	f := strings.Fields(out)
	if len(f) == 0 || len(f[0]) != 64 || f[0] == emptySHA256 {
		return fmt.Errorf("write canary file: unexpected sha256sum output %q", out)
	}
	r.canary = f[0]
	return nil
}

func (r *Run) checkCanary(ctx context.Context) *report.DataCheck {
	c := r.canaryTarget()
	dc := &report.DataCheck{Path: c.Target, Want: r.canary}
	if c.Block {
		dc.Path = fmt.Sprintf("%s@%d", c.Target, c.BlockNum*c.Bytes)
	}
	cctx, cancel := context.WithTimeout(ctx, canaryTimeout)
	defer cancel()
	out, err := r.exec(cctx, c.CheckArgv()...)
	switch {
	case err != nil:
		dc.Detail = "could not check: " + err.Error()
	case out == "missing" && c.Block:
		dc.Detail = "the pod has no block device at " + workload.DevicePath
	case out == "missing":
		dc.Detail = "the file written before the reboot is missing: the pod sees another filesystem than the one written to"
	default:
		if f := strings.Fields(out); len(f) > 0 {
			dc.Got = f[0]
		}
		// The digest of nothing means nothing was read: never "intact".
		dc.OK = dc.Got == dc.Want && dc.Got != emptySHA256 && len(dc.Got) == 64
		if !dc.OK {
			dc.Detail = fmt.Sprintf("sha256 %s differs from %s written before the reboot", dc.Got, dc.Want)
		}
	}
	return dc
}

// Baseline writes the canary file and measures before the reboot.
func (r *Run) Baseline(ctx context.Context) error {
	return r.timed(StepBaseline, "baseline: canary file and measurement", func() error {
		if err := r.writeCanary(ctx); err != nil {
			return err
		}
		if !r.has(scenario.PhaseBaseline) {
			return nil
		}
		return r.measure(ctx, scenario.PhaseBaseline, false)
	})
}

// Reboot injects pre-reboot faults, reboots the node the scenario's number
// of times and waits for the node and the same workload pod to come back.
func (r *Run) Reboot(ctx context.Context) error {
	if r.cfg.NoReboot {
		// Its plan was never checked: it must not reboot anything.
		return ErrNoReboot
	}
	s := r.cfg.Scenario
	r.cycle++
	first := r.cycle == 1
	what := fmt.Sprintf("reboot: %s of %s x%d", r.cfg.Rebooter.Method(), r.node, s.Spec.Reboot.Times())
	if r.Cycles() > 1 {
		what += fmt.Sprintf(" (cycle %d of %d)", r.cycle, r.Cycles())
	}
	return r.timed(StepReboot, what, func() error {
		if first {
			if err := r.injectFaults(ctx, fault.Fault.BeforeReboot); err != nil {
				return err
			}
		}
		notes, err := r.cordonAndDrain(ctx)
		if err != nil {
			return err
		}
		start := len(r.Result.Reboots)
		for i := 0; i < s.Spec.Reboot.Times(); i++ {
			// The cluster may have changed since the last check (a control
			// plane lost, a drain, the node now sharing the host's kernel).
			if err := r.checkPlan(ctx); err != nil {
				return fmt.Errorf("before reboot %d of %d: %w", i+1, s.Spec.Reboot.Times(), err)
			}
			if err := r.gatedReboot(ctx); err != nil {
				return err
			}
		}
		if r.cordoned {
			if err := drain.Uncordon(ctx, r.cfg.Client, r.node); err != nil {
				return err
			}
			r.forget(ctx, ledger.Item{Kind: ledger.KindCordon, Name: r.node})
			r.cordoned = false
			notes = append(notes, "uncordoned once the node and the pod were back")
			r.progress("uncordoned %s", r.node)
		}
		if n := len(r.Result.Reboots); n > start {
			notes = append(notes, r.pendingNotes...)
			r.pendingNotes = nil
			r.Result.Reboots[start].Notes = append(notes, r.Result.Reboots[start].Notes...)
		}
		if !first {
			return nil
		}
		return r.injectFaults(ctx, fault.Fault.AfterPodBack)
	})
}

// Cycles is how many reboot cycles the run makes (Config.Cycles, at least 1).
func (r *Run) Cycles() int { return max(r.cfg.Cycles, 1) }

// gatedReboot reboots once, admitted by the RebootGate when there is one.
func (r *Run) gatedReboot(ctx context.Context) error {
	if r.cfg.RebootGate == nil {
		return r.rebootOnce(ctx)
	}
	r.progress("waiting for the qualification to admit a reboot of %s", r.node)
	release, err := r.cfg.RebootGate.Acquire(ctx, r.node)
	if err != nil {
		return fmt.Errorf("reboot %s: %w", r.node, err)
	}
	defer release()
	return r.rebootOnce(ctx)
}

// ownPod tells pvreboot's own pods (the workload, node helpers), which a
// drain leaves in place, by their owned label.
func ownPod(p *corev1.Pod) bool { return p.Labels[workload.LabelOwned] == "true" }

// cordonAndDrain cordons the node (reboot.cordon or reboot.drain) and
// evicts its other pods (reboot.drain), and says what it did.
func (r *Run) cordonAndDrain(ctx context.Context) ([]string, error) {
	rb := r.cfg.Scenario.Spec.Reboot
	if !rb.Cordon && !rb.Drain {
		return nil, nil
	}
	var notes []string
	cordon := ledger.Item{Kind: ledger.KindCordon, Name: r.node}
	if err := r.record(ctx, cordon); err != nil {
		return nil, err
	}
	already, err := drain.Cordon(ctx, r.cfg.Client, r.node)
	if already || err != nil {
		// Not this run's to undo (already cordoned), or not done.
		r.forget(context.WithoutCancel(ctx), cordon)
	}
	if err != nil {
		return nil, err
	}
	if already {
		notes = append(notes, "the node was already cordoned: left as it was")
	} else {
		r.cordoned = true
		notes = append(notes, "cordoned before the reboot")
		r.progress("cordoned %s", r.node)
	}
	if !rb.Drain {
		return notes, nil
	}
	dctx, cancel := context.WithTimeout(ctx, drainTimeout)
	defer cancel()
	evicted, err := drain.Drain(dctx, r.cfg.Client, r.node, ownPod)
	if len(evicted) > 0 {
		notes = append(notes, "drained: evicted "+strings.Join(evicted, ", "))
		r.progress("drained %s: evicted %s", r.node, strings.Join(evicted, ", "))
	} else {
		notes = append(notes, "drained: no pod to evict")
	}
	return notes, err
}

func (r *Run) rebootOnce(ctx context.Context) error {
	before := podFacts(r.pod)
	node, err := r.getNode(ctx, "before the reboot")
	if err != nil {
		return err
	}
	oldBoot, oldIP := node.Status.NodeInfo.BootID, r.Result.Node.InternalIP
	rctx, cancel := context.WithTimeout(ctx, r.cfg.Scenario.Spec.Reboot.Timeout.Duration)
	defer cancel()
	api := watchAPIServer(rctx, r.cfg.Client, time.Now())
	defer func() {
		if spans := api.Stop(); len(spans) > 0 && len(r.Result.Reboots) > 0 {
			last := &r.Result.Reboots[len(r.Result.Reboots)-1]
			last.Notes = append(last.Notes, spans...)
		}
	}()
	// Recorded before it is issued: a run that dies before the node is
	// back leaves the sweep what it needs to bring it back.
	down, err := r.rebootItem(rctx)
	if err != nil {
		return err
	}
	if err := r.record(ctx, down); err != nil {
		return err
	}
	r.progress("rebooting %s (%s)", r.node, r.cfg.Rebooter.Method())
	r.emit(RebootStarted, StepReboot, r.cfg.Rebooter.Method(), nil)
	ev, err := r.cfg.Rebooter.Reboot(rctx, r.node)
	if err != nil {
		return err
	}
	r.emit(RebootIssued, StepReboot, ev.Proof, nil)
	rb := report.Reboot{Method: ev.Method, Node: r.node, Cycle: r.cycle, Issued: ev.Issued, Returned: ev.Returned, RestartsBefore: before.RestartCount, BootIDBefore: oldBoot}
	if ev.Proof != "" {
		rb.Notes = append(rb.Notes, ev.Proof)
	}
	r.progress("waiting for node %s: kubelet heartbeat after the reboot and Ready", r.node)
	// A kind node shares the host kernel: its bootID never changes. A real
	// node must come back with a new one.
	realNode := !strings.HasPrefix(node.Spec.ProviderID, "kind://")
	tl, err := wait.NodeRebooted(r.waitsSay(rctx), r.cfg.Client, r.node, ev.Returned, oldBoot, realNode)
	rb.NotReadySeen, rb.KubeletBack, rb.NodeReady, rb.BootIDAfter = tl.NotReadySeen, tl.KubeletBack, tl.Ready, tl.BootID
	if err != nil {
		r.Result.Reboots = append(r.Result.Reboots, rb)
		if !errors.Is(err, wait.ErrInterrupted) {
			err = fmt.Errorf("node %s lost: not back within the reboot timeout of %s: %w", r.node, r.cfg.Scenario.Spec.Reboot.Timeout.Duration, err)
			r.emit(NodeLost, StepReboot, "", err)
		}
		return err
	}
	r.emit(NodeBack, StepReboot, "", nil)
	r.forget(ctx, down)
	if rb.NotReadySeen == nil {
		rb.Notes = append(rb.Notes, "the node never turned NotReady: it was down for less than the node monitor grace period; the proof of the reboot is the newer heartbeat and the restarted containers")
	}
	if oldBoot == tl.BootID {
		rb.Notes = append(rb.Notes, "bootID unchanged: a kind node shares the host kernel, so its restart is not a kernel reboot")
	}
	if tl.InternalIP != "" && oldIP != "" && tl.InternalIP != oldIP {
		r.Result.Reboots = append(r.Result.Reboots, rb)
		return fmt.Errorf("node %s came back with InternalIP %s instead of %s: pods and routes keyed on the old address break", r.node, tl.InternalIP, oldIP)
	}
	r.progress("waiting for pod %s/%s to be Ready again", r.ns, r.pod.Name)
	back, err := wait.PodBack(r.waitsSay(rctx), r.cfg.Client, r.ns, r.pod.Name, before.UID, before.RestartCount, before.ContainerID)
	if err != nil {
		r.Result.Reboots = append(r.Result.Reboots, rb)
		return err
	}
	r.emit(PodBack, StepReboot, back.Pod.Name, nil)
	rb.PodReady, rb.SamePod, rb.RestartsAfter = &back.At, back.SamePod, back.Restarts
	if !back.SamePod {
		rb.Notes = append(rb.Notes, "the workload pod was recreated (new UID), not restarted in place")
	}
	r.pod = back.Pod
	r.recordKubeletLoops(ctx)
	rb.Notes = append(rb.Notes, r.takeOutages()...)
	r.Result.Reboots = append(r.Result.Reboots, rb)
	return nil
}

// cleanupRebootTimeout bounds bringing back a node the run left down: a
// start and its kubelet's first heartbeat (nodeBackTimeout).
const cleanupRebootTimeout = nodeBackTimeout + time.Minute

// bringBackOwnNode starts the node again when the run's reboot left it
// down (the item is still in its ledger), and forgets the reboot once it
// is back.
func (r *Run) bringBackOwnNode(ctx context.Context, leave func(item string, err error)) {
	if r.ledger == nil {
		return
	}
	o := SweepOptions{Client: r.cfg.Client, Recover: recoverer(r.cfg)}
	for _, it := range r.ledger.Items() {
		if it.Kind != ledger.KindReboot {
			continue
		}
		var said string
		var back bool
		err := bounded(ctx, cleanupRebootTimeout, func(ctx context.Context) error {
			var err error
			said, back, err = bringBack(ctx, o, it)
			return err
		})
		if said != "" {
			r.progress("node %s: %s", it.Node, said)
		}
		switch {
		case err != nil:
			leave(it.String(), err)
		case back:
			r.forget(ctx, it)
		}
	}
}

// recoverer is the configuration's rebooter when it can bring back a node
// left down half way through a reboot, else nil.
func recoverer(cfg Config) reboot.Recoverer {
	rc, _ := cfg.Rebooter.(reboot.Recoverer)
	return rc
}

// rebootItem is the ledger's record of the node's reboot, with what the
// rebooter needs to bring the node back (reboot.Recoverer).
func (r *Run) rebootItem(ctx context.Context) (ledger.Item, error) {
	it := ledger.Item{Kind: ledger.KindReboot, Name: r.node, Node: r.node, Detail: map[string]string{ledger.DetailMethod: r.cfg.Rebooter.Method()}}
	if rc := recoverer(r.cfg); rc != nil {
		j, err := rc.Journal(ctx, r.node)
		if err != nil {
			return it, fmt.Errorf("reboot %s: %w", r.node, err)
		}
		maps.Copy(it.Detail, j)
	}
	return it, nil
}

// AfterReboot checks the canary and measures in the same pod.
func (r *Run) AfterReboot(ctx context.Context) error {
	if !r.has(scenario.PhaseAfterReboot) {
		return nil
	}
	return r.timed(StepAfterReboot, "after-reboot: data check and measurement in the same pod", func() error {
		return r.measure(ctx, scenario.PhaseAfterReboot, true)
	})
}

// Recreate deletes the workload pod and creates it again.
func (r *Run) Recreate(ctx context.Context) error {
	if !r.has(scenario.PhaseAfterRecreate) {
		return nil
	}
	return r.timed(StepRecreate, "recreate: delete and create the workload pod", func() error {
		uid := string(r.pod.UID)
		if err := r.cfg.Client.CoreV1().Pods(r.ns).Delete(ctx, r.pod.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete workload pod: %w", err)
		}
		gctx, cancel := context.WithTimeout(ctx, podGoneTimeout)
		defer cancel()
		if err := wait.PodGone(r.waitsSay(gctx), r.cfg.Client, r.ns, r.pod.Name, uid); err != nil {
			return err
		}
		if err := r.injectFaults(ctx, fault.Fault.AfterPodGone); err != nil {
			return err
		}
		return r.createPod(ctx)
	})
}

// AfterRecreate checks the canary and measures in the new pod.
func (r *Run) AfterRecreate(ctx context.Context) error {
	if !r.has(scenario.PhaseAfterRecreate) {
		return nil
	}
	return r.timed(StepAfterRecreate, "after-recreate: data check and measurement in the new pod", func() error {
		return r.measure(ctx, scenario.PhaseAfterRecreate, true)
	})
}

// Finish computes the verdict (budgets plus data checks) and the diagnosis.
func (r *Run) Finish() {
	res := r.Result
	res.FinishedAt = time.Now()
	res.Verdict = budget.Evaluate(Budgets(r.cfg.Scenario), res.BudgetPhases())
	for _, p := range res.Phases {
		if p.Data == nil {
			continue
		}
		what := p.Name
		if p.Cycle > 0 {
			what = fmt.Sprintf("%s (cycle %d)", p.Name, p.Cycle)
		}
		dr := budget.Result{Name: what + ": data written before the reboot is intact", Kind: "data", Phase: p.Name, Metric: "sha256", Pass: p.Data.OK, Unit: "check"}
		dr.Detail = p.Data.Path + " intact"
		if !p.Data.OK {
			dr.Detail = p.Data.Detail
		}
		res.Verdict.Results = append(res.Verdict.Results, dr)
		res.Verdict.Pass = res.Verdict.Pass && dr.Pass
	}
	if len(res.Errors) > 0 {
		res.Verdict.Pass = false
	}
	if r.Cycles() > 1 {
		r.judgeCycles()
	}
	// Every further volume by the same budgets.
	for _, v := range res.Volumes {
		for _, br := range budget.Evaluate(Budgets(r.cfg.Scenario), v.BudgetPhases()).Results {
			br.Name = "volume " + v.Name + ": " + br.Name
			res.Verdict.Results = append(res.Verdict.Results, br)
			res.Verdict.Pass = res.Verdict.Pass && br.Pass
		}
	}
	res.Diagnosis = report.DiagnoseResult(res)
}

// aboutAfterReboot reports whether a budget reads the after-reboot phase.
func aboutAfterReboot(b scenario.Budget) bool {
	ar := scenario.PhaseAfterReboot
	return b.Phase == ar || b.RelativeTo == ar || (b.Statistical != nil && b.Statistical.Against == ar)
}

// judgeCycles judges every cycle's after-reboot phase by the budgets about
// it and its data check; cycles after the first add their failures to the
// verdict, named "cycle N: ...". A cycle that never measured fails.
func (r *Run) judgeCycles() {
	res := r.Result
	var specs []scenario.Budget
	for _, b := range r.cfg.Scenario.Spec.Budgets {
		if aboutAfterReboot(b) {
			specs = append(specs, b)
		}
	}
	rules := scenario.Rules(specs)
	phases := res.CyclePhases()
	res.Cycles = nil
	for c := 1; c <= r.Cycles(); c++ {
		cr := report.CycleResult{Cycle: c, Pass: true}
		var ph *report.PhaseResult
		if c <= len(phases) {
			ph = phases[c-1]
		}
		switch {
		case ph == nil:
			cr.Pass, cr.Error = false, "not measured: the run stopped before this cycle"
		case ph.Probe == nil:
			cr.Pass, cr.Error = false, ph.Error
		default:
			cr.P50Ns, cr.P99Ns, cr.BytesPerSecond = ph.Probe.Summary.P50Ns, ph.Probe.Summary.P99Ns, ph.Probe.Summary.BytesPerSecond
			in := res.BudgetPhases()
			in[scenario.PhaseAfterReboot] = report.PhaseFromProbe(ph.Probe)
			for _, br := range budget.Evaluate(rules, in).Results {
				if br.Pass {
					continue
				}
				cr.Pass = false
				cr.Failed = append(cr.Failed, br.Name)
				if c > 1 {
					br.Name = fmt.Sprintf("cycle %d: %s", c, br.Name)
					res.Verdict.Results = append(res.Verdict.Results, br)
				}
			}
			if ph.Data != nil && !ph.Data.OK {
				cr.Pass = false
				cr.Failed = append(cr.Failed, "data check") // in the verdict already (Finish)
			}
		}
		res.Verdict.Pass = res.Verdict.Pass && cr.Pass
		res.Cycles = append(res.Cycles, cr)
	}
}

// Bounds of the cleanup steps: each has its own, so that one that cannot
// finish (a node that stays down, an API server that is away) does not use
// up the others'.
const (
	cleanupNodeCheckTimeout = 15 * time.Second
	cleanupPodTimeout       = 2 * time.Minute
	cleanupPodGraceTimeout  = 30 * time.Second // the pod's 5 s grace, and the kubelet's confirmation
	cleanupVolumeTimeout    = 2 * time.Minute  // one volume: PVC, PV, node side
	cleanupClassTimeout     = 30 * time.Second
	cleanupNamespaceTimeout = 3 * time.Minute
	cleanupHelpersTimeout   = 2 * time.Minute // last, with its own budget
	uncordonTimeout         = 30 * time.Second
)

// LeftBehindError is a cleanup that could not remove everything: what is
// left, and why; `pvreboot cleanup --run ID` finishes the job.
type LeftBehindError struct {
	Run   string
	Items []string
	Err   error
}

func (e *LeftBehindError) Error() string {
	return fmt.Sprintf("cleanup of run %s left %d item(s): %s: %v", e.Run, len(e.Items), strings.Join(e.Items, "; "), e.Err)
}

func (e *LeftBehindError) Unwrap() error { return e.Err }

// Cleanup removes everything the run created, unless Keep. Each step has
// its own bound and one failing does not skip the others; what could not
// be removed stays in the run (Leftovers) for the next attempt, and the
// error is a *LeftBehindError. When the node is not Ready, its side
// (units, mounts, loops, files) is left for `pvreboot cleanup --run`, and
// everything that does not need the node is removed. The caller's ctx only
// carries values: pass one that outlives an interrupt.
func (r *Run) Cleanup(ctx context.Context) error {
	r.emit(StepStarted, StepCleanup, "", nil)
	err := r.cleanup(ctx)
	r.emit(StepEnded, StepCleanup, "", err)
	return err
}

func bounded(ctx context.Context, d time.Duration, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return f(ctx)
}

func (r *Run) cleanup(ctx context.Context) error {
	var errs []error
	var left []string
	leave := func(item string, err error) {
		left = append(left, item)
		errs = append(errs, err)
		r.emit(Left, StepCleanup, item, err)
	}
	removed := func(item string) { r.emit(Removed, StepCleanup, item, nil) }
	// A node the run left down (its reboot failed half way) is brought
	// back first, even with --keep: its volumes' node side needs it.
	r.bringBackOwnNode(ctx, leave)
	// A node this run cordoned is uncordoned even with --keep.
	if r.cordoned {
		if err := bounded(ctx, uncordonTimeout, func(ctx context.Context) error { return drain.Uncordon(ctx, r.cfg.Client, r.node) }); err != nil {
			leave("cordon on node "+r.node, err)
		} else {
			r.forget(ctx, ledger.Item{Kind: ledger.KindCordon, Name: r.node})
			r.cordoned = false
			r.progress("uncordoned %s", r.node)
		}
	}
	if r.cfg.Keep {
		// The ledger keeps naming them; without a heartbeat the run is dead,
		// and a later `pvreboot cleanup` removes what --keep kept.
		if r.stopBeat != nil {
			r.stopBeat()
		}
		r.progress("keeping namespace %s, PVs and backings (--keep); `pvreboot cleanup --run %s` removes them", r.ns, r.id)
		return errors.Join(errs...)
	}
	nodeUp := r.nodeReady(ctx)
	if !nodeUp && len(r.volumes) > 0 {
		r.progress("node %s is not Ready: its side of the volumes stays for `pvreboot cleanup --run %s` once it is back", r.node, r.id)
	}
	if r.ns != "" {
		err := bounded(ctx, cleanupPodTimeout, func(ctx context.Context) error { return r.removePod(ctx, &nodeUp) })
		if err != nil {
			leave("pod "+r.ns+"/"+workloadPodName, fmt.Errorf("delete workload pod: %w", err))
			// Its volume may still be mounted: the node side waits for the
			// next attempt.
			nodeUp = false
		}
	}
	// What faults changed on the node, before the volumes it is about go:
	// a volume whose change is not undone keeps its node side (the undo
	// needs its device) for `pvreboot cleanup --run`.
	r.undoChanges(ctx, nodeUp, leave, removed)
	held := faultHolds{}
	r.mu.Lock()
	for _, c := range r.changes {
		held.hold(r.id, c)
	}
	r.mu.Unlock()
	var kept []*localpv.Volume
	for _, v := range r.volumes {
		err := bounded(ctx, cleanupVolumeTimeout, func(ctx context.Context) error {
			if err := r.prov.TeardownObjects(ctx, v); err != nil {
				return err
			}
			if !nodeUp {
				return fmt.Errorf("node %s is not Ready", r.node)
			}
			if held.has(r.id, v.Node, v.PVName) {
				return fmt.Errorf("a fault's change on it is not undone: its node side stays until the undo can restore its device")
			}
			return r.prov.TeardownNode(ctx, v)
		})
		if err != nil {
			kept = append(kept, v)
			leave(fmt.Sprintf("PV %s and its %s backing %s on node %s", v.PVName, v.Backing, v.Path, v.Node), err)
			continue
		}
		r.forget(ctx, volumeItems(v)...)
		removed("PV " + v.PVName + " and its backing")
	}
	for _, sc := range r.storageClasses() {
		if r.cfg.SharedStorageClasses {
			// Another run of the same process may be about to bind to it:
			// the owner of the runs removes it (CaseRunner.Close).
			r.forget(ctx, ledger.Item{Kind: ledger.KindStorageClass, Name: sc})
			continue
		}
		if err := bounded(ctx, cleanupClassTimeout, func(ctx context.Context) error { return r.prov.DeleteStorageClassIfUnused(ctx, sc) }); err != nil {
			leave("StorageClass "+sc, err)
			continue
		}
		r.forget(ctx, ledger.Item{Kind: ledger.KindStorageClass, Name: sc})
	}
	r.mu.Lock()
	r.volumes = kept
	r.mu.Unlock()
	if r.ns != "" {
		err := bounded(ctx, cleanupNamespaceTimeout, func(ctx context.Context) error {
			err := r.cfg.Client.CoreV1().Namespaces().Delete(ctx, r.ns, metav1.DeleteOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			return wait.NamespaceGone(r.waitsSay(ctx), r.cfg.Client, r.ns)
		})
		if err != nil {
			leave("namespace "+r.ns, fmt.Errorf("delete namespace %s: %w", r.ns, err))
		} else {
			removed("namespace " + r.ns)
			r.forget(ctx, ledger.Item{Kind: ledger.KindNamespace, Name: r.ns})
			r.mu.Lock()
			r.ns = ""
			r.mu.Unlock()
		}
	}
	// What the ledger still names but is not there (recorded just before
	// an interrupt stopped its creation) is forgotten; what is there stays.
	if r.ledger != nil {
		o := SweepOptions{Client: r.cfg.Client, Nodes: r.cfg.Nodes}
		if nodeUp {
			o.NodeNames = []string{r.node}
		}
		for _, it := range r.ledger.Items() {
			if it.Kind == ledger.KindReboot {
				continue // tried first, by bringBackOwnNode, and left there if not back
			}
			if (it.Kind == ledger.KindFault && held.has(r.id, it.Node, ChangeOfItem(it).Volume())) ||
				(it.Kind == ledger.KindBacking && held.has(r.id, it.Node, it.Name)) {
				// Left above, and not to be tried again without its
				// change undone first.
				continue
			}
			var gone bool
			err := bounded(ctx, cleanupVolumeTimeout, func(ctx context.Context) error {
				var err error
				gone, err = itemGone(ctx, o, r.prov, it, nil)
				return err
			})
			switch {
			case err == nil && gone:
				r.forget(ctx, it)
			case it.Kind == ledger.KindHelperNamespace && r.cfg.Close != nil:
				// Removed next, by Close.
			case !slices.ContainsFunc(left, func(l string) bool { return strings.Contains(l, it.Name) }):
				why := errors.New("still there after cleanup")
				if err != nil {
					why = fmt.Errorf("could not check it: %w", err)
				}
				leave(it.String(), why)
			}
		}
	}
	// The privileged helpers last, with a budget of their own.
	if r.cfg.Close != nil {
		if err := bounded(ctx, cleanupHelpersTimeout, r.cfg.Close); err != nil {
			leave("node helper pods and their namespace", err)
		} else {
			r.cfg.Close = nil
			if r.cfg.HelperNamespace != "" {
				r.forget(ctx, ledger.Item{Kind: ledger.KindHelperNamespace, Name: r.cfg.HelperNamespace})
			}
		}
	}
	// The ledger goes when it is empty, and stays (dead by heartbeat) for
	// `pvreboot cleanup --run` otherwise.
	if err := bounded(ctx, cleanupClassTimeout, r.closeLedger); err != nil {
		errs = append(errs, fmt.Errorf("close the run's ledger: %w", err))
		if len(left) == 0 {
			return errors.Join(errs...)
		}
	}
	if len(left) > 0 {
		return &LeftBehindError{Run: r.id, Items: left, Err: errors.Join(errs...)}
	}
	r.progress("cleaned up")
	return nil
}

// removePod deletes the workload pod, whatever pod of that name is there now
// (a recreated one after an interrupted Recreate, one whose create an
// interrupt answered), and waits for it to be gone. A pod not gone within
// its grace on a node that turns out to be going down is force-deleted, as
// kubectl delete --force does; *nodeUp is updated.
func (r *Run) removePod(ctx context.Context, nodeUp *bool) error {
	for attempt := 0; ; attempt++ {
		var uid string
		err := r.retry(ctx, "getting the workload pod", func(ctx context.Context) error {
			p, err := r.cfg.Client.CoreV1().Pods(r.ns).Get(ctx, workloadPodName, metav1.GetOptions{})
			if err == nil {
				uid = string(p.UID)
			}
			return err
		})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		force := !*nodeUp
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: ptr.To(types.UID(uid))}}
		if force {
			opts.GracePeriodSeconds = ptr.To[int64](0)
		}
		if err := r.cfg.Client.CoreV1().Pods(r.ns).Delete(ctx, workloadPodName, opts); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return err
		}
		gone := bounded(ctx, cleanupPodGraceTimeout, func(ctx context.Context) error {
			return wait.PodGone(ctx, r.cfg.Client, r.ns, workloadPodName, uid)
		})
		if gone == nil || force || attempt > 0 {
			return gone
		}
		// Not gone within its grace: the node may have gone since.
		if *nodeUp = r.nodeReady(ctx); *nodeUp {
			return bounded(ctx, cleanupPodTimeout, func(ctx context.Context) error {
				return wait.PodGone(ctx, r.cfg.Client, r.ns, workloadPodName, uid)
			})
		}
	}
}

// nodeReady reports whether the run's node can take node-side cleanup now:
// Ready in the API, and answering a command (a node just stopped is still
// Ready for the grace period, but its commands fail at once or hang).
func (r *Run) nodeReady(ctx context.Context) bool {
	var ready bool
	_ = bounded(ctx, cleanupNodeCheckTimeout, func(ctx context.Context) error {
		n, err := r.cfg.Client.CoreV1().Nodes().Get(ctx, r.node, metav1.GetOptions{})
		if err != nil || wait.NodeReadyStatus(n) != corev1.ConditionTrue {
			return err
		}
		_, err = r.cfg.Nodes.NodeExec(ctx, r.node, nil, "true")
		ready = err == nil
		return err
	})
	return ready
}

func (r *Run) storageClasses() []string { return slices.Clone(r.classes) }

// WriteOutputs writes result.json, summary.txt, summary.md, junit.xml,
// report.html (one self-contained page with the plots) and metrics.prom
// (OpenMetrics, for node_exporter's textfile collector or a Pushgateway).
func WriteOutputs(dir string, res *report.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output dir: %w", err)
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	// Each file is written whatever became of the others: a run that failed
	// early still leaves its result and its JUnit for the pipeline.
	var errs []error
	if err := os.WriteFile(filepath.Join(dir, "result.json"), append(b, '\n'), 0o644); err != nil {
		errs = append(errs, err)
	}
	for file, format := range map[string]string{"summary.txt": "text", "summary.md": "markdown", "junit.xml": "junit",
		"report.html": "html", "metrics.prom": "openmetrics"} {
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = report.Render(f, res, format)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("write %s: %w", file, err))
		}
	}
	return errors.Join(errs...)
}

// namespaceReady waits for a new namespace's default ServiceAccount: pods are
// refused until the controller manager has made it.
func namespaceReady(ctx context.Context, c kubernetes.Interface, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, serviceAccountTimeout)
	defer cancel()
	return wait.ServiceAccount(ctx, c, ns, "default")
}
