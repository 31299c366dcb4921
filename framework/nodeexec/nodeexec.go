package nodeexec

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pvreboot/pvreboot/framework/wait"
	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
)

// helperReadyTimeout bounds the start of a helper pod from a preloaded image.
const helperReadyTimeout = 2 * time.Minute

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

func podName(node string) string {
	n := "pvreboot-nodeexec-" + strings.ReplaceAll(node, ".", "-")
	if len(n) > 63 {
		n = n[:63]
	}
	return strings.TrimRight(n, "-")
}

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
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace, Labels: map[string]string{workload.LabelOwned: "true", "app.kubernetes.io/name": "pvreboot-nodeexec"}},
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
	_, err := p.Client.CoreV1().Pods(p.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create node exec pod on %s: %w", node, err)
	}
	wctx, cancel := context.WithTimeout(ctx, helperReadyTimeout)
	defer cancel()
	if _, err := wait.PodReady(wctx, p.Client, p.Namespace, name); err != nil {
		return "", err
	}
	p.pods[node] = name
	return name, nil
}

// NodeExec runs argv in the node's namespaces (PID 1's mount, UTS, IPC, net
// and PID namespaces) and returns stdout and stderr combined.
func (p *PodExec) NodeExec(ctx context.Context, node string, argv ...string) ([]byte, error) {
	name, err := p.ensure(ctx, node)
	if err != nil {
		return nil, err
	}
	full := append([]string{"/bin/busybox", "nsenter", "-t", "1", "-m", "-u", "-i", "-n", "-p", "--"}, argv...)
	out, errOut, err := workload.Exec(ctx, p.RESTConfig, p.Client, p.Namespace, name, "exec", full)
	combined := append(out, errOut...)
	if err != nil {
		return combined, fmt.Errorf("on node %s: %w", node, err)
	}
	return combined, nil
}

// Close deletes the helper pods and waits for them to be gone.
func (p *PodExec) Close(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for node, name := range p.pods {
		pod, err := p.Client.CoreV1().Pods(p.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := p.Client.CoreV1().Pods(p.Namespace).Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete node exec pod on %s: %w", node, err))
			continue
		}
		if err := wait.PodGone(ctx, p.Client, p.Namespace, name, string(pod.UID)); err != nil {
			errs = append(errs, err)
		}
	}
	p.pods = nil
	return errors.Join(errs...)
}
