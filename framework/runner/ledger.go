package runner

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
)

// openLedger opens the run's ledger and starts its heartbeat (renewed
// until Cleanup closes it).
func (r *Run) openLedger(ctx context.Context) error {
	if r.ledger != nil {
		return nil
	}
	l, err := ledger.Open(ctx, ledger.Options{Client: r.cfg.Client, Run: r.id, Cluster: r.cfg.ClusterName, Scenario: r.cfg.Scenario.Metadata.Name,
		Holder: r.cfg.Holder, StateDir: r.cfg.StateDir, Log: r.cfg.Log})
	if err != nil {
		return fmt.Errorf("open the run's ledger: %w", err)
	}
	r.mu.Lock()
	r.ledger = l
	r.mu.Unlock()
	// The heartbeat outlives an interrupt: cleanup still holds the run.
	r.stopBeat = l.Heartbeat(context.WithoutCancel(ctx), 0)
	if r.cfg.HelperNamespace != "" {
		return r.record(ctx, ledger.Item{Kind: ledger.KindHelperNamespace, Name: r.cfg.HelperNamespace})
	}
	return nil
}

// record adds items to the ledger before they are made.
func (r *Run) record(ctx context.Context, items ...ledger.Item) error {
	if r.ledger == nil {
		return nil
	}
	if err := r.ledger.Add(ctx, items...); err != nil {
		return fmt.Errorf("record in the run's ledger: %w", err)
	}
	return nil
}

// forget removes items from the ledger once they are gone; a failure to
// write only leaves them recorded (the safe side).
func (r *Run) forget(ctx context.Context, items ...ledger.Item) {
	if r.ledger == nil {
		return
	}
	if err := r.ledger.Remove(ctx, items...); err != nil {
		r.progress("warning: %v (the run's ledger still names them)", err)
	}
}

// closeLedger stops the heartbeat and closes the ledger: deleted when
// nothing is left, kept (and dead by heartbeat) otherwise.
func (r *Run) closeLedger(ctx context.Context) error {
	if r.ledger == nil {
		return nil
	}
	if r.stopBeat != nil {
		r.stopBeat()
	}
	err := r.ledger.Close(ctx)
	r.mu.Lock()
	r.ledger = nil
	r.mu.Unlock()
	return err
}

// volumeItems are a volume's ledger items: its PV, and its node side.
func volumeItems(v *localpv.Volume) []ledger.Item {
	pv := ledger.Item{Kind: ledger.KindPV, Name: v.PVName, Node: v.Node}
	backing := ledger.Item{Kind: ledger.KindBacking, Name: v.PVName, Node: v.Node, Detail: map[string]string{
		ledger.DetailBacking: v.Backing, ledger.DetailPath: v.Path, ledger.DetailRoot: v.Root}}
	if v.Image != "" {
		backing.Detail[ledger.DetailImage] = v.Image
	}
	if v.Unit != "" {
		backing.Detail[ledger.DetailUnit] = v.Unit
	}
	if len(v.KubeletLoops) > 0 {
		var loops []string
		for _, l := range v.KubeletLoops {
			loops = append(loops, l.Name+" "+l.BackMajMin+" "+l.BackInode)
		}
		backing.Detail[ledger.DetailKubeletLoops] = strings.Join(loops, ";")
	}
	return []ledger.Item{pv, backing}
}

// VolumeOfItem rebuilds what the node layer needs from a backing item of a
// ledger (for `pvreboot cleanup --run`); the node layer checks it again.
func VolumeOfItem(it ledger.Item) *localpv.Volume {
	v := &localpv.Volume{PVName: it.Name, Path: it.Detail[ledger.DetailPath]}
	v.Node, v.Root = it.Node, it.Detail[ledger.DetailRoot]
	v.SetBacking(it.Detail[ledger.DetailBacking])
	for _, l := range strings.Split(it.Detail[ledger.DetailKubeletLoops], ";") {
		if f := strings.Fields(l); len(f) == 3 {
			v.KubeletLoops = append(v.KubeletLoops, localpv.LoopID{Name: f[0], BackMajMin: f[1], BackInode: f[2]})
		}
	}
	return v
}

// faultItem is the ledger item of what a fault changed on a node.
func faultItem(c fault.Change) ledger.Item {
	d := maps.Clone(c.Detail)
	if d == nil {
		d = map[string]string{}
	}
	d[ledger.DetailFault] = c.Fault
	return ledger.Item{Kind: ledger.KindFault, Name: c.Name, Node: c.Node, Detail: d}
}

// ChangeOfItem rebuilds a fault's change from its ledger item (for
// `pvreboot cleanup --run`); fault.Undo checks it again.
func ChangeOfItem(it ledger.Item) fault.Change {
	d := maps.Clone(it.Detail)
	delete(d, ledger.DetailFault)
	return fault.Change{Fault: it.Detail[ledger.DetailFault], Node: it.Node, Name: it.Name, Detail: d}
}

// recordChange records what a fault is about to change on the node; Cleanup
// undoes it.
func (r *Run) recordChange(ctx context.Context, c fault.Change) error {
	if err := r.record(ctx, faultItem(c)); err != nil {
		return err
	}
	r.mu.Lock()
	r.changes = append(r.changes, c)
	r.mu.Unlock()
	return nil
}

// undoChanges undoes, each with its own bound, what faults changed on the
// node; what cannot be undone (the node is down, a command failed) stays in
// the ledger for `pvreboot cleanup --run`.
func (r *Run) undoChanges(ctx context.Context, nodeUp bool, leave func(string, error), removed func(string)) {
	r.mu.Lock()
	changes := slices.Clone(r.changes)
	r.mu.Unlock()
	var kept []fault.Change
	for _, c := range changes {
		it := faultItem(c)
		if !nodeUp {
			kept = append(kept, c)
			leave(it.String(), fmt.Errorf("node %s is not Ready", c.Node))
			continue
		}
		if err := bounded(ctx, cleanupVolumeTimeout, func(ctx context.Context) error { return fault.Undo(ctx, r.cfg.Nodes, c) }); err != nil {
			kept = append(kept, c)
			leave(it.String(), err)
			continue
		}
		r.forget(ctx, it)
		removed(it.String())
		r.progress("undid fault %s: %s on node %s", c.Fault, c.Name, c.Node)
	}
	r.mu.Lock()
	r.changes = kept
	r.mu.Unlock()
}

// faultItemGone undoes a dead run's fault change on its node (the sweep),
// and reports whether it is gone.
func faultItemGone(ctx context.Context, o SweepOptions, it ledger.Item) (bool, error) {
	if o.Nodes == nil || !slices.Contains(o.NodeNames, it.Node) || o.DryRun {
		return false, nil // needs the node: a sweep with it
	}
	if err := fault.Undo(ctx, o.Nodes, ChangeOfItem(it)); err != nil {
		return false, err
	}
	return true, nil
}
