package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
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
// the pod's kernel.
var ErrTraceUnsupported = errors.New("the tracer cannot reach the pod's kernel: on kind it runs on this host (root, the node's kernel), " +
	"on other clusters in the node helper pod (a node runner that runs the helper image's own programs)")

// HelperExecer is the optional ability of a node runner (Config.Nodes) to
// run the helper image's own programs on a node with their standard
// streams connected as they flow (nodeexec.PodExec): the trace agent, on
// clusters whose kernels this host does not share.
type HelperExecer interface {
	HelperExec(ctx context.Context, node string, stdin io.Reader, stdout, stderr io.Writer, argv ...string) error
}

// PodTraceOptions trace one container of a pod where its kernel is: from
// this host (kind: the host's kernel is the node's, so its /proc and
// cgroups hold the pod's processes) or, with Helpers, by the trace agent in
// the node helper pod on the pod's node.
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
	// Evict are files, as the container sees them, whose page cache is
	// dropped before each run: cold-cache runs.
	Evict []string
	// Helpers, when set, runs the tracer in the node helper pod on the
	// pod's node (`copyprobe trace-agent`); nil traces from this host.
	Helpers HelperExecer
	// ProcRoot is this host's /proc when tracing from it; "" means /proc.
	ProcRoot string

	// exec runs a command in the container; nil is workload.Exec.
	exec func(ctx context.Context, rc *rest.Config, c kubernetes.Interface, ns, pod, container string, argv []string, stdin io.Reader) ([]byte, []byte, error)
}

// PodTrace is a finished trace of a pod's container.
type PodTrace struct {
	// Result is nil when the trace failed before its result (TracePod's
	// error says why; Outputs may too).
	Result      *trace.Result
	ContainerID string
	// Node is where the trace agent ran; "" when it ran on this host.
	Node string
	// Windows are the runs of the command, in order (none for Duration),
	// on the clock of the samples.
	Windows []trace.Window
	// Outputs are the runs' stdout and stderr, each cut to 4 KiB.
	Outputs []string
	// Notes say what the trace could not do as asked.
	Notes []string
}

// maxRunOutput bounds a run's output kept in a PodTrace.
const maxRunOutput = 4 << 10

// traceSession is a tracer running on one container, on this host
// (*trace.Agent) or in a node helper pod (remoteAgent): windows are marked
// and files evicted where it runs, on its clock.
type traceSession interface {
	Begin(ctx context.Context) (int64, error)
	End(ctx context.Context) (int64, error)
	Evict(ctx context.Context, path string) error
	Stop(ctx context.Context) (*trace.AgentResult, error)
}

// TracePod traces one container of a pod (see PodTraceOptions).
func TracePod(ctx context.Context, o PodTraceOptions) (*PodTrace, error) {
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
	ao := trace.AgentOptions{ContainerID: id, Syscalls: o.Syscalls, ExcludeCurrent: len(o.Command) > 0}
	pt := &PodTrace{ContainerID: id}
	var sess traceSession
	if o.Helpers != nil {
		pt.Node = pod.Spec.NodeName
		sess, err = startRemoteAgent(ctx, o.Helpers, pt.Node, ao)
	} else {
		sess, err = startLocalAgent(ctx, o.ProcRoot, ao)
	}
	if err != nil {
		return nil, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	exec := o.exec
	if exec == nil {
		exec = workload.Exec
	}
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
			for _, f := range o.Evict {
				if err := sess.Evict(ctx, f); err != nil {
					return fmt.Errorf("before run %d: %w", i+1, err)
				}
			}
			if _, err := sess.Begin(ctx); err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
			out, errOut, err := exec(ctx, o.RESTConfig, o.Client, o.Namespace, o.Pod, cs.Name, o.Command, nil)
			_, endErr := sess.End(ctx)
			pt.Outputs = append(pt.Outputs, cut(string(out)+string(errOut), maxRunOutput))
			if err := errors.Join(err, endErr); err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
		}
		return nil
	}()
	res, stopErr := sess.Stop(ctx)
	if res != nil {
		pt.Result, pt.Windows, pt.Notes = res.Result, res.Windows, res.Notes
	}
	if stopErr != nil && errors.Is(runErr, stopErr) {
		stopErr = nil // the session's failure, said once
	}
	if err := errors.Join(runErr, stopErr); err != nil {
		// The runs' outputs say what went wrong, with or without a result.
		return pt, fmt.Errorf("trace pod %s/%s container %s: %w", o.Namespace, o.Pod, cs.Name, err)
	}
	return pt, nil
}

// startLocalAgent traces the container from this host: root, and the
// host's kernel the node's (kind).
func startLocalAgent(ctx context.Context, procRoot string, o trace.AgentOptions) (*trace.Agent, error) {
	if os.Geteuid() != 0 {
		return nil, trace.ErrNotPermitted
	}
	o.Host = trace.Host{Proc: procRoot}
	a, err := trace.StartAgent(ctx, o)
	if errors.Is(err, trace.ErrNoContainer) {
		return nil, fmt.Errorf("%w (is the pod on a kind node of this host? %w)", err, ErrTraceUnsupported)
	}
	return a, err
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
// the user's command Iterations times, traced where the node's kernel is
// (from this host on kind, by the trace agent in the node helper pod
// elsewhere), as a probe report of the measured syscall with the probe's
// env of the volume.
func (r *Run) measureTraced(ctx context.Context, phase string) (*probe.Report, error) {
	w := r.cfg.Scenario.Spec.Workload
	e := w.Exec
	var helpers HelperExecer
	if r.cfg.Provider != "kind" {
		h, ok := r.cfg.Nodes.(HelperExecer)
		if !ok {
			return nil, fmt.Errorf("measure %s: workload.exec on a %s cluster whose node runner cannot run the trace agent: %w", phase, r.cfg.Provider, ErrTraceUnsupported)
		}
		helpers = h
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
	o := PodTraceOptions{Client: r.cfg.Client, RESTConfig: r.cfg.RESTConfig, Namespace: r.ns, Pod: r.pod.Name, Container: workload.ContainerName,
		Syscalls: syscalls, Command: e.Command, Runs: w.Copies(), Helpers: helpers}
	if w.Cache == string(probe.CacheCold) {
		o.Evict = e.Evict
	}
	where := "from this host"
	if helpers != nil {
		where = "by the trace agent on node " + r.pod.Spec.NodeName
	}
	r.progress("%s: %s x%d (%s cache), traced (%s) %s in pod uid %.8s", phase, strings.Join(e.Command, " "), w.Copies(), w.Cache, strings.Join(syscallNames(syscalls), ","), where, r.pod.UID)
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
	rep.Env.Notes = append(rep.Env.Notes, pt.Notes...)
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

// Bounds of the trace agent's steps in a node helper pod (the pod is
// already Ready: its own start is bounded by nodeexec).
const (
	// agentReadyTimeout bounds the agent's start: finding the container,
	// reading the kernel's BTF, loading and attaching the programs.
	agentReadyTimeout = 2 * time.Minute
	// agentReplyTimeout bounds a reply to begin, end or evict (evict
	// writes the file's dirty pages first).
	agentReplyTimeout = 2 * time.Minute
	// agentStopTimeout bounds the agent's stop: draining the ring buffer
	// and sending every sample as JSON.
	agentStopTimeout = 2 * time.Minute
	// agentExitTimeout bounds the end of the agent's exec once its input
	// is closed.
	agentExitTimeout = 30 * time.Second
	// maxAgentStderr bounds the agent's stderr kept for an error.
	maxAgentStderr = 16 << 10
)

// TraceAgentArgv is the trace agent's command line in the helper pod: the
// helper image's copyprobe (see nodeexec.PodExec), values as arguments.
func TraceAgentArgv(o trace.AgentOptions) []string {
	argv := []string{"/copyprobe", "trace-agent", "--container-id", o.ContainerID}
	if len(o.Syscalls) > 0 {
		argv = append(argv, "--syscalls", strings.Join(syscallNames(o.Syscalls), ","))
	}
	if o.ExcludeCurrent {
		argv = append(argv, "--exclude-current")
	}
	return argv
}

// remoteAgent is a trace agent in the node helper pod, driven over a
// pods/exec stream: its stdin takes the commands, its stdout the replies
// and, at the end, the result.
type remoteAgent struct {
	node   string
	client *trace.AgentClient
	stdin  *io.PipeWriter
	stderr *boundedBuffer
	// cause is why the exec's context ended (nil while it runs); cancel
	// ends it.
	cause  func() error
	cancel context.CancelCauseFunc
	done   chan struct{}
	// execErr is the exec's end, set before done closes.
	execErr error
	// failed is the first failure; every later call returns it.
	failed error
}

func startRemoteAgent(ctx context.Context, h HelperExecer, node string, o trace.AgentOptions) (*remoteAgent, error) {
	if node == "" {
		return nil, errors.New("the pod is on no node yet: nowhere to run the trace agent")
	}
	ectx, cancel := context.WithCancelCause(ctx)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	a := &remoteAgent{node: node, stdin: inW, stderr: &boundedBuffer{max: maxAgentStderr}, cancel: cancel, done: make(chan struct{}),
		cause: func() error { return context.Cause(ectx) }}
	argv := TraceAgentArgv(o)
	go func() {
		a.execErr = h.HelperExec(ectx, node, inR, outW, a.stderr, argv...)
		// The agent's output ends with it: a call waiting on a reply returns.
		outW.Close()
		inR.Close()
		close(a.done)
	}()
	a.client = trace.NewAgentClient(inW, outR)
	if err := a.bounded(agentReadyTimeout, "start", func() error { return a.client.Ready(ctx) }); err != nil {
		return nil, err
	}
	return a, nil
}

// bounded runs a call to the agent within d: past it the exec is ended,
// which ends the call. A failure ends the agent and is kept.
func (a *remoteAgent) bounded(d time.Duration, what string, call func() error) error {
	if a.failed != nil {
		return a.failed
	}
	t := time.AfterFunc(d, func() { a.cancel(fmt.Errorf("no reply to %s within %s", what, d)) })
	err := call()
	t.Stop()
	if err != nil {
		a.failed = a.fail(err)
		return a.failed
	}
	return nil
}

// fail ends the agent and says why it failed: the call's error, the
// exec's, and what the agent wrote on stderr.
func (a *remoteAgent) fail(err error) error {
	a.finish()
	errs := []error{err}
	if cause := a.cause(); cause != nil && !errors.Is(a.execErr, cause) {
		errs = append(errs, cause)
	}
	if a.execErr != nil {
		errs = append(errs, a.execErr)
	}
	err = fmt.Errorf("trace agent on node %s: %w", a.node, errors.Join(errs...))
	if s := strings.TrimSpace(a.stderr.String()); s != "" {
		err = fmt.Errorf("%w; its stderr: %s", err, s)
	}
	a.cancel(nil)
	return err
}

// finish closes the agent's input and waits for its exec to end, ending
// it past agentExitTimeout.
func (a *remoteAgent) finish() {
	a.stdin.Close()
	t := time.NewTimer(agentExitTimeout)
	defer t.Stop()
	select {
	case <-a.done:
	case <-t.C:
		a.cancel(fmt.Errorf("the agent did not end within %s of its input's end", agentExitTimeout))
		<-a.done
	}
}

func (a *remoteAgent) Begin(ctx context.Context) (ns int64, err error) {
	err = a.bounded(agentReplyTimeout, trace.AgentBegin, func() error { ns, err = a.client.Begin(ctx); return err })
	return ns, err
}

func (a *remoteAgent) End(ctx context.Context) (ns int64, err error) {
	err = a.bounded(agentReplyTimeout, trace.AgentEnd, func() error { ns, err = a.client.End(ctx); return err })
	return ns, err
}

func (a *remoteAgent) Evict(ctx context.Context, path string) error {
	return a.bounded(agentReplyTimeout, trace.AgentEvict+" "+path, func() error { return a.client.Evict(ctx, path) })
}

// Stop asks the agent for its result and waits for its exec to end. After
// a failure it returns that failure.
func (a *remoteAgent) Stop(ctx context.Context) (*trace.AgentResult, error) {
	var res *trace.AgentResult
	if err := a.bounded(agentStopTimeout, trace.AgentStop, func() error {
		var err error
		res, err = a.client.Stop(ctx)
		return err
	}); err != nil {
		return nil, err
	}
	a.finish()
	if a.execErr != nil {
		return res, a.fail(errors.New("the agent failed after its result"))
	}
	a.cancel(nil)
	return res, nil
}

// boundedBuffer keeps the first max bytes written to it; writes may come
// from client-go's stream goroutines.
type boundedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
