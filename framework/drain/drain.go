// Package drain cordons a node and evicts its pods before a reboot, the way
// `kubectl drain` does, and uncordons it afterwards. Both are optional in a
// scenario and off by default: kubernetes#131186 is about pods that stay on
// the node across its reboot.
package drain

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/pvreboot/pvreboot/framework/wait"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	apiwait "k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// Cordon marks the node unschedulable. already reports that it was before,
// in which case Uncordon must not undo somebody else's cordon.
func Cordon(ctx context.Context, c kubernetes.Interface, node string) (already bool, err error) {
	n, err := c.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil {
		return false, fmt.Errorf("cordon %s: %w", node, err)
	}
	if n.Spec.Unschedulable {
		return true, nil
	}
	return false, setUnschedulable(ctx, c, node, true)
}

// Uncordon marks the node schedulable again.
func Uncordon(ctx context.Context, c kubernetes.Interface, node string) error {
	return setUnschedulable(ctx, c, node, false)
}

func setUnschedulable(ctx context.Context, c kubernetes.Interface, node string, v bool) error {
	patch := fmt.Appendf(nil, `{"spec":{"unschedulable":%t}}`, v)
	if _, err := c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		verb := "uncordon"
		if v {
			verb = "cordon"
		}
		return fmt.Errorf("%s %s: %w", verb, node, err)
	}
	return nil
}

// Decision is what a drain does with one pod of the node.
type Decision struct {
	Pod    string // namespace/name
	Evict  bool
	Reason string // why it stays (DaemonSet, static pod, no controller, ...)
}

// Plan decides, like `kubectl drain` without --force, which pods of the
// node are evicted: not DaemonSet pods (the controller would put them back),
// static pods, finished pods, pods without a controller (nothing would
// recreate them: they stay and restart with the node), and pods keep
// accepts (the test's own workload and helpers).
func Plan(pods []corev1.Pod, keep func(*corev1.Pod) bool) []Decision {
	out := make([]Decision, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		d := Decision{Pod: p.Namespace + "/" + p.Name}
		ctrl := metav1.GetControllerOf(p)
		switch {
		case keep != nil && keep(p):
			d.Reason = "the test's own pod"
		case p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed:
			d.Reason = "finished"
		case p.Annotations[corev1.MirrorPodAnnotationKey] != "":
			d.Reason = "static pod"
		case ctrl != nil && ctrl.Kind == "DaemonSet":
			d.Reason = "DaemonSet pod"
		case ctrl == nil:
			d.Reason = "no controller would recreate it"
		default:
			d.Evict = true
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pod < out[j].Pod })
	return out
}

// PodsOn lists the pods bound to the node.
func PodsOn(ctx context.Context, c kubernetes.Interface, node string) ([]corev1.Pod, error) {
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		return nil, fmt.Errorf("list pods on %s: %w", node, err)
	}
	return pods.Items, nil
}

// Drain evicts the node's pods that Plan evicts, retrying while a
// PodDisruptionBudget refuses (HTTP 429), and waits until each is gone. It
// returns the evicted pods; ctx bounds the whole drain.
func Drain(ctx context.Context, c kubernetes.Interface, node string, keep func(*corev1.Pod) bool) ([]string, error) {
	pods, err := PodsOn(ctx, c, node)
	if err != nil {
		return nil, err
	}
	byName := map[string]corev1.Pod{}
	for _, p := range pods {
		byName[p.Namespace+"/"+p.Name] = p
	}
	var evicted []string
	var errs []error
	for _, d := range Plan(pods, keep) {
		if !d.Evict {
			continue
		}
		p := byName[d.Pod]
		if err := evict(ctx, c, &p); err != nil {
			errs = append(errs, err)
			continue
		}
		evicted = append(evicted, d.Pod)
	}
	for _, name := range evicted {
		p := byName[name]
		if err := wait.PodGone(ctx, c, p.Namespace, p.Name, string(p.UID)); err != nil {
			errs = append(errs, fmt.Errorf("drain %s: pod %s not gone: %w", node, name, err))
		}
	}
	return evicted, errors.Join(errs...)
}

func evict(ctx context.Context, c kubernetes.Interface, p *corev1.Pod) error {
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
		DeleteOptions: &metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}}}
	var last error
	err := apiwait.ExponentialBackoffWithContext(ctx, apiwait.Backoff{Duration: time.Second, Factor: 1.5, Cap: 10 * time.Second, Steps: 1 << 30},
		func(ctx context.Context) (bool, error) {
			last = c.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
			switch {
			case last == nil, apierrors.IsNotFound(last):
				return true, nil
			case apierrors.IsTooManyRequests(last):
				return false, nil // a PodDisruptionBudget says not now
			}
			return false, last
		})
	if err != nil {
		if last != nil && !errors.Is(err, last) {
			err = fmt.Errorf("%w (last: %v)", err, last)
		}
		return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return nil
}
