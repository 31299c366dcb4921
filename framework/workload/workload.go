package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"

	pvexec "github.com/pvreboot/pvreboot/framework/exec"
	"github.com/pvreboot/pvreboot/framework/probe"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

// ContainerName is the workload container's name.
const ContainerName = "probe"

// DataDir is where the volume is mounted in the workload container.
const DataDir = "/data"

// DevicePath is where a block volume (volumeMode Block) appears instead.
const DevicePath = "/dev/pvreboot-data"

// LabelOwned marks every object pvreboot creates.
const LabelOwned = "pvreboot.dev/owned"

// PodSpec describes a workload pod.
type PodSpec struct {
	Namespace string
	Name      string
	Node      string // pinned with nodeName; empty lets the scheduler pick
	Image     string
	// ClaimName mounts that PVC at DataDir; empty mounts an emptyDir.
	ClaimName string
	// Block gives the claim (a volumeMode Block PVC) as a device at DevicePath.
	Block  bool
	Labels map[string]string
	// Command overrides the image's (default: copyprobe serve).
	Command []string
	// Extra are further claims, each at its VolumePath.
	Extra []Claim
}

// Claim is a further PVC of the workload pod.
type Claim struct {
	Name  string
	Block bool
}

// VolumePath is where a further claim appears in the workload container:
// a directory /data-<claim>, or for a block claim a device
// /dev/pvreboot-data-<claim>. The first claim is at DataDir (DevicePath).
func VolumePath(c Claim) string {
	if c.Block {
		return DevicePath + "-" + c.Name
	}
	return DataDir + "-" + c.Name
}

// NewPod renders the workload pod.
func NewPod(s PodSpec) *corev1.Pod {
	labels := map[string]string{LabelOwned: "true", "app.kubernetes.io/name": "pvreboot-workload"}
	for k, v := range s.Labels {
		labels[k] = v
	}
	vol := corev1.Volume{Name: "data"}
	if s.ClaimName != "" {
		vol.PersistentVolumeClaim = &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.ClaimName}
	} else {
		vol.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	cmd := s.Command
	if len(cmd) == 0 {
		cmd = []string{"/copyprobe", "serve"}
	}
	c := corev1.Container{
		Name:            ContainerName,
		Image:           s.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         cmd,
		VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: DataDir}},
	}
	if s.Block && s.ClaimName != "" {
		c.VolumeMounts = nil
		c.VolumeDevices = []corev1.VolumeDevice{{Name: "data", DevicePath: DevicePath}}
	}
	vols := []corev1.Volume{vol}
	for i, ec := range s.Extra {
		name := fmt.Sprintf("data-%d", i+2)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: ec.Name}}})
		if ec.Block {
			c.VolumeDevices = append(c.VolumeDevices, corev1.VolumeDevice{Name: name, DevicePath: VolumePath(ec)})
		} else {
			c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, MountPath: VolumePath(ec)})
		}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:                      s.Node,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](3600)}},
			Containers:                    []corev1.Container{c},
			Volumes:                       vols,
		},
	}
}

// Exec runs argv in a container through the pods/exec API and returns
// stdout and stderr. stdin, when not nil, is streamed to the command's
// standard input; nil gives the command none.
//
// The WebSocket protocol is tried first; SPDY only when the WebSocket
// upgrade itself failed (an apiserver or proxy that does not speak it), as
// kubectl does, so that a command that ran is never run a second time.
func Exec(ctx context.Context, rc *rest.Config, c kubernetes.Interface, ns, pod, container string, argv []string, stdin io.Reader) ([]byte, []byte, error) {
	var stdout, stderr lockedBuffer
	if err := Stream(ctx, rc, c, ns, pod, container, argv, stdin, &stdout, &stderr); err != nil {
		errOut := stderr.Bytes()
		return stdout.Bytes(), errOut, fmt.Errorf("%w: %s", err, bytes.TrimSpace(errOut))
	}
	return stdout.Bytes(), stderr.Bytes(), nil
}

// Stream runs argv in a container of a pod through the pods/exec API with
// its standard streams connected as they flow: stdin, when not nil, is the
// program's input (its end closes the program's), stdout and stderr get its
// output as it comes (they must be safe for a write after a cancelled
// Stream returned). A non-zero exit is an error.
func Stream(ctx context.Context, rc *rest.Config, c kubernetes.Interface, ns, pod, container string, argv []string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts := &corev1.PodExecOptions{Container: container, Command: argv, Stdin: stdin != nil, Stdout: true, Stderr: true}
	req := c.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(opts, scheme.ParameterCodec)
	exec, err := newExecutor(rc, req.URL())
	if err != nil {
		return fmt.Errorf("exec %q in pod %s/%s: %w", pvexec.ShortArgv(argv), ns, pod, err)
	}
	so := remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr}
	if stdin != nil {
		so.Stdin = stdin
	}
	if err := exec.StreamWithContext(ctx, so); err != nil {
		return fmt.Errorf("exec %q in pod %s/%s: %w", pvexec.ShortArgv(argv), ns, pod, err)
	}
	return nil
}

// lockedBuffer collects a stream. client-go returns from a cancelled
// StreamWithContext without waiting for its copy goroutines, which may
// still write: reads take a copy under the lock.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes is a copy of what was written so far.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// newExecutor is the WebSocket executor with the SPDY one behind it for an
// upgrade failure only.
func newExecutor(rc *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	// WebSocket exec is a GET (RFC 6455 section 4.1), SPDY a POST.
	ws, err := remotecommand.NewWebSocketExecutor(rc, "GET", u.String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(rc, "POST", u)
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, shouldFallback)
}

// shouldFallback reports whether a WebSocket exec error means the command
// never started, so that SPDY may run it: the upgrade was refused or an
// HTTPS proxy could not be dialled. An exec that ran (a non-zero exit, a
// stream broken half-way) or a cancelled context is final.
//
// client-go returns the k8s.io/streaming UpgradeFailureError; the one in
// k8s.io/apimachinery/pkg/util/httpstream is a different (deprecated) type
// that errors.As would never match.
func shouldFallback(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

// ProbeArgs renders copyprobe run arguments for options (Dir or Device is the volume).
func ProbeArgs(o probe.Options) []string {
	args := []string{"/copyprobe", "run", "--dir", o.Dir}
	if o.Device != "" {
		args = []string{"/copyprobe", "run", "--device", o.Device}
	}
	args = append(args,
		"--method", string(o.Method),
		"--file-size", probe.FormatSize(o.FileBytes),
		"--chunk-size", probe.FormatSize(o.ChunkBytes),
		"--iterations", fmt.Sprint(o.Iterations),
		"--cache", string(o.Cache))
	if len(o.ExecCommand) > 0 {
		args = append(args, "--exec-cmd", strings.Join(o.ExecCommand, " "))
	}
	return args
}

// Measure execs copyprobe in the pod and returns its report.
func Measure(ctx context.Context, rc *rest.Config, c kubernetes.Interface, ns, pod string, o probe.Options) (*probe.Report, error) {
	if o.Dir == "" && o.Device == "" {
		o.Dir = DataDir
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("measure in pod %s/%s: %w", ns, pod, err)
	}
	out, _, err := Exec(ctx, rc, c, ns, pod, ContainerName, ProbeArgs(o), nil)
	if err != nil {
		return nil, err
	}
	var rep probe.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		return nil, fmt.Errorf("measure in pod %s/%s: copyprobe output is not a probe report: %w: %.200q", ns, pod, err, out)
	}
	if rep.Schema != probe.Schema {
		return nil, fmt.Errorf("measure in pod %s/%s: schema %q, want %q", ns, pod, rep.Schema, probe.Schema)
	}
	return &rep, nil
}
