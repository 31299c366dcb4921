package wait

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
)

// NodeTimeline is what was seen of a node while it rebooted.
type NodeTimeline struct {
	NotReadySeen *time.Time
	KubeletBack  *time.Time // first Ready heartbeat newer than Since
	Ready        *time.Time
	BootID       string
	InternalIP   string
}

// NodeRebooted watches the node until its kubelet has posted a Ready status
// with a heartbeat newer than since (a kind restart is often too short for
// the node to turn NotReady, so NotReady is recorded but not required).
// When wantNewBootID is set, the node's bootID must also differ from it.
func NodeRebooted(ctx context.Context, c kubernetes.Interface, name string, since time.Time, oldBootID string, wantNewBootID bool) (NodeTimeline, error) {
	var tl NodeTimeline
	var last *corev1.Node
	var seen lastSeen
	defer reportWhile(ctx, "node "+name, "Ready with a heartbeat after "+since.UTC().Format(time.RFC3339), &seen)()
	lw := nodesByName(c, name)
	// Heartbeats have second precision.
	sinceSec := since.Truncate(time.Second)
	_, err := toolswatch.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(e watch.Event) (bool, error) {
		n, ok := e.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		last = n
		seen.set(DescribeNode(n))
		now := time.Now()
		ready, hb := readyCondition(n)
		if ready != corev1.ConditionTrue && tl.NotReadySeen == nil {
			tl.NotReadySeen = &now
		}
		fresh := hb.After(sinceSec) || hb.Equal(sinceSec)
		if fresh && tl.KubeletBack == nil {
			tl.KubeletBack = &now
		}
		if wantNewBootID && n.Status.NodeInfo.BootID == oldBootID {
			return false, nil
		}
		if fresh && ready == corev1.ConditionTrue {
			tl.Ready = &now
			tl.BootID = n.Status.NodeInfo.BootID
			for _, a := range n.Status.Addresses {
				if a.Type == corev1.NodeInternalIP && tl.InternalIP == "" {
					tl.InternalIP = a.Address
				}
			}
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		want := fmt.Sprintf("Ready with a heartbeat after %s", since.UTC().Format(time.RFC3339))
		if wantNewBootID {
			want += " and a bootID other than " + oldBootID
		}
		return tl, fmt.Errorf("node %s: want %s, last %s: %w", name, want, DescribeNode(last), why(ctx, err))
	}
	return tl, nil
}

func readyCondition(n *corev1.Node) (corev1.ConditionStatus, time.Time) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status, c.LastHeartbeatTime.Time
		}
	}
	return corev1.ConditionUnknown, time.Time{}
}

// PodReturn is how a workload pod came back.
type PodReturn struct {
	Pod      *corev1.Pod
	SamePod  bool  // same UID, containers restarted in place
	Restarts int32 // restart count now
	At       time.Time
}

// PodBack waits until the named pod is Ready again after a reboot: either
// the same pod (same UID) with its restart count above restartsBefore or a
// new container ID, or a recreated pod (new UID).
func PodBack(ctx context.Context, c kubernetes.Interface, ns, name, uid string, restartsBefore int32, containerIDBefore string) (PodReturn, error) {
	p, err := Pod(ctx, c, ns, name, fmt.Sprintf("Ready again with restartCount > %d or a new UID", restartsBefore), func(p *corev1.Pod) (bool, error) {
		if !IsPodReady(p) || !p.DeletionTimestamp.IsZero() {
			return false, nil
		}
		if string(p.UID) != uid {
			return true, nil
		}
		r, id := restarts(p)
		return r > restartsBefore || (id != "" && id != containerIDBefore), nil
	})
	if err != nil {
		return PodReturn{Pod: p}, err
	}
	r, _ := restarts(p)
	return PodReturn{Pod: p, SamePod: string(p.UID) == uid, Restarts: r, At: time.Now()}, nil
}

func restarts(p *corev1.Pod) (int32, string) {
	for _, cs := range p.Status.ContainerStatuses {
		return cs.RestartCount, cs.ContainerID
	}
	return 0, ""
}

// podGoneTimeout bounds PodGone when the caller's context sets no deadline:
// a pod's grace period and the kubelet's confirmation take seconds, a node
// that went away takes the pod GC minutes.
const podGoneTimeout = 5 * time.Minute

// namespaceGoneTimeout bounds NamespaceGone when the caller's context sets no
// deadline: a namespace waits for the finalizers of everything in it.
const namespaceGoneTimeout = 10 * time.Minute

// PodGone waits until the named pod with that UID no longer exists (absent,
// or replaced by a pod with another UID). Only NotFound means absent: any
// other error is retried within the bound or returned, never read as gone.
func PodGone(ctx context.Context, c kubernetes.Interface, ns, name, uid string) error {
	ctx, cancel := bounded(ctx, podGoneTimeout)
	defer cancel()
	want := fmt.Sprintf("pod %s/%s: want uid %s deleted", ns, name, uid)
	cur, err := get(ctx, func(ctx context.Context) (*corev1.Pod, error) {
		return c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	if string(cur.UID) != uid {
		return nil
	}
	last := cur
	seen := lastSeen{s: DescribePod(cur)}
	defer reportWhile(ctx, "pod "+ns+"/"+name, "uid "+uid+" deleted", &seen)()
	_, err = toolswatch.UntilWithSync(ctx, podsByName(c, ns, name), &corev1.Pod{}, func(store cache.Store) (bool, error) {
		// Deleted between the get and the list: no event will come.
		for _, o := range store.List() {
			if p, ok := o.(*corev1.Pod); ok && string(p.UID) == uid {
				last = p
				return false, nil
			}
		}
		return true, nil
	}, func(e watch.Event) (bool, error) {
		if e.Type == watch.Deleted {
			return true, nil
		}
		p, ok := e.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		if string(p.UID) != uid {
			return true, nil // replaced by a new pod of that name
		}
		last = p
		seen.set(DescribePod(p))
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("%s, last %s: %w", want, DescribePod(last), why(ctx, err))
	}
	return nil
}

// NamespaceGone waits until the namespace no longer exists. Only NotFound
// means absent: any other error is retried within the bound or returned,
// never read as gone.
func NamespaceGone(ctx context.Context, c kubernetes.Interface, name string) error {
	ctx, cancel := bounded(ctx, namespaceGoneTimeout)
	defer cancel()
	last, err := get(ctx, func(ctx context.Context) (*corev1.Namespace, error) {
		return c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namespace %s: want deleted: %w", name, err)
	}
	lw := byName(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Namespaces().List(ctx, o)
	}, c.CoreV1().Namespaces().Watch)
	seen := lastSeen{s: "phase " + string(last.Status.Phase)}
	defer reportWhile(ctx, "namespace "+name, "deleted", &seen)()
	_, err = toolswatch.UntilWithSync(ctx, lw, &corev1.Namespace{}, func(store cache.Store) (bool, error) {
		return len(store.List()) == 0, nil
	}, func(e watch.Event) (bool, error) {
		if ns, ok := e.Object.(*corev1.Namespace); ok {
			last = ns
			seen.set("phase " + string(ns.Status.Phase))
		}
		return e.Type == watch.Deleted, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: want deleted, last phase %s: %w", name, last.Status.Phase, why(ctx, err))
	}
	return nil
}
