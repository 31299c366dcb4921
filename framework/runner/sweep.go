package runner

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/wait"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodeRoot is where backings live on every node (kind: the extraMount).
const nodeRoot = "/mnt/pvreboot"

// SweepOptions say where to look for what runs that died left behind.
type SweepOptions struct {
	Client kubernetes.Interface
	// Nodes runs commands on the nodes in NodeNames; nil sweeps only the
	// cluster's objects.
	Nodes     Nodes
	NodeNames []string
	// OlderThan: a run namespace older than this is a dead run's (a run
	// takes minutes); younger ones may belong to a run in progress.
	OlderThan time.Duration
	// Run, when set, limits the sweep to that run's namespaces, PVs and
	// node backings, and counts the run as dead whatever its age.
	Run    string
	DryRun bool
}

// mine reports whether a run's leftovers are in the sweep's scope.
func (o SweepOptions) mine(run string) bool { return o.Run == "" || run == o.Run }

// Swept is one thing removed (or, dry, to be removed).
type Swept struct {
	What string // namespace, PV, StorageClass, backing
	Name string
	Node string
	Why  string
}

func (s Swept) String() string {
	if s.Node != "" {
		return fmt.Sprintf("%s %s on %s: %s", s.What, s.Name, s.Node, s.Why)
	}
	return fmt.Sprintf("%s %s: %s", s.What, s.Name, s.Why)
}

// Sweep removes what runs that died (killed, node lost, cleanup failed) left:
// their namespaces once older than OlderThan, PVs of runs whose namespace is
// gone, node-side backings (mount and loop units, loop devices, image files,
// directories) of runs with neither namespace nor PV, and pvreboot's
// StorageClasses no PV uses. A run in progress always has its namespace, so
// it is never touched. Only objects labelled pvreboot.dev/owned and node
// files named pvreboot-<run>-* under /mnt/pvreboot are considered.
func Sweep(ctx context.Context, o SweepOptions) ([]Swept, error) {
	owned := metav1.ListOptions{LabelSelector: localpv.LabelOwned + "=true"}
	nss, err := o.Client.CoreV1().Namespaces().List(ctx, owned)
	if err != nil {
		return nil, fmt.Errorf("list namespaces: %w", err)
	}
	var swept []Swept
	var errs []error
	live := map[string]bool{} // run IDs with a namespace young enough to be running
	var stale []corev1.Namespace
	for _, ns := range nss.Items {
		if !o.mine(ns.Labels[localpv.LabelRun]) {
			continue
		}
		age := time.Since(ns.CreationTimestamp.Time)
		if age < o.OlderThan && o.Run == "" {
			if id := ns.Labels[localpv.LabelRun]; id != "" {
				live[id] = true
			}
			continue
		}
		stale = append(stale, ns)
	}
	// Namespaces first: their pods go, and with them the mounts on the volumes.
	var deleted []string
	for _, ns := range stale {
		swept = append(swept, Swept{What: "namespace", Name: ns.Name, Why: fmt.Sprintf("created %s ago (older than %s)", time.Since(ns.CreationTimestamp.Time).Round(time.Second), o.OlderThan)})
		if o.DryRun {
			continue
		}
		if err := o.Client.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete namespace %s: %w", ns.Name, err))
			continue
		}
		deleted = append(deleted, ns.Name)
	}
	// All terminate at once; then wait for each, in one shared bound.
	gctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
	for _, name := range deleted {
		if err := wait.NamespaceGone(gctx, o.Client, name); err != nil {
			errs = append(errs, err)
		}
	}
	cancel()
	prov := localpv.New(o.Client, o.Nodes, nil)
	pvs, err := o.Client.CoreV1().PersistentVolumes().List(ctx, owned)
	if err != nil {
		return nil, fmt.Errorf("list PVs: %w", err)
	}
	withPV := map[string]bool{}
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		id := pv.Labels[localpv.LabelRun]
		if !o.mine(id) {
			continue
		}
		if live[id] {
			withPV[id] = true
			continue
		}
		v := volumeOfPV(pv)
		swept = append(swept, Swept{What: "PV", Name: pv.Name, Node: v.Node, Why: "its run " + id + " has no live namespace"})
		if o.DryRun {
			continue
		}
		if o.Nodes == nil || !slices.Contains(o.NodeNames, v.Node) {
			// Without node access only the objects go; the backing stays
			// for a sweep with the node.
			v.Unit, v.Image, v.Path = "", "", ""
		}
		if err := prov.Teardown(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Nodes != nil {
		for _, node := range o.NodeNames {
			s, err := sweepNode(ctx, o, prov, node, live)
			swept = append(swept, s...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	scs, err := o.Client.StorageV1().StorageClasses().List(ctx, owned)
	if err != nil {
		errs = append(errs, fmt.Errorf("list StorageClasses: %w", err))
	} else {
		for _, sc := range scs.Items {
			if used(sc.Name, pvs.Items, withPV) {
				continue
			}
			swept = append(swept, Swept{What: "StorageClass", Name: sc.Name, Why: "no PV uses it"})
			if !o.DryRun {
				if err := prov.DeleteStorageClassIfUnused(ctx, sc.Name); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return swept, errors.Join(errs...)
}

// used reports whether a PV that stays (a live run's) uses the StorageClass.
func used(sc string, pvs []corev1.PersistentVolume, live map[string]bool) bool {
	for _, pv := range pvs {
		if pv.Spec.StorageClassName == sc && live[pv.Labels[localpv.LabelRun]] {
			return true
		}
	}
	return false
}

// volumeOfPV rebuilds what Teardown needs from a PV pvreboot created.
func volumeOfPV(pv *corev1.PersistentVolume) *localpv.Volume {
	v := &localpv.Volume{PVName: pv.Name}
	v.Run = pv.Labels[localpv.LabelRun]
	v.Root = nodeRoot
	if ref := pv.Spec.ClaimRef; ref != nil {
		v.Namespace, v.ClaimName = ref.Namespace, ref.Name
	}
	if na := pv.Spec.NodeAffinity; na != nil && na.Required != nil {
		for _, t := range na.Required.NodeSelectorTerms {
			for _, e := range t.MatchExpressions {
				if e.Key == "kubernetes.io/hostname" && len(e.Values) > 0 {
					v.Node = e.Values[0]
				}
			}
		}
	}
	if pv.Spec.Local != nil {
		v.Path = pv.Spec.Local.Path
	}
	if pv.Spec.VolumeMode != nil && *pv.Spec.VolumeMode == corev1.PersistentVolumeBlock {
		v.SetBacking(localpv.Block)
	} else {
		// The PV does not tell a directory from a filesystem backing; the
		// filesystem teardown also removes a directory (no unit, no image).
		v.SetBacking(localpv.Filesystem)
	}
	return v
}

var leftoverName = regexp.MustCompile(`^(pvreboot-([0-9a-f]{1,8})-[a-z0-9][-a-z0-9.]*?)(\.img)?$`)

// NodeLeftover is one volume's files and units found on a node.
type NodeLeftover struct {
	Run, PVName         string
	Image, MountUnit    bool
	LoopUnit, Directory bool
}

// ParseNodeLeftovers reads `ls -1 /mnt/pvreboot` and `ls -1
// /etc/systemd/system` of a node into pvreboot's volumes found there.
func ParseNodeLeftovers(files, units string) []NodeLeftover {
	by := map[string]*NodeLeftover{}
	get := func(pv, run string) *NodeLeftover {
		if by[pv] == nil {
			by[pv] = &NodeLeftover{Run: run, PVName: pv}
		}
		return by[pv]
	}
	for _, f := range strings.Fields(files) {
		m := leftoverName.FindStringSubmatch(f)
		if m == nil {
			continue
		}
		l := get(m[1], m[2])
		if m[3] != "" {
			l.Image = true
		} else {
			l.Directory = true
		}
	}
	for _, u := range strings.Fields(units) {
		if rest, ok := strings.CutSuffix(u, "-loop.service"); ok {
			if m := leftoverName.FindStringSubmatch(rest); m != nil && m[3] == "" {
				get(m[1], m[2]).LoopUnit = true
			}
			continue
		}
		if rest, ok := strings.CutPrefix(u, `mnt-pvreboot-`); ok && strings.HasSuffix(rest, ".mount") {
			name := strings.ReplaceAll(strings.TrimSuffix(rest, ".mount"), `\x2d`, "-")
			if m := leftoverName.FindStringSubmatch(name); m != nil && m[3] == "" {
				get(m[1], m[2]).MountUnit = true
			}
		}
	}
	out := make([]NodeLeftover, 0, len(by))
	for _, l := range by {
		out = append(out, *l)
	}
	slices.SortFunc(out, func(a, b NodeLeftover) int { return strings.Compare(a.PVName, b.PVName) })
	return out
}

func sweepNode(ctx context.Context, o SweepOptions, prov *localpv.Provisioner, node string, live map[string]bool) ([]Swept, error) {
	files, err := prov.ListBackings(ctx, node, nodeRoot)
	if err != nil {
		return nil, fmt.Errorf("list %s on %s: %w", nodeRoot, node, err)
	}
	units, err := o.Nodes.NodeExec(ctx, node, nil, "ls", "-1", "/etc/systemd/system")
	if err != nil {
		return nil, fmt.Errorf("list systemd units on %s: %w", node, err)
	}
	var swept []Swept
	var errs []error
	for _, l := range ParseNodeLeftovers(string(files), string(units)) {
		if live[l.Run] || !o.mine(l.Run) {
			continue
		}
		v := &localpv.Volume{PVName: l.PVName, Path: nodeRoot + "/" + l.PVName}
		v.Run, v.Node, v.Root = l.Run, node, nodeRoot
		switch {
		case l.LoopUnit:
			v.SetBacking(localpv.Block)
		case l.Image || l.MountUnit:
			v.SetBacking(localpv.Filesystem)
		default:
			v.SetBacking(localpv.Directory)
		}
		swept = append(swept, Swept{What: "backing", Name: v.Path + " (" + v.Backing + ")", Node: node, Why: "run " + l.Run + " has no live namespace"})
		if o.DryRun {
			continue
		}
		// Objects are gone or swept above: only the node side is left.
		if err := prov.TeardownNode(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	return swept, errors.Join(errs...)
}
