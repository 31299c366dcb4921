package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/pvreboot/pvreboot/framework/drain"
	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/reboot"
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
	// StateDir holds local copies of runs' ledgers (see Config.StateDir).
	StateDir string
	// KeepNamespaces are never swept (the sweep's own node helpers).
	KeepNamespaces []string
	// Recover brings back a node a dead run left down during its reboot
	// (a kind node's container stopped and never started); nil only
	// checks that such a node is Ready again.
	Recover reboot.Recoverer
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
	// A run with a ledger is live while its heartbeat is fresh, and dead
	// once it stops, whatever its age; runs without one (older pvreboot)
	// are judged by the age of their namespace.
	records, err := ledger.List(ctx, o.Client)
	if err != nil && records == nil {
		// Without the heartbeats a live run would look dead: remove nothing.
		return nil, fmt.Errorf("list runs' ledgers (who is live): %w", err)
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("list runs' ledgers: %w", err))
	}
	beat := map[string]ledger.Record{}
	for _, rec := range records {
		beat[rec.Run] = rec
	}
	if rec, ok := beat[o.Run]; ok && rec.Live(time.Now()) {
		// Just killed, its Lease has not expired yet; or it is running.
		if rec, err = awaitDeath(ctx, o, rec); err != nil {
			return nil, err
		}
		beat[o.Run] = rec
	}
	now := time.Now()
	live := map[string]bool{} // run IDs that are running
	// What live runs hold and no label ties to them: their helper
	// namespaces and StorageClasses.
	held := map[string]bool{}
	for _, n := range o.KeepNamespaces {
		held["namespace/"+n] = true
	}
	for id, rec := range beat {
		if !rec.Live(now) {
			continue
		}
		if o.Run == "" || id != o.Run {
			live[id] = true
		}
		for _, it := range rec.Items {
			switch it.Kind {
			case ledger.KindHelperNamespace:
				held["namespace/"+it.Name] = true
			case ledger.KindStorageClass:
				held["storageclass/"+it.Name] = true
			}
		}
	}
	// A node a dead run left down first: its pods cannot go, nor its
	// volumes' node side, until it is back.
	s, rebootsTried := recoverDeadReboots(ctx, o, records, live, rebootingNodes(records, live), &errs)
	swept = append(swept, s...)
	var stale []corev1.Namespace
	why := map[string]string{}
	for _, ns := range nss.Items {
		id := ns.Labels[localpv.LabelRun]
		if ns.Name == ledger.Namespace || !o.mine(id) || held["namespace/"+ns.Name] {
			continue
		}
		if id == "" && o.Run != "" {
			continue // a helper namespace: --run removes only the run's own, from its ledger
		}
		age := time.Since(ns.CreationTimestamp.Time)
		rec, hasBeat := beat[id]
		switch {
		case o.Run != "":
			why[ns.Name] = "run " + id + " named with --run"
		case live[id]:
			continue
		case hasBeat:
			why[ns.Name] = fmt.Sprintf("run %s stopped its heartbeat %s ago", id, now.Sub(rec.Renewed).Round(time.Second))
		case age < o.OlderThan:
			if id != "" {
				live[id] = true
			}
			continue
		default:
			why[ns.Name] = fmt.Sprintf("created %s ago (older than %s), and no heartbeat", age.Round(time.Second), o.OlderThan)
		}
		stale = append(stale, ns)
	}
	// Namespaces first: their pods go, and with them the mounts on the volumes.
	var deleted []string
	for _, ns := range stale {
		swept = append(swept, Swept{What: "namespace", Name: ns.Name, Why: why[ns.Name]})
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
	// What dead runs' faults changed on the nodes is undone before their
	// volumes go: the undo acts on the volume's device (readahead), which
	// the teardown takes away. A volume whose change is not undone keeps
	// its node side for the next sweep.
	s, faultHeld := undoDeadFaults(ctx, o, records, live, &errs)
	swept = append(swept, s...)
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
		if o.Nodes == nil || !slices.Contains(o.NodeNames, v.Node) || faultHeld.has(id, v.Node, v.PVName) {
			// Without node access, or while a fault's change on it is not
			// undone, only the objects go; the backing stays for a later
			// sweep.
			v.Unit, v.Image, v.Path = "", "", ""
		}
		if err := prov.Teardown(ctx, v); err != nil {
			errs = append(errs, err)
		}
	}
	// Per node swept: the backings its listing showed that are still
	// there. A dead run's backing not among them is gone; the ledger pass
	// need not ask the node again.
	nodeLeft := map[string]map[string]bool{}
	if o.Nodes != nil {
		for _, node := range o.NodeNames {
			s, left, err := sweepNode(ctx, o, prov, node, live, faultHeld)
			swept = append(swept, s...)
			if left != nil {
				nodeLeft[node] = left
			}
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
			if used(sc.Name, pvs.Items, withPV) || held["storageclass/"+sc.Name] {
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
	swept = append(swept, finishLedgers(ctx, o, prov, records, live, nodeLeft, faultHeld, rebootsTried, &errs)...)
	return swept, errors.Join(errs...)
}

// ErrRunLive is a run named for cleanup whose heartbeat goes on.
var ErrRunLive = errors.New("run is live")

// awaitDeath waits until a run's Lease has expired (a process killed a
// moment ago) and returns its record then; a run that renews it meanwhile
// is running, and is not swept (ErrRunLive).
func awaitDeath(ctx context.Context, o SweepOptions, rec ledger.Record) (ledger.Record, error) {
	for range 2 {
		expiry := rec.Renewed.Add(time.Duration(rec.LeaseSeconds)*time.Second + time.Second)
		t := time.NewTimer(time.Until(expiry))
		select {
		case <-ctx.Done():
			t.Stop()
			return rec, ctx.Err()
		case <-t.C:
		}
		records, err := ledger.List(ctx, o.Client)
		if err != nil {
			return rec, err
		}
		for _, r := range records {
			if r.Run == rec.Run {
				rec = r
			}
		}
		if !rec.Live(time.Now()) {
			return rec, nil
		}
	}
	return rec, fmt.Errorf("%w: run %s renews its heartbeat (held by %s, renewed %s): stop it first", ErrRunLive, rec.Run, rec.Holder, rec.Renewed.UTC().Format(time.RFC3339))
}

// deadRuns are the runs whose ledgers the sweep finishes: dead ones in its
// scope, and o.Run (whose ledger may exist only in StateDir), sorted.
func deadRuns(o SweepOptions, records []ledger.Record, live map[string]bool) []string {
	runs := map[string]bool{}
	for _, rec := range records {
		if o.mine(rec.Run) && !live[rec.Run] {
			runs[rec.Run] = true
		}
	}
	if o.Run != "" {
		runs[o.Run] = true
	}
	return slices.Sorted(maps.Keys(runs))
}

// faultHolds are the volumes whose node side stays because a fault's change
// about them is not undone: the undo needs the volume's device. Keys are
// "run node pv", with "*" for every volume of the run on the node, or of
// the run anywhere.
type faultHolds map[string]bool

// hold keeps the volume a change is about (every volume of the run on the
// node when the change names none).
func (h faultHolds) hold(run string, c fault.Change) {
	v := c.Volume()
	if v == "" {
		v = "*"
	}
	h[run+" "+c.Node+" "+v] = true
}

func (h faultHolds) has(run, node, pv string) bool {
	return h[run+" "+node+" "+pv] || h[run+" "+node+" *"] || h[run+" * *"]
}

// undoDeadFaults undoes what dead runs' faults changed on the nodes and
// forgets it, and returns the volumes whose change is not undone (no node
// access, dry run, the undo failed) or not known (the ledger could not be
// read): their node side stays.
func undoDeadFaults(ctx context.Context, o SweepOptions, records []ledger.Record, live map[string]bool, errs *[]error) ([]Swept, faultHolds) {
	held := faultHolds{}
	var swept []Swept
	for _, run := range deadRuns(o, records, live) {
		l, err := ledger.Load(ctx, o.Client, o.StateDir, run)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			// finishLedgers reports it; what the run changed is unknown.
			held[run+" * *"] = true
			continue
		}
		var undone []ledger.Item
		for _, it := range l.Items() {
			if it.Kind != ledger.KindFault {
				continue
			}
			gone, err := faultItemGone(ctx, o, it)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("run %s: %s (its volume's node side stays until it is undone): %w", run, it, err))
			}
			if !gone {
				held.hold(run, ChangeOfItem(it))
				continue
			}
			undone = append(undone, it)
			swept = append(swept, Swept{What: "fault change", Name: it.Name, Node: it.Node, Why: "run " + run + " is dead: undone before its volume goes"})
		}
		if len(undone) == 0 {
			continue
		}
		if err := l.Remove(ctx, undone...); err != nil {
			*errs = append(*errs, fmt.Errorf("run %s: %w", run, err))
		}
	}
	return swept, held
}

// finishLedgers removes what dead runs' ledgers still name and the sweep
// did not (a helper namespace), forgets what is gone, and closes each
// ledger: deleted once empty, kept for the next sweep otherwise. With
// o.Run, a run whose ledger exists only in StateDir is finished too. A
// fault change or backing of a held volume stays.
func finishLedgers(ctx context.Context, o SweepOptions, prov *localpv.Provisioner, records []ledger.Record, live map[string]bool,
	nodeLeft map[string]map[string]bool, held faultHolds, rebootsTried map[string]string, errs *[]error) []Swept {
	var swept []Swept
	for _, run := range deadRuns(o, records, live) {
		l, err := ledger.Load(ctx, o.Client, o.StateDir, run)
		if errors.Is(err, ledger.ErrNotFound) {
			continue
		}
		if err != nil {
			*errs = append(*errs, fmt.Errorf("run %s: %w", run, err))
			continue
		}
		var gone []ledger.Item
		for _, it := range l.Items() {
			switch {
			case it.Kind == ledger.KindFault && held.has(run, it.Node, ChangeOfItem(it).Volume()),
				it.Kind == ledger.KindBacking && held.has(run, it.Node, it.Name):
				// Tried once above: the change and its volume wait for the
				// next sweep.
				swept = append(swept, Swept{What: "ledger item", Name: it.String(), Why: "run " + run + " still holds it (a fault's change on it is not undone)"})
				continue
			case it.Kind == ledger.KindReboot:
				// Tried once above (those back are forgotten), or left to a
				// live run.
				why := cmp.Or(rebootsTried[run+" "+it.Node], "the node is not back")
				swept = append(swept, Swept{What: "ledger item", Name: it.String(), Why: "run " + run + " still holds it (" + why + ")"})
				continue
			}
			ok, err := itemGone(ctx, o, prov, it, nodeLeft)
			if err != nil {
				*errs = append(*errs, fmt.Errorf("run %s: %s: %w", run, it, err))
				continue
			}
			if ok {
				gone = append(gone, it)
			} else {
				swept = append(swept, Swept{What: "ledger item", Name: it.String(), Why: "run " + run + " still holds it"})
			}
		}
		if o.DryRun {
			continue
		}
		if err := l.Remove(ctx, gone...); err != nil {
			*errs = append(*errs, fmt.Errorf("run %s: %w", run, err))
			continue
		}
		left := len(l.Items())
		if err := l.Close(ctx); err != nil {
			*errs = append(*errs, fmt.Errorf("run %s: close its ledger: %w", run, err))
		} else if left == 0 {
			swept = append(swept, Swept{What: "ledger", Name: ledger.LeaseName(run), Why: "run " + run + " has nothing left"})
		}
	}
	return swept
}

// itemGone removes what the label-based sweep does not (a helper
// namespace, a cordon) and reports whether the item no longer exists.
// nodeLeft says, per node the sweep listed, which backings are still there.
func itemGone(ctx context.Context, o SweepOptions, prov *localpv.Provisioner, it ledger.Item, nodeLeft map[string]map[string]bool) (bool, error) {
	switch it.Kind {
	case ledger.KindNamespace, ledger.KindHelperNamespace:
		if it.Kind == ledger.KindHelperNamespace && !o.DryRun {
			if err := o.Client.CoreV1().Namespaces().Delete(ctx, it.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				return false, err
			}
			gctx, cancel := context.WithTimeout(ctx, cleanupTimeout)
			defer cancel()
			if err := wait.NamespaceGone(gctx, o.Client, it.Name); err != nil {
				return false, err
			}
		}
		_, err := o.Client.CoreV1().Namespaces().Get(ctx, it.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	case ledger.KindPV:
		_, err := o.Client.CoreV1().PersistentVolumes().Get(ctx, it.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), ignoreNotFound(err)
	case ledger.KindStorageClass:
		// Shared by runs: the sweep above removed it if no PV uses it, and
		// one still used is another run's to keep.
		_, err := o.Client.StorageV1().StorageClasses().Get(ctx, it.Name, metav1.GetOptions{})
		return err == nil || apierrors.IsNotFound(err), ignoreNotFound(err)
	case ledger.KindCordon:
		// The dead run cordoned the node: make it schedulable again.
		if o.DryRun {
			return false, nil
		}
		err := drain.Uncordon(ctx, o.Client, it.Name)
		return err == nil || apierrors.IsNotFound(err), ignoreNotFound(err)
	case ledger.KindFault:
		return faultItemGone(ctx, o, it)
	case ledger.KindBacking:
		if o.Nodes == nil || !slices.Contains(o.NodeNames, it.Node) {
			return false, nil // needs the node: a sweep with it
		}
		if o.DryRun {
			return false, nil
		}
		if left, listed := nodeLeft[it.Node]; listed {
			return !left[it.Name], nil
		}
		// Idempotent: the teardown of what is not there succeeds.
		return true, prov.TeardownNode(ctx, VolumeOfItem(it))
	}
	return false, fmt.Errorf("unknown ledger item kind %q", it.Kind)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
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

// leftoverName is a backing's name (pvreboot-<run>-<DNS label>), with
// ".img" for its image file: what the node layer accepts, nothing else.
var leftoverName = regexp.MustCompile(`^(pvreboot-([0-9a-f]{1,8})-[a-z0-9](?:[-a-z0-9]{0,51}[a-z0-9])?)(\.img)?$`)

// NodeLeftover is one volume's files and units found on a node.
type NodeLeftover struct {
	Run, PVName         string
	Image, MountUnit    bool
	LoopUnit, Directory bool
	// ReadaheadUnit: the readahead fault's boot unit, which runs at every
	// boot until it is removed.
	ReadaheadUnit bool
}

// ParseNodeLeftovers reads `ls -1 /mnt/pvreboot` and `ls -1
// /etc/systemd/system` of a node into pvreboot's volumes found there: their
// files, their mount or loop units and the readahead fault's boot units.
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
		if rest, ok := strings.CutSuffix(u, "-readahead.service"); ok {
			if m := leftoverName.FindStringSubmatch(rest); m != nil && m[3] == "" {
				get(m[1], m[2]).ReadaheadUnit = true
			}
			continue
		}
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

// sweepNode removes the node side of dead runs' volumes found on the node
// (a readahead fault's boot unit no ledger named first, then the backing),
// and returns the backings it found that are still there (live runs', held
// ones, ones whose teardown failed, all of them when dry); nil when it
// could not list.
func sweepNode(ctx context.Context, o SweepOptions, prov *localpv.Provisioner, node string, live map[string]bool, held faultHolds) ([]Swept, map[string]bool, error) {
	files, err := prov.ListBackings(ctx, node, nodeRoot)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s on %s: %w", nodeRoot, node, err)
	}
	units, err := o.Nodes.NodeExec(ctx, node, nil, "ls", "-1", "/etc/systemd/system")
	if err != nil {
		return nil, nil, fmt.Errorf("list systemd units on %s: %w", node, err)
	}
	var swept []Swept
	var errs []error
	left := map[string]bool{}
	for _, l := range ParseNodeLeftovers(string(files), string(units)) {
		if live[l.Run] || !o.mine(l.Run) || held.has(l.Run, node, l.PVName) {
			left[l.PVName] = true
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
		if l.ReadaheadUnit {
			// Its ledger is gone (the sweep undid the ones a ledger names,
			// above): the value before the fault is not known, and only the
			// unit that would set it again at every boot is removed.
			swept = append(swept, Swept{What: "readahead unit", Name: fault.ReadaheadUnitName(l.PVName), Node: node,
				Why: "run " + l.Run + " has no live namespace and no ledger names it (the device's readahead is not restored)"})
			if !o.DryRun {
				if err := fault.RemoveReadaheadUnit(ctx, o.Nodes, node, l.PVName); err != nil {
					left[l.PVName] = true
					errs = append(errs, err)
					continue
				}
			}
		}
		swept = append(swept, Swept{What: "backing", Name: v.Path + " (" + v.Backing + ")", Node: node, Why: "run " + l.Run + " has no live namespace"})
		if o.DryRun {
			left[l.PVName] = true
			continue
		}
		// Objects are gone or swept above: only the node side is left.
		if err := prov.TeardownNode(ctx, v); err != nil {
			left[l.PVName] = true
			errs = append(errs, err)
		}
	}
	return swept, left, errors.Join(errs...)
}

// nodeBackTimeout bounds the wait for a node the sweep started again: its
// kubelet's first heartbeat.
const nodeBackTimeout = 3 * time.Minute

// recoverDeadReboots brings back the nodes dead runs left down during their
// reboots and forgets those that are back. It returns the reboots tried
// (run and node), back or not.
func recoverDeadReboots(ctx context.Context, o SweepOptions, records []ledger.Record, live map[string]bool, rebooting map[string]string,
	errs *[]error) ([]Swept, map[string]string) {
	tried := map[string]string{}
	var swept []Swept
	withReboot := map[string]bool{} // runs whose listed record names a reboot
	listed := map[string]bool{}
	for _, rec := range records {
		listed[rec.Run] = true
		withReboot[rec.Run] = slices.ContainsFunc(rec.Items, func(it ledger.Item) bool { return it.Kind == ledger.KindReboot })
	}
	for _, run := range deadRuns(o, records, live) {
		if listed[run] && !withReboot[run] {
			continue // nothing to bring back: no need to load it
		}
		l, err := ledger.Load(ctx, o.Client, o.StateDir, run)
		if err != nil {
			continue // finishLedgers reports it
		}
		var back []ledger.Item
		for _, it := range l.Items() {
			if it.Kind != ledger.KindReboot {
				continue
			}
			if other, ok := rebooting[it.Node]; ok {
				// Down, if it is, for a live run's reboot: its to bring back.
				tried[run+" "+it.Node] = "live run " + other + " is rebooting the node"
				continue
			}
			tried[run+" "+it.Node] = "the node is not back"
			if o.DryRun {
				tried[run+" "+it.Node] = "its node is to be brought back first"
			}
			said, ok, err := bringBack(ctx, o, it)
			if said != "" {
				swept = append(swept, Swept{What: "node", Name: it.Node, Why: said + ": run " + run + " died during its " + it.Detail[ledger.DetailMethod] + " reboot"})
			}
			if err != nil {
				*errs = append(*errs, fmt.Errorf("run %s died during its %s reboot of node %s: %w", run, it.Detail[ledger.DetailMethod], it.Node, err))
				continue
			}
			if ok {
				back = append(back, it)
			}
		}
		if len(back) > 0 && !o.DryRun {
			if err := l.Remove(ctx, back...); err != nil {
				*errs = append(*errs, fmt.Errorf("run %s: %w", run, err))
			}
		}
	}
	return swept, tried
}

// rebootingNodes are the nodes live runs are rebooting: node to run.
func rebootingNodes(records []ledger.Record, live map[string]bool) map[string]string {
	out := map[string]string{}
	for _, rec := range records {
		if !live[rec.Run] {
			continue
		}
		for _, it := range rec.Items {
			if it.Kind == ledger.KindReboot {
				out[it.Node] = rec.Run
			}
		}
	}
	return out
}

// bringBack starts a node a run left down during its reboot when
// o.Recover can (dry: says it would), and reports whether the node is back:
// Ready, with a heartbeat after the start when it was started here. A node
// that is gone from the cluster counts as back (nothing to wait for).
func bringBack(ctx context.Context, o SweepOptions, it ledger.Item) (said string, back bool, err error) {
	method := it.Detail[ledger.DetailMethod]
	started := time.Now()
	if o.Recover != nil && o.Recover.Recovers(method) {
		if said, err = o.Recover.Recover(ctx, it.Node, it.Detail, o.DryRun); err != nil {
			return "", false, err
		}
	}
	if said != "" && o.DryRun {
		return said, false, nil
	}
	if said != "" {
		wctx, cancel := context.WithTimeout(ctx, nodeBackTimeout)
		defer cancel()
		if _, err := wait.NodeRebooted(wctx, o.Client, it.Node, started, "", false); err != nil {
			return said, false, fmt.Errorf("started, but not back: %w", err)
		}
		return said, true, nil
	}
	n, err := o.Client.CoreV1().Nodes().Get(ctx, it.Node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "", true, nil
	case err != nil:
		return "", false, err
	case wait.NodeReadyStatus(n) != corev1.ConditionTrue:
		return "", false, fmt.Errorf("node %s is not Ready (%s): bring it back, then sweep again", it.Node, wait.DescribeNode(n))
	}
	return "", true, nil
}

// BringBackNodes starts the nodes dead runs left down during their reboots
// (their ledgers' reboot items that rc recovers) and says what it did. A
// live run holding a node that is down is waited for: until the node is up
// (its reboot went on) or its lease expires (a process killed a moment
// ago), within ctx. The items stay for the sweep, which forgets them once
// their nodes are Ready.
func BringBackNodes(ctx context.Context, c kubernetes.Interface, rc reboot.Recoverer) ([]string, error) {
	records, err := ledger.List(ctx, c)
	if err != nil && records == nil {
		return nil, fmt.Errorf("list runs' ledgers: %w", err)
	}
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("list runs' ledgers: %w", err))
	}
	var said []string
	now := time.Now()
	live := map[string]bool{}
	for _, rec := range records {
		live[rec.Run] = rec.Live(now)
	}
	rebooting := rebootingNodes(records, live)
	for _, rec := range records {
		if len(recoverable(rec, rc)) == 0 {
			continue
		}
		if live[rec.Run] {
			dead, err := awaitNodesOrDeath(ctx, c, rc, rec)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if dead == nil {
				continue
			}
			rec = *dead
		}
		for _, it := range recoverable(rec, rc) {
			if other, ok := rebooting[it.Node]; ok && other != rec.Run {
				continue // down, if it is, for a live run's reboot
			}
			s, err := rc.Recover(ctx, it.Node, it.Detail, false)
			if err != nil {
				errs = append(errs, fmt.Errorf("run %s died during its %s reboot of node %s: %w", rec.Run, it.Detail[ledger.DetailMethod], it.Node, err))
				continue
			}
			if s != "" {
				said = append(said, fmt.Sprintf("node %s: %s (run %s died during its %s reboot)", it.Node, s, rec.Run, it.Detail[ledger.DetailMethod]))
			}
		}
	}
	return said, errors.Join(errs...)
}

// ErrRebootInProgress is a node down for a live run's reboot.
var ErrRebootInProgress = errors.New("a reboot is in progress")

// awaitPoll is how often awaitNodesOrDeath looks again.
const awaitPoll = 2 * time.Second

// awaitNodesOrDeath waits while live run rec holds a node that is down:
// it returns nil once none is (the run's reboot went on, or its ledger
// closed), and the run's record once its lease expired with a node still
// down.
func awaitNodesOrDeath(ctx context.Context, c kubernetes.Interface, rc reboot.Recoverer, rec ledger.Record) (*ledger.Record, error) {
	t := time.NewTicker(awaitPoll)
	defer t.Stop()
	for {
		var down []string
		for _, it := range recoverable(rec, rc) {
			if s, err := rc.Recover(ctx, it.Node, it.Detail, true); err == nil && s != "" {
				down = append(down, it.Node)
			}
		}
		if len(down) == 0 {
			return nil, nil
		}
		// The ledgers are read again only once the lease known here has
		// expired: a heartbeat may have renewed it meanwhile.
		if !rec.Live(time.Now()) {
			records, err := ledger.List(ctx, c)
			if err == nil {
				i := slices.IndexFunc(records, func(r ledger.Record) bool { return r.Run == rec.Run })
				if i < 0 {
					return nil, nil // closed: its node is the run's no longer
				}
				if rec = records[i]; !rec.Live(time.Now()) {
					return &rec, nil
				}
			}
			// Unreadable (the API server may be restarting): live as far
			// as is known.
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: node %s is down and live run %s (held by %s) holds it in its reboot: %w", ErrRebootInProgress, strings.Join(down, ", "), rec.Run, rec.Holder, ctx.Err())
		case <-t.C:
		}
	}
}

// recoverable are the reboot items of rec that rc can bring back.
func recoverable(rec ledger.Record, rc reboot.Recoverer) []ledger.Item {
	var out []ledger.Item
	for _, it := range rec.Items {
		if it.Kind == ledger.KindReboot && rc.Recovers(it.Detail[ledger.DetailMethod]) {
			out = append(out, it)
		}
	}
	return out
}
