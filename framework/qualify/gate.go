package qualify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/pvreboot/pvreboot/framework/scenario"
)

// informerSyncTimeout bounds the first list of the nodes.
const informerSyncTimeout = time.Minute

// Nodes watches the pool's nodes through one shared informer (one list and
// one watch for the whole qualification, however many cases) and admits
// reboots so that at most max nodes of the pool are down at once: those
// being rebooted plus those NotReady for any other reason.
type Nodes struct {
	pool   []string
	max    int
	lister corelisters.NodeLister
	stop   context.CancelFunc

	mu      sync.Mutex
	held    map[string]bool
	changed chan struct{} // closed and replaced on every change
}

// WatchNodes starts the informer and waits for its first list.
func WatchNodes(ctx context.Context, client kubernetes.Interface, pool []string, maxUnavailable int) (*Nodes, error) {
	ictx, stop := context.WithCancel(context.WithoutCancel(ctx))
	f := informers.NewSharedInformerFactory(client, 0)
	inf := f.Core().V1().Nodes()
	n := &Nodes{pool: slices.Clone(pool), max: maxUnavailable, lister: inf.Lister(), stop: stop, held: map[string]bool{}, changed: make(chan struct{})}
	notify := func(any) { n.notify() }
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: notify, DeleteFunc: notify,
		UpdateFunc: func(any, any) { n.notify() }}); err != nil {
		stop()
		return nil, fmt.Errorf("watch nodes: %w", err)
	}
	f.Start(ictx.Done())
	sctx, cancel := context.WithTimeout(ctx, informerSyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.Informer().HasSynced) {
		stop()
		return nil, fmt.Errorf("watch nodes: no first list within %s", informerSyncTimeout)
	}
	return n, nil
}

// Stop ends the watch.
func (n *Nodes) Stop() { n.stop() }

func (n *Nodes) notify() {
	n.mu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.mu.Unlock()
}

// Changed returns a channel closed at the next change of a node or a hold.
func (n *Nodes) Changed() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.changed
}

// Ready reports whether the node is Ready as last seen.
func (n *Nodes) Ready(name string) bool {
	node, err := n.lister.Get(name)
	return err == nil && nodeReady(node)
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// down is every node of the pool that is unavailable: held for a reboot,
// or not Ready. Called with mu held.
func (n *Nodes) down() map[string]bool {
	out := map[string]bool{}
	for name := range n.held {
		out[name] = true
	}
	for _, name := range n.pool {
		if !n.Ready(name) {
			out[name] = true
		}
	}
	return out
}

// Acquire admits a reboot of node once it keeps the pool within
// maxUnavailable nodes down, and returns its release.
func (n *Nodes) Acquire(ctx context.Context, node string) (func(), error) {
	for {
		n.mu.Lock()
		down := n.down()
		down[node] = true
		if len(down) <= n.max {
			n.held[node] = true
			n.mu.Unlock()
			var once sync.Once
			return func() {
				once.Do(func() {
					n.mu.Lock()
					delete(n.held, node)
					n.mu.Unlock()
					n.notify()
				})
			}, nil
		}
		ch := n.changed
		n.mu.Unlock()
		select {
		case <-ctx.Done():
			delete(down, node)
			return nil, fmt.Errorf("wait for at most %d node(s) down to reboot %s (down: %s): %w", n.max, node, strings.Join(sortedKeys(down), ", "), context.Cause(ctx))
		case <-ch:
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ResolveNodes turns a node selection into the pool's node names: named
// nodes must exist; a selector takes every node it matches. Sorted.
func ResolveNodes(ctx context.Context, client kubernetes.Interface, sel scenario.NodeSelection) ([]string, error) {
	if len(sel.Names) > 0 {
		for _, name := range sel.Names {
			if _, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
				return nil, fmt.Errorf("node %s of the pool: %w", name, err)
			}
		}
		out := slices.Clone(sel.Names)
		sort.Strings(out)
		return out, nil
	}
	if sel.Selector == nil {
		return nil, fmt.Errorf("no node pool: name nodes or give a selector")
	}
	s := labels.SelectorFromSet(sel.Selector.MatchLabels)
	list, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, fmt.Errorf("list nodes %s: %w", s, err)
	}
	var out []string
	for _, node := range list.Items {
		out = append(out, node.Name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no node matches %s", s)
	}
	sort.Strings(out)
	return out, nil
}
