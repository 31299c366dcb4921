package wait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	kwait "k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
	"math"
	"net"
	"net/http"
	"syscall"
)

// byName is a ListWatch of the one object with that name.
func byName(name string, list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return list(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return watchFn(ctx, o)
		},
	}
}

func podsByName(c kubernetes.Interface, ns, name string) *cache.ListWatch {
	return byName(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Pods(ns).List(ctx, o)
	}, c.CoreV1().Pods(ns).Watch)
}

func nodesByName(c kubernetes.Interface, name string) *cache.ListWatch {
	return byName(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Nodes().List(ctx, o)
	}, c.CoreV1().Nodes().Watch)
}

// ErrDeleted is returned when the awaited object is deleted.
var ErrDeleted = errors.New("object deleted")

// Pod waits until cond accepts the named pod, driven by a watch; want names
// the awaited state in the error, with the last state seen.
func Pod(ctx context.Context, c kubernetes.Interface, ns, name, want string, cond func(*corev1.Pod) (bool, error)) (*corev1.Pod, error) {
	var last *corev1.Pod
	var seen lastSeen
	defer reportWhile(ctx, "pod "+ns+"/"+name, want, &seen)()
	lw := podsByName(c, ns, name)
	ev, err := toolswatch.UntilWithSync(ctx, lw, &corev1.Pod{}, nil, func(e watch.Event) (bool, error) {
		p, ok := e.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		last = p
		seen.set(DescribePod(p))
		if e.Type == watch.Deleted {
			return false, fmt.Errorf("pod %s/%s: want %s: %w", ns, name, want, ErrDeleted)
		}
		return cond(p)
	})
	if err != nil {
		if errors.Is(err, ErrDeleted) {
			return last, err
		}
		return last, fmt.Errorf("pod %s/%s: want %s, last %s: %w", ns, name, want, DescribePod(last), why(ctx, err))
	}
	return ev.Object.(*corev1.Pod), nil
}

// PodReady waits for the pod's Ready condition.
func PodReady(ctx context.Context, c kubernetes.Interface, ns, name string) (*corev1.Pod, error) {
	return Pod(ctx, c, ns, name, "Ready", func(p *corev1.Pod) (bool, error) {
		if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
			return false, fmt.Errorf("pod %s/%s ended in phase %s", ns, name, p.Status.Phase)
		}
		return IsPodReady(p), nil
	})
}

// IsPodReady reports the pod's Ready condition.
func IsPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DescribePod is a one-line state of a pod for error messages.
func DescribePod(p *corev1.Pod) string {
	if p == nil {
		return "never seen"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady || c.Type == corev1.PodScheduled {
			fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
			if c.Reason != "" {
				fmt.Fprintf(&b, "(%s)", c.Reason)
			}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		fmt.Fprintf(&b, " %s:restarts=%d", cs.Name, cs.RestartCount)
		if w := cs.State.Waiting; w != nil {
			fmt.Fprintf(&b, ",waiting=%s", w.Reason)
			if w.Message != "" {
				fmt.Fprintf(&b, "(%.120s)", w.Message)
			}
		}
		if t := cs.State.Terminated; t != nil {
			fmt.Fprintf(&b, ",terminated=%s", t.Reason)
		}
	}
	if !p.DeletionTimestamp.IsZero() {
		fmt.Fprintf(&b, " deleting since %s", time.Since(p.DeletionTimestamp.Time).Round(time.Second))
	}
	return b.String()
}

// NodeReady waits for a node's Ready condition to be True.
func NodeReady(ctx context.Context, c kubernetes.Interface, name string) (*corev1.Node, error) {
	var last *corev1.Node
	var seen lastSeen
	defer reportWhile(ctx, "node "+name, "Ready", &seen)()
	lw := nodesByName(c, name)
	ev, err := toolswatch.UntilWithSync(ctx, lw, &corev1.Node{}, nil, func(e watch.Event) (bool, error) {
		n, ok := e.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		last = n
		seen.set(DescribeNode(n))
		return NodeReadyStatus(n) == corev1.ConditionTrue, nil
	})
	if err != nil {
		return last, fmt.Errorf("node %s: want Ready, last %s: %w", name, DescribeNode(last), why(ctx, err))
	}
	return ev.Object.(*corev1.Node), nil
}

// NodeNotReady waits until the node is no longer Ready (or is deleted):
// what a step on the node watches for, to stop at once when the node goes
// away instead of waiting on a connection that no longer answers.
func NodeNotReady(ctx context.Context, c kubernetes.Interface, name string) (*corev1.Node, error) {
	var last *corev1.Node
	_, err := toolswatch.UntilWithSync(ctx, nodesByName(c, name), &corev1.Node{}, nil, func(e watch.Event) (bool, error) {
		if e.Type == watch.Deleted {
			return true, nil
		}
		n, ok := e.Object.(*corev1.Node)
		if !ok {
			return false, nil
		}
		last = n
		return NodeReadyStatus(n) != corev1.ConditionTrue, nil
	})
	if err != nil {
		return last, fmt.Errorf("node %s: want not Ready: %w", name, why(ctx, err))
	}
	return last, nil
}

// NodeReadyStatus returns the status of the node's Ready condition.
func NodeReadyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// DescribeNode is a one-line state of a node for error messages.
func DescribeNode(n *corev1.Node) string {
	if n == nil {
		return "never seen"
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return fmt.Sprintf("Ready=%s (%s) %s ago, heartbeat %s ago", c.Status, c.Reason,
				time.Since(c.LastTransitionTime.Time).Round(time.Second), time.Since(c.LastHeartbeatTime.Time).Round(time.Second))
		}
	}
	return "no Ready condition"
}

// getRetryFirst and getRetryMax space the retries of a Get that failed
// with an error that may pass (a 5xx, a timeout, a dropped connection).
const (
	getRetryFirst = 100 * time.Millisecond
	getRetryMax   = 5 * time.Second
)

// get runs a Get until it succeeds, answers NotFound or fails in a way a
// retry will not mend (forbidden, unauthorized, a bad request); other
// errors are retried until ctx ends, and the last one is returned then.
func get[T any](ctx context.Context, fn func(context.Context) (T, error)) (T, error) {
	delay := getRetryFirst
	for {
		obj, err := fn(ctx)
		if err == nil || apierrors.IsNotFound(err) || !Transient(err) {
			return obj, err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return obj, fmt.Errorf("get: %w (retried until: %w)", err, context.Cause(ctx))
		case <-t.C:
		}
		delay = min(2*delay, getRetryMax)
	}
}

// bounded gives ctx the wait's own bound d when the caller set no deadline.
func bounded(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// ServiceAccount waits until the namespace holds the named ServiceAccount.
// Pods of a new namespace are refused ("error looking up service account")
// until the controller manager has made its "default" one.
func ServiceAccount(ctx context.Context, c kubernetes.Interface, ns, name string) error {
	lw := byName(name, func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().ServiceAccounts(ns).List(ctx, o)
	}, c.CoreV1().ServiceAccounts(ns).Watch)
	_, err := toolswatch.UntilWithSync(ctx, lw, &corev1.ServiceAccount{}, nil, func(e watch.Event) (bool, error) {
		sa, ok := e.Object.(*corev1.ServiceAccount)
		return ok && sa.Name == name && e.Type != watch.Deleted, nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s: want ServiceAccount %s (made by the controller manager): %w", ns, name, why(ctx, err))
	}
	return nil
}

// ErrInterrupted marks a wait its caller cancelled (Ctrl-C), as opposed to
// one that ran out of time.
var ErrInterrupted = errors.New("interrupted")

// why turns a wait's failure into what happened: interrupted when the
// caller cancelled, out of time when the deadline passed (client-go says
// "timed out waiting for the condition" for both), or err itself.
func why(ctx context.Context, err error) error {
	switch cause := context.Cause(ctx); {
	case err == nil:
		return nil
	case errors.Is(ctx.Err(), context.Canceled) && cause != nil && !errors.Is(cause, context.Canceled):
		return cause // cancelled for a reason of the caller's (the node went down)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("%w while waiting", ErrInterrupted)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("gave up after the wait's bound: %w", context.DeadlineExceeded)
	}
	return err
}

// Outage is how long calls to the API server failed in a way a retry mends
// (a restarting API server, a control plane rebooting), and how often.
type Outage struct {
	Retries int
	Lasted  time.Duration
	Last    error
}

// Transient reports whether a failed API call may succeed if repeated soon:
// the API server was unavailable, overloaded, restarting or unreachable,
// or a write lost a race (409). The one classifier of the framework's
// retries (Retry, the gone-waits' gets, the run ledger).
func Transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var st apierrors.APIStatus
	if errors.As(err, &st) {
		code := st.Status().Code
		return code >= http.StatusInternalServerError || code == http.StatusTooManyRequests ||
			code == http.StatusConflict || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err)
	}
	var ne net.Error
	return (errors.As(err, &ne) && ne.Timeout()) || utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) ||
		utilnet.IsProbableEOF(err) || utilnet.IsHTTP2ConnectionLost(err) || errors.Is(err, syscall.EHOSTUNREACH)
}

// Retry calls f until it succeeds, fails in a way a retry will not mend, or
// ctx ends, backing off between tries (apimachinery's wait.Backoff, 200 ms
// doubling to 5 s). The Outage says what was retried: a run notes it in
// its timeline. f must be safe to repeat (a create that may have succeeded
// treats AlreadyExists as done).
func Retry(ctx context.Context, f func(context.Context) error) (Outage, error) {
	var o Outage
	start := time.Now()
	b := kwait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Steps: math.MaxInt32, Cap: 5 * time.Second}
	for {
		err := f(ctx)
		if err == nil || !Transient(err) {
			if o.Retries > 0 {
				o.Lasted = time.Since(start)
			}
			return o, err
		}
		o.Retries, o.Last = o.Retries+1, err
		t := time.NewTimer(b.Step())
		select {
		case <-ctx.Done():
			t.Stop()
			o.Lasted = time.Since(start)
			return o, fmt.Errorf("%w (the API server did not answer for %s: %w)", err, o.Lasted.Round(time.Second), why(ctx, ctx.Err()))
		case <-t.C:
		}
	}
}
