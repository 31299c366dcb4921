package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/nodeexec"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/trace"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// The node helpers run the trace agent on clusters pvreboot did not create.
var _ HelperExecer = (*nodeexec.PodExec)(nil)

const traceTestID = "0123456789abcdef0123456789abcdef"

func tracedPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns"},
		Spec:       corev1.PodSpec{NodeName: "worker-1"},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "probe", ContainerID: "containerd://" + traceTestID,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

// eventLog records the order of what happened across the fakes.
type eventLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *eventLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "|")
}

// kernelSession is the node's side in the fake helper: a clock, and a
// BusyBox cp of 256 MiB in every window (16 sendfile calls of 16 MiB and
// the 0 of end of file), as the kernel would have sampled it.
type kernelSession struct {
	log     *eventLog
	clock   int64
	windows []trace.Window
	samples []trace.Sample
	evict   error
}

func (k *kernelSession) tick(d int64) int64 { k.clock += d; return k.clock }

func (k *kernelSession) Begin(context.Context) (int64, error) {
	k.log.add("begin")
	w := trace.Window{StartNs: k.tick(1000)}
	for i := range 17 {
		ret := int64(16 << 20)
		if i == 16 {
			ret = 0
		}
		k.samples = append(k.samples, trace.Sample{Syscall: trace.Sendfile, StartNs: k.tick(10), Ns: 5_000_000 + int64(i)*1000, Ret: ret, PID: 4242})
		k.tick(5_000_000)
	}
	k.windows = append(k.windows, w)
	return w.StartNs, nil
}

func (k *kernelSession) End(context.Context) (int64, error) {
	k.log.add("end")
	k.windows[len(k.windows)-1].EndNs = k.tick(1000)
	return k.clock, nil
}

func (k *kernelSession) Evict(_ context.Context, path string) error {
	k.log.add("evict " + path)
	return k.evict
}

func (k *kernelSession) Stop(context.Context) (*trace.AgentResult, error) {
	k.log.add("stop")
	// A sendfile outside every window: the kernel counted it, no run did.
	k.samples = append(k.samples, trace.Sample{Syscall: trace.Sendfile, StartNs: k.tick(1000), Ns: 1, Ret: 4096})
	n := uint64(len(k.samples))
	return &trace.AgentResult{Schema: trace.AgentSchema, ContainerID: traceTestID, Windows: k.windows, Notes: []string{"trace: a note from the node"},
		Result: &trace.Result{Cgroup: trace.Cgroup{Version: 1, Controller: "pids", Path: "/kubepods/" + traceTestID},
			Syscalls: []trace.SyscallResult{{Syscall: trace.Sendfile, Calls: n}}, Samples: k.samples}}, nil
}

// fakeHelpers is a node helper pod whose copyprobe trace-agent is
// trace.ServeAgent over a kernelSession, or a failing program.
type fakeHelpers struct {
	log    *eventLog
	node   string
	argv   []string
	k      *kernelSession
	stderr string // a failing agent: written, then a non-zero exit
	result string // a broken agent: written after the replies instead of its result
}

func (h *fakeHelpers) HelperExec(ctx context.Context, node string, stdin io.Reader, stdout, stderr io.Writer, argv ...string) error {
	h.node, h.argv = node, argv
	if h.stderr != "" {
		_, _ = io.WriteString(stderr, h.stderr)
		return errors.New("command terminated with non-zero exit code: error executing command, exit status 3")
	}
	if h.result != "" {
		_, _ = io.WriteString(stdout, "ready\n"+h.result)
		_, _ = io.Copy(io.Discard, stdin)
		return nil
	}
	if err := trace.ServeAgent(ctx, h.k, stdin, stdout); err != nil {
		_, _ = fmt.Fprintf(stderr, "copyprobe: %v\n", err)
		return errors.New("command terminated with non-zero exit code: error executing command, exit status 3")
	}
	return nil
}

func traceOptions(c kubernetes.Interface, h *fakeHelpers, l *eventLog) PodTraceOptions {
	return PodTraceOptions{Client: c, RESTConfig: &rest.Config{}, Namespace: "ns", Pod: "w", Container: "probe",
		Syscalls: []trace.Syscall{trace.Sendfile, trace.Read, trace.Write}, Command: []string{"/bin/busybox", "cp", "/data/src", "/data/dst"}, Runs: 3,
		Evict: []string{"/data/src"}, Helpers: h,
		exec: func(_ context.Context, _ *rest.Config, _ kubernetes.Interface, ns, pod, container string, argv []string, _ io.Reader) ([]byte, []byte, error) {
			l.add("exec " + strings.Join(argv, " "))
			return []byte("copied\n"), nil, nil
		}}
}

// TestTracePodByAgent runs TracePod against a node helper whose agent is
// the protocol's own server: the agent is started on the pod's node with
// the container's ID, every run is evicted, begun, exec'd and ended in
// that order, and the decoded result makes the probe report the kind path
// makes: one iteration a run, 16 sendfile calls of 16 MiB each.
func TestTracePodByAgent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	l := &eventLog{}
	h := &fakeHelpers{log: l, k: &kernelSession{log: l}}
	pt, err := TracePod(ctx, traceOptions(fake.NewClientset(tracedPod()), h, l))
	if err != nil {
		t.Fatal(err)
	}
	if h.node != "worker-1" || pt.Node != "worker-1" {
		t.Errorf("agent ran on %q (trace says %q), want the pod's node worker-1", h.node, pt.Node)
	}
	wantArgv := []string{"/copyprobe", "trace-agent", "--container-id", traceTestID, "--syscalls", "sendfile,read,write", "--exclude-current"}
	if !slices.Equal(h.argv, wantArgv) {
		t.Errorf("agent argv %q, want %q", h.argv, wantArgv)
	}
	run := "evict /data/src|begin|exec /bin/busybox cp /data/src /data/dst|end"
	if want := strings.Repeat(run+"|", 3) + "stop"; l.String() != want {
		t.Errorf("order %s\nwant  %s", l, want)
	}
	if pt.ContainerID != traceTestID || len(pt.Windows) != 3 || len(pt.Outputs) != 3 || !slices.Equal(pt.Notes, []string{"trace: a note from the node"}) {
		t.Fatalf("trace: id %s, %d windows, %d outputs, notes %q", pt.ContainerID, len(pt.Windows), len(pt.Outputs), pt.Notes)
	}
	rep := trace.ProbeReport(pt.Result, trace.Sendfile, pt.Windows, probe.Env{})
	if rep.Method != "trace:sendfile" || len(rep.Iterations) != 3 || rep.ChunkBytes != 16<<20 || rep.FileBytes != 256<<20 {
		t.Fatalf("report: method %s, %d iterations, chunk %d, file %d", rep.Method, len(rep.Iterations), rep.ChunkBytes, rep.FileBytes)
	}
	for _, it := range rep.Iterations {
		if len(it.Calls) != 16 {
			t.Errorf("iteration %d: %d calls, want 16 of 16 MiB", it.Index, len(it.Calls))
		}
	}
	if rep.Summary.P50Ns < 5_000_000 || rep.Summary.P50Ns > 5_020_000 {
		t.Errorf("p50 %d ns, want about 5 ms", rep.Summary.P50Ns)
	}
}

// TestTracePodAgentFails: the agent's own words reach the error, naming
// the node, said once; a failure before any run leaves no trace.
func TestTracePodAgentFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		h         func(l *eventLog) *fakeHelpers
		wantErr   []string
		wantTrace bool
	}{
		{name: "container not on the node", h: func(l *eventLog) *fakeHelpers {
			return &fakeHelpers{log: l, stderr: "copyprobe: start trace agent: find container 0123456789ab: no process of the container on this host\n"}
		}, wantErr: []string{"trace agent on node worker-1", "wait for the trace agent: the trace agent ended without a reply", "exit status 3",
			"its stderr: copyprobe: start trace agent: find container 0123456789ab: no process of the container on this host"}},
		{name: "evict fails", h: func(l *eventLog) *fakeHelpers {
			return &fakeHelpers{log: l, k: &kernelSession{log: l, evict: errors.New("evict /data/src in pid 7: no such file or directory")}}
		}, wantErr: []string{"before run 1: trace agent on node worker-1: trace agent evict", "its stderr: copyprobe: trace agent: line 1: evict /data/src in pid 7: no such file or directory"},
			wantTrace: true},
		{name: "not a result", h: func(l *eventLog) *fakeHelpers {
			return &fakeHelpers{log: l, result: "ok begin 1\nok end 2\nok begin 3\nok end 4\nok begin 5\nok end 6\n{\"schema\":\"something/else\"}\n"}
		}, wantErr: []string{"trace agent stop: a document of schema \"something/else\""}, wantTrace: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			l := &eventLog{}
			o := traceOptions(fake.NewClientset(tracedPod()), tt.h(l), l)
			if tt.name == "not a result" {
				o.Evict = nil
			}
			pt, err := TracePod(ctx, o)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			t.Log(err)
			if strings.Count(err.Error(), "trace agent on node") > 1 {
				t.Errorf("the agent's failure is said more than once: %v", err)
			}
			if (pt != nil) != tt.wantTrace || (pt != nil && pt.Result != nil) {
				t.Errorf("trace %+v, want one without a result: %t", pt, tt.wantTrace)
			}
		})
	}
}

// TestTracePodAgentSilent: an agent that never says ready is ended at its
// bound (here the caller's), not waited for forever.
func TestTracePodAgentSilent(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	l := &eventLog{}
	o := traceOptions(fake.NewClientset(tracedPod()), nil, l)
	o.Helpers = silentHelpers{}
	_, err := TracePod(ctx, o)
	if err == nil || !strings.Contains(err.Error(), "trace agent on node worker-1") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the agent ended at the deadline", err)
	}
}

type silentHelpers struct{}

func (silentHelpers) HelperExec(ctx context.Context, _ string, _ io.Reader, _, _ io.Writer, _ ...string) error {
	<-ctx.Done()
	return fmt.Errorf("exec: %w", ctx.Err())
}
