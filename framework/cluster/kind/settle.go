package kind

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/exec"
	"github.com/pvreboot/pvreboot/framework/wait"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apiwait "k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	toolswatch "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"
)

// Leases the control plane's controllers renew while they lead: a new
// namespace gets its default ServiceAccount only once the controller manager
// runs, and pods are scheduled only once the scheduler does.
var controlPlaneLeases = []string{"kube-controller-manager", "kube-scheduler"}

// Settled waits until a cluster whose node containers are running is usable:
// the API server reports ready (/readyz, which includes RBAC's bootstrap), every
// node's kubelet has posted Ready since its container started, and the
// controller manager and scheduler have renewed their leases since then.
//
// A cluster that was running when its Docker daemon (or the host) stopped has
// all its containers "running" again seconds after the daemon starts, while
// the API server still denies requests (RBAC not loaded), new namespaces get
// no ServiceAccount and Node objects still say Ready from before the stop.
func (c *Cluster) Settled(ctx context.Context) error {
	started, err := c.startTimes(ctx)
	if err != nil {
		return err
	}
	_, client, err := c.Client(ctx)
	if err != nil {
		return err
	}
	// /readyz has no watch: ask it with a capped backoff until it says ok.
	var last string
	err = apiwait.ExponentialBackoffWithContext(ctx, apiwait.Backoff{Duration: 250 * time.Millisecond, Factor: 1.5, Cap: 5 * time.Second, Steps: 1 << 30},
		func(ctx context.Context) (bool, error) {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(rctx)
			if err != nil {
				last = strings.TrimSpace(err.Error() + " " + string(body))
				return false, nil
			}
			return true, nil
		})
	if err != nil {
		return fmt.Errorf("API server of kind cluster %q not ready (last: %s): %w", c.name, last, err)
	}
	var cpStart time.Time
	for name, t := range started {
		if _, err := wait.NodeRebooted(ctx, client, name, t, "", false); err != nil {
			return fmt.Errorf("kind cluster %q: kubelet has not reported since its container started: %w", c.name, err)
		}
		if strings.HasSuffix(name, "-control-plane") && t.After(cpStart) {
			cpStart = t
		}
	}
	for _, l := range controlPlaneLeases {
		if err := leaseRenewedSince(ctx, client, l, cpStart); err != nil {
			return fmt.Errorf("kind cluster %q: %w", c.name, err)
		}
	}
	return nil
}

// startTimes returns when each node container was last started.
func (c *Cluster) startTimes(ctx context.Context) (map[string]time.Time, error) {
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]time.Time{}
	for _, n := range ns {
		started, err := c.p.inspect(ctx, n.String(), "{{.State.StartedAt}}")
		if err != nil {
			return nil, err
		}
		t, err := time.Parse(time.RFC3339Nano, started)
		if err != nil {
			return nil, fmt.Errorf("node %s: start time %q: %w", n, started, err)
		}
		out[n.String()] = t
	}
	return out, nil
}

// leaseRenewedSince watches the kube-system lease until it was renewed at or
// after since (lease times have microsecond precision).
func leaseRenewedSince(ctx context.Context, c kubernetes.Interface, name string, since time.Time) error {
	leases := c.CoordinationV1().Leases(metav1.NamespaceSystem)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return leases.List(ctx, o)
		},
		WatchFuncWithContext: leases.Watch,
	}
	var last *coordinationv1.Lease
	_, err := toolswatch.UntilWithSync(ctx, lw, &coordinationv1.Lease{}, nil, func(e watch.Event) (bool, error) {
		l, ok := e.Object.(*coordinationv1.Lease)
		if !ok || l.Name != name {
			return false, nil
		}
		last = l
		return LeaseRenewedSince(l, since), nil
	})
	if err != nil {
		seen := "never seen"
		if last != nil && last.Spec.RenewTime != nil {
			seen = fmt.Sprintf("renewed %s (holder %s)", last.Spec.RenewTime.UTC().Format(time.RFC3339), ptr.Deref(last.Spec.HolderIdentity, ""))
		}
		return fmt.Errorf("lease kube-system/%s: want renewed after %s, last %s: %w", name, since.UTC().Format(time.RFC3339), seen, err)
	}
	return nil
}

// LeaseRenewedSince reports whether l was renewed at or after since.
func LeaseRenewedSince(l *coordinationv1.Lease, since time.Time) bool {
	if l == nil || l.Spec.RenewTime == nil {
		return false
	}
	return !l.Spec.RenewTime.Time.Before(since.Truncate(time.Microsecond))
}

// ImageMismatch checks that every node container runs image (resolved to its
// ID on the engine): a cluster made from another node image is not the one the
// caller asked for. An image the engine does not have is not checked.
func (c *Cluster) ImageMismatch(ctx context.Context, image string) error {
	if image == "" {
		return nil
	}
	b, err := exec.Output(ctx, exec.Cmd{Argv: append(slices.Clone(c.p.docker), "image", "inspect", "--format", "{{.Id}}", image)})
	if err != nil {
		// Not present locally: kind pulls it by name; nothing to compare.
		return nil
	}
	want := strings.TrimSpace(string(b))
	ns, err := c.kindNodes(ctx)
	if err != nil {
		return err
	}
	var bad []error
	for _, n := range ns {
		out, err := c.p.inspect(ctx, n.String(), "{{.Image}} {{.Config.Image}}")
		if err != nil {
			return err
		}
		id, ref, _ := strings.Cut(out, " ")
		if id != want {
			bad = append(bad, fmt.Errorf("node %s runs %s (%s), want %s (%s)", n, ref, short(id), image, short(want)))
		}
	}
	return errors.Join(bad...)
}

func short(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}
