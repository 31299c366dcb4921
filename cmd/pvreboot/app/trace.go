package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/cluster/existing"
	kindprovider "github.com/pvreboot/pvreboot/framework/cluster/kind"
	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/trace"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TraceSchema tags pvreboot trace's JSON document.
const TraceSchema = "pvreboot.dev/trace/v1"

// maxTraceDuration bounds --duration.
const maxTraceDuration = 24 * time.Hour

// traceOutput is pvreboot trace's JSON document: a probe report per traced
// syscall that was called (method trace:<syscall>, one iteration per run of
// the command), and what the kernel counted, samples dropped or not; the
// node the trace agent ran on (clusters from a kubeconfig) and what the
// trace could not do as asked.
type traceOutput struct {
	Schema      string                `json:"schema"`
	Pod         string                `json:"pod"`
	Container   string                `json:"container,omitempty"`
	ContainerID string                `json:"containerID"`
	Node        string                `json:"node,omitempty"`
	Command     []string              `json:"command,omitempty"`
	Cgroup      trace.Cgroup          `json:"cgroup"`
	Kernel      []trace.SyscallResult `json:"kernel"`
	Dropped     uint64                `json:"dropped"`
	Reports     []*probe.Report       `json:"reports"`
	Outputs     []string              `json:"outputs,omitempty"`
	Notes       []string              `json:"notes,omitempty"`
}

// helpersCloseTimeout bounds the removal of the node helper pods and their
// namespace after a trace.
const helpersCloseTimeout = 2 * time.Minute

func newTraceCmd(g *globals) *cobra.Command {
	var f traceFlags
	cmd := &cobra.Command{
		Use:   "trace --pod NS/NAME [--container C] [--syscalls LIST] (--duration D | -- COMMAND [ARG...])",
		Short: "Measure the per-call latency and bytes of a pod's own syscalls with eBPF, as strace -T would, without ptrace",
		Long: "trace loads eBPF programs on the sys_enter/sys_exit tracepoints of this host's kernel and times every\n" +
			"call of the chosen syscalls made by the processes of one container of a pod, found by its cgroup (v1\n" +
			"or v2). With -- COMMAND it runs the command in the container (pods/exec, an argv, no shell) --runs\n" +
			"times and traces only that command's processes; with --duration it traces the container's processes\n" +
			"for that long. Each traced syscall gives a probe report (pvreboot.dev/probe/v1, method\n" +
			"trace:<syscall>, one iteration per run); the kernel also keeps a log2 latency histogram of every call,\n" +
			"and the output says how many calls lost their per-call sample when the ring buffer was full.\n\n" +
			"Where it runs: for a kind cluster (--name) on this host, which shares the node's kernel and must be\n" +
			"root. For a cluster from a kubeconfig (--kubeconfig/--context) in a privileged hostPID helper pod on\n" +
			"the pod's node, made from --probe-image (its copyprobe trace-agent; loaded into the node first when it\n" +
			"is a kind node of this host's engine), in a namespace of its own that is removed at the end; the\n" +
			"windows of the command's runs are marked on the node's clock.",
		Example: `  # BusyBox cp in the workload pod, per sendfile call
  pvreboot trace --pod pvreboot-1a2b/pvreboot-workload --syscalls sendfile -- /bin/busybox cp /data/src /data/dst
  # whatever the container does for 30 s, reads and writes only, as JSON
  pvreboot trace --pod shop/db-0 --container postgres --syscalls read,write,fsync --duration 30s -o json
  # a pod of any cluster: the tracer runs in a helper pod on its node
  pvreboot trace --kubeconfig ~/.kube/lab --pod shop/db-0 --probe-image registry.example.com/pvreboot/copyprobe:v1 --duration 30s`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := f.check(cmd.Flags(), cmd.ArgsLenAtDash(), args); err != nil {
				return err
			}
			ctx := cmd.Context()
			rc, client, err := f.client(ctx, g)
			if err != nil {
				return err
			}
			o := runner.PodTraceOptions{Client: client, RESTConfig: rc, Namespace: f.ns, Pod: f.pod, Container: f.container,
				Syscalls: f.calls, Command: f.command, Runs: f.runs, Duration: f.duration}
			if f.existing() {
				// A kind cluster's node has no registry to pull the helper's image from.
				pod, err := client.CoreV1().Pods(f.ns).Get(ctx, f.pod, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("trace pod %s/%s: %w", f.ns, f.pod, err)
				}
				if pod.Spec.NodeName != "" {
					if _, err := runner.LoadProbeOnKindNode(ctx, client, pod.Spec.NodeName, f.probeImage, g.logger(), g.s.Err); err != nil {
						return err
					}
				}
				pe, closeHelpers, err := runner.NodeHelpers(ctx, client, rc, f.probeImage)
				if err != nil {
					return err
				}
				defer func() {
					cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), helpersCloseTimeout)
					defer cancel()
					if cerr := closeHelpers(cctx); cerr != nil {
						fmt.Fprintf(g.s.Err, "remove node helper namespace %s: %v\n", pe.Namespace, cerr)
					}
				}()
				o.Helpers = pe
			}
			pt, err := runner.TracePod(ctx, o)
			if pt == nil || pt.Result == nil {
				return err
			}
			out := traceOutput{Schema: TraceSchema, Pod: f.ns + "/" + f.pod, Container: f.container, ContainerID: pt.ContainerID, Node: pt.Node, Command: f.command,
				Cgroup: pt.Result.Cgroup, Kernel: pt.Result.Syscalls, Dropped: pt.Result.Dropped(), Outputs: pt.Outputs, Notes: pt.Notes}
			for _, sr := range pt.Result.Syscalls {
				if sr.Calls > 0 {
					rep := trace.ProbeReport(pt.Result, sr.Syscall, pt.Windows, probe.Env{})
					rep.ExecCommand = f.command
					out.Reports = append(out.Reports, rep)
				}
			}
			var werr error
			if f.output == "json" {
				werr = writeJSON(g.s.Out, out)
			} else {
				werr = writeTraceText(g.s.Out, out, pt.Result)
			}
			return errors.Join(err, werr)
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.podRef, "pod", "", "the pod, NAMESPACE/NAME")
	fs.StringVar(&f.container, "container", "", "the container (default the pod's first)")
	fs.StringSliceVar(&f.syscalls, "syscalls", nil, "syscalls to time, comma-separated: "+strings.Join(syscallList(), ", ")+" (default all)")
	fs.DurationVar(&f.duration, "duration", 0, "trace the container's processes this long (instead of a command)")
	fs.IntVar(&f.runs, "runs", 1, "with a command: how many times to run it (an iteration each)")
	fs.StringVar(&f.name, "name", defaultClusterName, "kind cluster the pod is on")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "a cluster pvreboot did not create, from this kubeconfig (traced by a node helper pod)")
	fs.StringVar(&f.context, "context", "", "kubeconfig context")
	fs.StringVar(&f.probeImage, "probe-image", "", "image of the node helper pod that runs the tracer (with --kubeconfig/--context; made by pvreboot image probe --push)")
	fs.StringVarP(&f.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func syscallList() []string {
	var out []string
	for _, s := range trace.Syscalls() {
		out = append(out, string(s))
	}
	return out
}

type traceFlags struct {
	podRef, ns, pod, container, name, kubeconfig, context, output string
	probeImage                                                    string
	syscalls                                                      []string
	calls                                                         []trace.Syscall
	duration                                                      time.Duration
	runs                                                          int
	command                                                       []string
}

// check rejects what trace cannot act on, naming the flag, before anything
// is contacted or loaded.
func (f *traceFlags) check(fs *pflag.FlagSet, dash int, args []string) error {
	if dash < 0 && len(args) > 0 {
		return exitcode.Usagef("unexpected argument %q: a command to trace goes after --", args[0])
	}
	if dash >= 0 {
		f.command = args[dash:]
	}
	ns, name, ok := strings.Cut(f.podRef, "/")
	switch {
	case f.podRef == "":
		return exitcode.Usagef("--pod: required (NAMESPACE/NAME)")
	case !ok || ns == "" || name == "":
		return exitcode.Usagef("--pod: %q is not NAMESPACE/NAME", f.podRef)
	case len(validation.IsDNS1123Label(ns)) > 0:
		return exitcode.Usagef("--pod: %q is not a namespace name", ns)
	case len(validation.IsDNS1123Subdomain(name)) > 0:
		return exitcode.Usagef("--pod: %q is not a pod name", name)
	case fs.Changed("container") && len(validation.IsDNS1123Label(f.container)) > 0:
		return exitcode.Usagef("--container: %q is not a container name", f.container)
	case f.output != "text" && f.output != "json":
		return exitcode.Usagef("--output: unknown format %q (want text or json)", f.output)
	case fs.Changed("duration") && len(f.command) > 0:
		return exitcode.Usagef("--duration: not with a command (the command's runs are traced)")
	case len(f.command) == 0 && dash >= 0:
		return exitcode.Usagef("--: no command after it")
	case len(f.command) == 0 && !fs.Changed("duration"):
		return exitcode.Usagef("--duration or -- COMMAND: one is required (what to trace)")
	case len(f.command) == 0 && (f.duration <= 0 || f.duration > maxTraceDuration):
		return exitcode.Usagef("--duration: %s is not in (0, %s]", f.duration, maxTraceDuration)
	case f.runs < 1 || f.runs > 1000:
		return exitcode.Usagef("--runs: %d is not 1 to 1000", f.runs)
	case fs.Changed("runs") && len(f.command) == 0:
		return exitcode.Usagef("--runs: only with a command")
	case fs.Changed("kubeconfig") && f.kubeconfig == "":
		return exitcode.Usagef("--kubeconfig: empty")
	case fs.Changed("context") && f.context == "":
		return exitcode.Usagef("--context: empty")
	case f.existing() && f.probeImage == "":
		return exitcode.Usagef("--probe-image: required with --kubeconfig or --context (the tracer runs in a node helper pod; push one with `pvreboot image probe --push REF`)")
	case !f.existing() && f.probeImage != "":
		return exitcode.Usagef("--probe-image: only with --kubeconfig or --context (on kind the tracer runs on this host)")
	}
	if len(f.command) > 0 && !strings.HasPrefix(f.command[0], "/") {
		return exitcode.Usagef("command: %q must be an absolute path in the container (it is run without a shell)", f.command[0])
	}
	calls, err := trace.ParseSyscalls(f.syscalls)
	if err != nil {
		return exitcode.UsageError(fmt.Errorf("--syscalls: %w", err))
	}
	f.ns, f.pod, f.calls = ns, name, calls
	if !f.existing() {
		return checkClusterName(f.name)
	}
	return nil
}

// existing reports whether the pod's cluster comes from a kubeconfig (the
// tracer then runs in a node helper pod), not the kind cluster --name.
func (f *traceFlags) existing() bool { return f.kubeconfig != "" || f.context != "" }

// client reaches the pod's cluster: the kind cluster --name, or a kubeconfig.
func (f *traceFlags) client(ctx context.Context, g *globals) (*rest.Config, kubernetes.Interface, error) {
	if f.existing() {
		var paths []string
		if f.kubeconfig != "" {
			paths = []string{f.kubeconfig}
		}
		c, err := existing.Open(paths, f.context)
		if err != nil {
			return nil, nil, exitcode.UsageError(err)
		}
		return c.RESTConfig, c.Client, nil
	}
	kc, err := kindprovider.New(g.logger(), g.s.Err).Get(ctx, f.name)
	if err != nil {
		return nil, nil, exitcode.UsageError(fmt.Errorf("--name: %w", err))
	}
	return kc.Client(ctx)
}

// writeTraceText prints what the kernel counted per syscall and, for the
// calls of each report, the strace -T-like list (up to 64 calls).
func writeTraceText(w io.Writer, out traceOutput, res *trace.Result) error {
	where := ""
	if out.Node != "" {
		where = " on node " + out.Node
	}
	fmt.Fprintf(w, "trace of %s%s (container %.12s, cgroup v%d %s) for %s\n", out.Pod, where, out.ContainerID, out.Cgroup.Version, out.Cgroup.Path, res.Duration.Round(time.Millisecond))
	fmt.Fprintf(w, "%-16s %8s %8s %12s %10s %10s %10s %8s\n", "syscall", "calls", "errors", "bytes", "p50", "p99", "max", "dropped")
	for _, sr := range out.Kernel {
		if sr.Calls == 0 {
			continue
		}
		p50, p99, mx := "-", "-", "-"
		if i := slices.IndexFunc(out.Reports, func(r *probe.Report) bool { return string(r.Method) == sr.Syscall.Method() }); i >= 0 && out.Reports[i].Summary.Calls > 0 {
			s := out.Reports[i].Summary
			p50, p99, mx = budget.FormatNs(float64(s.P50Ns)), budget.FormatNs(float64(s.P99Ns)), budget.FormatNs(float64(s.MaxNs))
		}
		fmt.Fprintf(w, "%-16s %8d %8d %12s %10s %10s %10s %8d\n", sr.Syscall, sr.Calls, sr.Errors, probe.FormatBytes(int64(sr.Bytes)), p50, p99, mx, sr.Dropped)
	}
	n := 0
	for _, s := range res.Samples {
		if n == 64 {
			fmt.Fprintf(w, "... %d more calls (-o json has them all)\n", len(res.Samples)-n)
			break
		}
		fmt.Fprintf(w, "%s = %d <%.6f> pid %d\n", s.Syscall, s.Ret, float64(s.Ns)/1e9, s.TID)
		n++
	}
	if out.Dropped > 0 {
		fmt.Fprintf(w, "WARNING: %d calls have no per-call sample (ring buffer full); the counts above include them\n", out.Dropped)
	}
	for _, n := range out.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}
