package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"github.com/pvreboot/pvreboot/framework/trace"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// ErrTraceUnsupported is a traced workload where the tracer cannot reach
// the pod's kernel from this host.
var ErrTraceUnsupported = errors.New("tracing a pod's processes from this host needs the host to share the node's kernel (kind) and root; " +
	"the tracer in a privileged node helper pod on other clusters is not implemented yet")

// PodTraceOptions trace one container of a pod from this host: on kind the
// host's kernel is the node's, so its /proc and cgroups hold the pod's
// processes.
type PodTraceOptions struct {
	Client     kubernetes.Interface
	RESTConfig *rest.Config
	Namespace  string
	Pod        string
	// Container defaults to the pod's first.
	Container string
	Syscalls  []trace.Syscall
	// Command, when set, is run Runs times in the container through the
	// pods/exec API, and only its processes are traced (the container's
	// processes from before are left out). Without it the container's
	// processes are traced for Duration.
	Command  []string
	Runs     int
	Duration time.Duration
	// BeforeRun, when set, is called before each run with the PID (host
	// numbering) of a process of the container.
	BeforeRun func(ctx context.Context, pid int) error
	// ProcRoot is the host's /proc; "" means /proc.
	ProcRoot string
}

// PodTrace is a finished trace of a pod's container.
type PodTrace struct {
	Result      *trace.Result
	ContainerID string
	// Windows are the runs of the command, in order (none for Duration).
	Windows []trace.Window
	// Outputs are the runs' stdout and stderr, each cut to 4 KiB.
	Outputs []string
}

// maxRunOutput bounds a run's output kept in a PodTrace.
const maxRunOutput = 4 << 10

// TracePod traces one container of a pod (see PodTraceOptions).
func TracePod(ctx context.Context, o PodTraceOptions) (*PodTrace, error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("trace pod %s/%s: %w", o.Namespace, o.Pod, trace.ErrNotPermitted)
	}
	if o.ProcRoot == "" {
		o.ProcRoot = "/proc"
	}
	pod, err := o.Client.CoreV1().Pods(o.Namespace).Get(ctx, o.Pod, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("trace pod %s/%s: %w", o.Namespace, o.Pod, err)
	}
	cs, err := containerStatus(pod, o.Container)
	if err != nil {
		return nil, err
	}
	id, err := trace.RuntimeContainerID(cs.ContainerID)
	if err != nil {
		return nil, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	cg, pids, err := trace.CgroupOfContainer(o.ProcRoot, id)
	if errors.Is(err, trace.ErrNoContainer) {
		return nil, fmt.Errorf("trace pod %s/%s container %s: %w (is the pod on a kind node of this host? %w)", o.Namespace, o.Pod, cs.Name, err, ErrTraceUnsupported)
	}
	if err != nil {
		return nil, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	topts := trace.Options{Cgroup: cg, Syscalls: o.Syscalls}
	if len(o.Command) > 0 {
		// What runs in the container now is not the command's run.
		if topts.Exclude, err = cg.Procs(); err != nil {
			return nil, err
		}
	}
	tr, err := trace.Start(ctx, topts)
	if err != nil {
		return nil, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	pt := &PodTrace{ContainerID: id}
	runErr := func() error {
		if len(o.Command) == 0 {
			t := time.NewTimer(o.Duration)
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		for i := range max(o.Runs, 1) {
			if o.BeforeRun != nil {
				if err := o.BeforeRun(ctx, pids[0]); err != nil {
					return fmt.Errorf("before run %d: %w", i+1, err)
				}
			}
			w := trace.Window{StartNs: trace.MonotonicNs()}
			out, errOut, err := workload.Exec(ctx, o.RESTConfig, o.Client, o.Namespace, o.Pod, cs.Name, o.Command, nil)
			w.EndNs = trace.MonotonicNs()
			pt.Windows = append(pt.Windows, w)
			pt.Outputs = append(pt.Outputs, cut(string(out)+string(errOut), maxRunOutput))
			if err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
		}
		return nil
	}()
	res, stopErr := tr.Stop()
	pt.Result = res
	if err := errors.Join(runErr, stopErr); err != nil {
		return pt, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	return pt, nil
}

func containerStatus(p *corev1.Pod, name string) (corev1.ContainerStatus, error) {
	var names []string
	for _, cs := range p.Status.ContainerStatuses {
		if name == "" || cs.Name == name {
			if cs.ContainerID == "" || cs.State.Running == nil {
				return cs, fmt.Errorf("trace pod %s/%s: container %s is not running", p.Namespace, p.Name, cs.Name)
			}
			return cs, nil
		}
		names = append(names, cs.Name)
	}
	return corev1.ContainerStatus{}, fmt.Errorf("trace pod %s/%s: no container %q (containers: %s)", p.Namespace, p.Name, name, strings.Join(names, ", "))
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// measureTraced is a phase of a workload.exec scenario: the setup, then
// the user's command Iterations times, traced from this host, as a probe
// report of the measured syscall with the probe's env of the volume.
func (r *Run) measureTraced(ctx context.Context, phase string) (*probe.Report, error) {
	w := r.cfg.Scenario.Spec.Workload
	e := w.Exec
	if r.cfg.Provider != "kind" {
		return nil, fmt.Errorf("measure %s: workload.exec on a %s cluster: %w", phase, r.cfg.Provider, ErrTraceUnsupported)
	}
	syscalls, err := trace.ParseSyscalls(e.Syscalls)
	if err != nil {
		return nil, fmt.Errorf("measure %s: %w", phase, err)
	}
	if len(e.Setup) > 0 {
		r.progress("%s: setup %s", phase, strings.Join(e.Setup, " "))
		if _, err := r.exec(ctx, e.Setup...); err != nil {
			return nil, fmt.Errorf("measure %s: setup: %w", phase, err)
		}
	}
	var env probe.Env
	if out, err := r.exec(ctx, "/copyprobe", "env", "--dir", workload.DataDir); err != nil {
		env.Notes = append(env.Notes, fmt.Sprintf("copyprobe env: %v", err))
	} else if err := json.Unmarshal([]byte(out), &env); err != nil {
		env.Notes = append(env.Notes, fmt.Sprintf("copyprobe env: %v", err))
	}
	cold := w.Cache == string(probe.CacheCold)
	o := PodTraceOptions{Client: r.cfg.Client, RESTConfig: r.cfg.RESTConfig, Namespace: r.ns, Pod: r.pod.Name, Container: workload.ContainerName,
		Syscalls: syscalls, Command: e.Command, Runs: w.Copies()}
	if cold {
		o.BeforeRun = func(_ context.Context, pid int) error {
			for _, f := range e.Evict {
				if err := trace.EvictFile("/proc", pid, f); err != nil {
					return err
				}
			}
			return nil
		}
	}
	r.progress("%s: %s x%d (%s cache), traced (%s) in pod uid %.8s", phase, strings.Join(e.Command, " "), w.Copies(), w.Cache, strings.Join(syscallNames(syscalls), ","), r.pod.UID)
	pt, err := TracePod(ctx, o)
	if err != nil {
		if pt != nil && len(pt.Outputs) > 0 {
			err = fmt.Errorf("%w; last output: %s", err, strings.TrimSpace(pt.Outputs[len(pt.Outputs)-1]))
		}
		return nil, fmt.Errorf("measure %s: %w", phase, err)
	}
	s := trace.Syscall(e.Measure)
	if e.Measure == "" {
		s = pt.Result.Busiest()
	}
	if s == "" {
		return nil, fmt.Errorf("measure %s: %s made none of the traced syscalls (%s)", phase, strings.Join(e.Command, " "), strings.Join(syscallNames(syscalls), ", "))
	}
	rep := trace.ProbeReport(pt.Result, s, pt.Windows, env)
	rep.ExecCommand = slices.Clone(e.Command)
	rep.Cache = probe.CacheMode(w.Cache)
	for _, sr := range pt.Result.Syscalls {
		if sr.Calls > 0 && sr.Syscall != s {
			rep.Env.Notes = append(rep.Env.Notes, fmt.Sprintf("trace: also %d %s calls (%s in %s)", sr.Calls, sr.Syscall, probe.FormatSize(int64(sr.Bytes)), time.Duration(sr.Ns)))
		}
	}
	return rep, nil
}

func syscallNames(ss []trace.Syscall) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return out
}

// tracedWorkload reports whether the scenario's workload is the user's
// command measured by the tracer.
func tracedWorkload(s *scenario.Scenario) bool { return s.Spec.Workload.Exec != nil }
