package workload

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pvreboot/pvreboot/framework/probe"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
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
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Namespace: s.Namespace, Labels: labels},
		Spec: corev1.PodSpec{
			NodeName:                      s.Node,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](5),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr.To[int64](3600)}},
			Containers:                    []corev1.Container{c},
			Volumes:                       []corev1.Volume{vol},
		},
	}
}

// Exec runs argv in a container through the pods/exec API and returns
// stdout and stderr.
func Exec(ctx context.Context, rc *rest.Config, c kubernetes.Interface, ns, pod, container string, argv []string) ([]byte, []byte, error) {
	req := c.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: argv, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(rc, "GET", req.URL().String())
	if err != nil {
		return nil, nil, fmt.Errorf("exec %q in pod %s/%s: %w", argv, ns, pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(rc, "POST", req.URL())
	if err != nil {
		return nil, nil, fmt.Errorf("exec %q in pod %s/%s: %w", argv, ns, pod, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool { return true })
	if err != nil {
		return nil, nil, err
	}
	var stdout, stderr bytes.Buffer
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	if err != nil {
		return stdout.Bytes(), stderr.Bytes(), fmt.Errorf("exec %q in pod %s/%s: %w: %s", argv, ns, pod, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), stderr.Bytes(), nil
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
	out, _, err := Exec(ctx, rc, c, ns, pod, ContainerName, ProbeArgs(o))
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
