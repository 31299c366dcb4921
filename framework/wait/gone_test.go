package wait

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// getErrors makes the first len(errs) Gets of resource fail with those
// errors, in order (a nil entry lets that call through); the last error
// repeats when repeat is set. It returns the number of Gets seen.
func getErrors(c *fake.Clientset, resource string, repeat bool, errs ...error) *atomic.Int32 {
	var calls atomic.Int32
	c.PrependReactor("get", resource, func(k8stesting.Action) (bool, runtime.Object, error) {
		i := int(calls.Add(1)) - 1
		if i >= len(errs) {
			if !repeat {
				return false, nil, nil
			}
			i = len(errs) - 1
		}
		if errs[i] == nil {
			return false, nil, nil
		}
		return true, nil, errs[i]
	})
	return &calls
}

// onWatch calls fn once the waiter's watch of resource is registered, so
// that what fn changes is seen by it.
func onWatch(c *fake.Clientset, resource string, fn func()) {
	var once sync.Once
	c.PrependWatchReactor(resource, func(a k8stesting.Action) (bool, watch.Interface, error) {
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace())
		if err == nil {
			once.Do(func() { go fn() })
		}
		return true, w, err
	})
}

var (
	podsGR       = schema.GroupResource{Resource: "pods"}
	namespacesGR = schema.GroupResource{Resource: "namespaces"}
)

func TestPodGoneOnlyNotFoundIsGone(t *testing.T) {
	t.Parallel()
	pod := func(uid string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: "ns", UID: types.UID(uid)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	}
	forbidden := apierrors.NewForbidden(podsGR, "w", errors.New("rbac says no"))
	internal := apierrors.NewInternalError(errors.New("etcd leader changed"))
	tests := []struct {
		name      string
		objects   []runtime.Object
		getErrs   []error
		repeat    bool
		deleteNow bool          // delete the pod once the waiter watches
		bound     time.Duration // the caller's deadline
		wantErr   []string      // nil = gone
		wantBound bool          // the error is the bound passing
		minGets   int32
	}{
		{name: "not found is gone", getErrs: []error{apierrors.NewNotFound(podsGR, "w")}, objects: []runtime.Object{pod("u-1")}, minGets: 1},
		{name: "absent is gone", minGets: 1},
		{name: "another uid is gone", objects: []runtime.Object{pod("u-2")}, minGets: 1},
		{name: "forbidden is an error at once", objects: []runtime.Object{pod("u-1")}, getErrs: []error{forbidden}, repeat: true,
			wantErr: []string{"pod ns/w: want uid u-1 deleted", "rbac says no"}, minGets: 1},
		{name: "forbidden on an absent pod is still an error", getErrs: []error{forbidden}, repeat: true,
			wantErr: []string{"pod ns/w", "forbidden"}, minGets: 1},
		{name: "internal error until the bound is an error", getErrs: []error{internal}, repeat: true, bound: 300 * time.Millisecond,
			wantErr: []string{"pod ns/w: want uid u-1 deleted", "etcd leader changed"}, wantBound: true, minGets: 2},
		{name: "internal error then not found is gone", getErrs: []error{internal, apierrors.NewNotFound(podsGR, "w")}, objects: []runtime.Object{pod("u-1")}, minGets: 2},
		{name: "internal error then the pod, deleted later, is gone", getErrs: []error{internal, nil}, objects: []runtime.Object{pod("u-1")}, deleteNow: true, minGets: 2},
		{name: "a pod that stays is a timeout naming it", objects: []runtime.Object{pod("u-1")}, bound: 300 * time.Millisecond,
			wantErr: []string{"pod ns/w: want uid u-1 deleted, last phase=Running"}, wantBound: true, minGets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := fake.NewClientset(tt.objects...)
			calls := getErrors(c, "pods", tt.repeat, tt.getErrs...)
			if tt.deleteNow {
				onWatch(c, "pods", func() {
					if err := c.CoreV1().Pods("ns").Delete(context.Background(), "w", metav1.DeleteOptions{}); err != nil {
						t.Errorf("delete: %v", err)
					}
				})
			}
			bound := tt.bound
			if bound == 0 {
				bound = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			err := PodGone(ctx, c, "ns", "w", "u-1")
			checkGoneErr(t, err, tt.wantErr, tt.wantBound)
			if n := calls.Load(); n < tt.minGets {
				t.Errorf("%d gets, want at least %d", n, tt.minGets)
			}
		})
	}
}

func TestNamespaceGoneOnlyNotFoundIsGone(t *testing.T) {
	t.Parallel()
	terminating := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "run-1"}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	internal := apierrors.NewInternalError(errors.New("apiserver overloaded"))
	tests := []struct {
		name      string
		objects   []runtime.Object
		getErrs   []error
		repeat    bool
		deleteNow bool
		bound     time.Duration
		wantErr   []string
		wantBound bool
	}{
		{name: "not found is gone", getErrs: []error{apierrors.NewNotFound(namespacesGR, "run-1")}, objects: []runtime.Object{terminating}},
		{name: "absent is gone"},
		{name: "forbidden is an error at once", getErrs: []error{apierrors.NewForbidden(namespacesGR, "run-1", errors.New("rbac says no"))}, repeat: true,
			wantErr: []string{"namespace run-1: want deleted", "rbac says no"}},
		{name: "unauthorized is an error at once", getErrs: []error{apierrors.NewUnauthorized("token expired")}, repeat: true,
			wantErr: []string{"namespace run-1", "token expired"}},
		{name: "internal error until the bound is an error", getErrs: []error{internal}, repeat: true, bound: 300 * time.Millisecond,
			wantErr: []string{"namespace run-1: want deleted", "apiserver overloaded"}, wantBound: true},
		{name: "timeouts then deleted is gone", getErrs: []error{apierrors.NewServerTimeout(namespacesGR, "get", 1), apierrors.NewTooManyRequests("slow down", 1), nil},
			objects: []runtime.Object{terminating}, deleteNow: true},
		{name: "a namespace that stays is a timeout naming it", objects: []runtime.Object{terminating}, bound: 300 * time.Millisecond,
			wantErr: []string{"namespace run-1: want deleted, last phase Terminating"}, wantBound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := fake.NewClientset(tt.objects...)
			getErrors(c, "namespaces", tt.repeat, tt.getErrs...)
			if tt.deleteNow {
				onWatch(c, "namespaces", func() {
					if err := c.CoreV1().Namespaces().Delete(context.Background(), "run-1", metav1.DeleteOptions{}); err != nil {
						t.Errorf("delete: %v", err)
					}
				})
			}
			bound := tt.bound
			if bound == 0 {
				bound = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(t.Context(), bound)
			defer cancel()
			checkGoneErr(t, NamespaceGone(ctx, c, "run-1"), tt.wantErr, tt.wantBound)
		})
	}
}

func checkGoneErr(t *testing.T, err error, want []string, wantBound bool) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("not gone: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("gone, want an error with %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	// An error that is not about the bound came back before it passed.
	if bound := errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timed out waiting"); bound != wantBound {
		t.Errorf("error %q: bound passed = %v, want %v", err, bound, wantBound)
	}
}

func TestBoundedKeepsTheCallersDeadline(t *testing.T) {
	t.Parallel()
	ctx, cancel := bounded(t.Context(), time.Hour)
	defer cancel()
	if d, ok := ctx.Deadline(); !ok || time.Until(d) > time.Hour {
		t.Errorf("no own bound on a context without deadline: %v %v", d, ok)
	}
	parent, pcancel := context.WithTimeout(t.Context(), 3*time.Hour)
	defer pcancel()
	ctx, cancel = bounded(parent, time.Hour)
	defer cancel()
	if d, _ := ctx.Deadline(); time.Until(d) < 2*time.Hour {
		t.Errorf("the caller's deadline was shortened to %v", time.Until(d))
	}
}
