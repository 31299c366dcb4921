package nodeexec

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pvreboot/pvreboot/framework/wait"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// helperReadyTimeout bounds the start of a helper pod from a preloaded image.
const helperReadyTimeout = 2 * time.Minute

// helperGoneTimeout bounds the wait for a helper pod left terminating by an
// earlier run (its grace period is 2s; the kubelet may be slow to confirm).
const helperGoneTimeout = time.Minute

// PodExec runs node commands in helper pods. Image must carry a static
// BusyBox at /bin/busybox (nsenter) and /copyprobe (serve): the probe image.
type PodExec struct {
	Client     kubernetes.Interface
	RESTConfig *rest.Config
	Namespace  string
	Image      string

	mu   sync.Mutex
	pods map[string]string // node -> pod
}

// appName labels the helper pods.
const appName = "pvreboot-nodeexec"

// nodeAnnotation records the full node name on a helper pod: the pod name
// holds only a readable prefix of it.
const nodeAnnotation = "pvreboot.dev/node"

// podName is the helper pod's name for a node: a DNS-1123 label made of a
// readable, sanitised prefix of the node name and a hash of the whole name,
// so that "a.b" and "a-b", or two long names sharing 63 characters, get
// different pods.
func podName(node string) string {
	const prefix = appName + "-"
	sum := sha256.Sum256([]byte(node))
	hash := hex.EncodeToString(sum[:])[:10]
	// 63 = prefix + readable + "-" + hash.
	room := validation.DNS1123LabelMaxLength - len(prefix) - 1 - len(hash)
	var b strings.Builder
	for _, r := range strings.ToLower(node) {
		if b.Len() == room {
			break
		}
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	readable := strings.Trim(b.String(), "-")
	if readable == "" {
		return prefix + hash
	}
	return prefix + readable + "-" + hash
}

// ensure returns the Ready helper pod on node, creating it if needed. A
// pod of that name that is not a pvreboot helper for this very node is an
// error, never used.
func (p *PodExec) ensure(ctx context.Context, node string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name, ok := p.pods[node]; ok {
		return name, nil
	}
	if p.pods == nil {
		p.pods = map[string]string{}
	}
	name := podName(node)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace,
			Labels:      map[string]string{workload.LabelOwned: "true", "app.kubernetes.io/name": appName},
			Annotations: map[string]string{nodeAnnotation: node}},
		Spec: corev1.PodSpec{
			NodeName:                      node,
			HostPID:                       true,
			HostNetwork:                   true,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](2),
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{
				Name: "exec", Image: p.Image, ImagePullPolicy: corev1.PullIfNotPresent,
				Command:         []string{"/copyprobe", "serve"},
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
			}},
		},
	}
	if err := p.create(ctx, node, pod); err != nil {
		return "", fmt.Errorf("node exec on %s: %w", node, err)
	}
	wctx, cancel := context.WithTimeout(ctx, helperReadyTimeout)
	defer cancel()
	if _, err := wait.PodReady(wctx, p.Client, p.Namespace, name); err != nil {
		return "", fmt.Errorf("node exec on %s: %w", node, err)
	}
	p.pods[node] = name
	return name, nil
}

// create creates the helper pod, or checks the one of that name that
// already exists.
func (p *PodExec) create(ctx context.Context, node string, pod *corev1.Pod) error {
	pods := p.Client.CoreV1().Pods(p.Namespace)
	_, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create pod %s/%s: %w", p.Namespace, pod.Name, err)
	}
	if err := p.reuse(ctx, node, pod.Name); !errors.Is(err, errTerminating) {
		return err
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s/%s after the old one went: %w", p.Namespace, pod.Name, err)
	}
	return nil
}

// errTerminating says the existing helper pod was being deleted and is gone now.
var errTerminating = errors.New("helper pod was terminating")

// reuse checks that the existing pod name is our helper pinned to node. A
// helper still terminating (left by an earlier run) is waited out and
// reported as errTerminating, so that the caller creates it again.
func (p *PodExec) reuse(ctx context.Context, node, name string) error {
	cur, err := p.Client.CoreV1().Pods(p.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		// Deleted between the create and the get.
		return errTerminating
	}
	if err != nil {
		return fmt.Errorf("get existing pod %s/%s: %w", p.Namespace, name, err)
	}
	if cur.Labels[workload.LabelOwned] != "true" || cur.Labels["app.kubernetes.io/name"] != appName {
		return fmt.Errorf("pod %s/%s exists and is not a pvreboot node exec helper (labels %v): refusing to exec in it", p.Namespace, name, cur.Labels)
	}
	if cur.Spec.NodeName != node || cur.Annotations[nodeAnnotation] != node {
		return fmt.Errorf("pod %s/%s exists but is pinned to node %q (annotated %q), not %q: refusing to use it", p.Namespace, name, cur.Spec.NodeName, cur.Annotations[nodeAnnotation], node)
	}
	if cur.DeletionTimestamp != nil {
		wctx, cancel := context.WithTimeout(ctx, helperGoneTimeout)
		defer cancel()
		if err := wait.PodGone(wctx, p.Client, p.Namespace, name, string(cur.UID)); err != nil {
			return fmt.Errorf("existing pod %s/%s is terminating: %w", p.Namespace, name, err)
		}
		return errTerminating
	}
	return nil
}

// NodeExec runs argv in the node's namespaces (PID 1's mount, UTS, IPC, net
// and PID namespaces) and returns stdout and stderr combined. stdin, when
// not nil, is the command's standard input.
func (p *PodExec) NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error) {
	name, err := p.ensure(ctx, node)
	if err != nil {
		return nil, err
	}
	out, errOut, err := workload.Exec(ctx, p.RESTConfig, p.Client, p.Namespace, name, "exec", nsenter(argv), stdin)
	combined := append(out, errOut...)
	if err != nil {
		return combined, fmt.Errorf("on node %s: %w", node, err)
	}
	return combined, nil
}

// NodePATH is the PATH node commands run with: a node's tools (mkfs.ext4,
// losetup, systemctl) are in its sbin directories, and the environment an
// exec inherits is the helper image's, whose PATH need not name them.
const NodePATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// nsenter wraps argv to run in PID 1's namespaces as the node's own
// program: the node's env(1) (an absolute path) looks argv[0] up in
// NodePATH. Named directly, argv[0] would be looked up by the helper's
// BusyBox, which prefers its own applets: its losetup, mount or sh, not the
// node's (BusyBox losetup has no --list, -j or --direct-io).
func nsenter(argv []string) []string {
	return append([]string{"/bin/busybox", "nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--", "/usr/bin/env", "PATH=" + NodePATH}, argv...)
}

// Close deletes the helper pods and waits for them to be gone, each pod
// within its own bound.
func (p *PodExec) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for node, name := range p.pods {
		if err := p.remove(ctx, name); err != nil {
			errs = append(errs, fmt.Errorf("node exec on %s: remove helper pod: %w", node, err))
		}
	}
	p.pods = nil
	return errors.Join(errs...)
}

func (p *PodExec) remove(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, helperGoneTimeout)
	defer cancel()
	pods := p.Client.CoreV1().Pods(p.Namespace)
	pod, err := pods.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("get pod %s/%s: %w", p.Namespace, name, err)
	}
	err = pods.Delete(ctx, name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", p.Namespace, name, err)
	}
	return wait.PodGone(ctx, p.Client, p.Namespace, name, string(pod.UID))
}
