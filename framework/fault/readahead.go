package fault

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

func checkReadAheadKB(kb int) error {
	if kb < 0 || kb > scenario.MaxFaultReadAheadKB {
		return invalid(scenario.FaultReadahead, "readAheadKB %d: want 0 to %d", kb, scenario.MaxFaultReadAheadKB)
	}
	return nil
}

// readahead: from the next boot on, a oneshot unit ordered after the
// volume's mount unit (or loop service) sets read_ahead_kb of the volume's
// block device: sequential reads then go to the device in small requests
// (0: one page at a time). Node level: the device keeps it whatever pod uses
// it. Recorded as a Change before it is made; Undo removes the unit and
// gives the device back the value it had.
type readahead struct {
	noHooks
	kb int
}

// ReadaheadUnitName is the boot unit of the readahead fault for a volume.
func ReadaheadUnitName(pvName string) string { return pvName + "-readahead.service" }

var (
	readaheadUnitRE = regexp.MustCompile(`^pvreboot-[0-9a-f]{1,8}-[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?-readahead\.service$`)
	kbRE            = regexp.MustCompile(`^[0-9]{1,9}$`)
)

// withDevice returns the volumes that have a block device of their own.
func withDevice(vols []*localpv.Volume) []*localpv.Volume {
	var out []*localpv.Volume
	for _, v := range vols {
		if v.Backing == localpv.Filesystem || v.Backing == localpv.Block {
			out = append(out, v)
		}
	}
	return out
}

func (f readahead) BeforeReboot(ctx context.Context, t Target) error {
	vols := withDevice(t.Volumes)
	if len(vols) == 0 {
		return invalid(scenario.FaultReadahead, "needs a volume with backing filesystem or block (a device of its own)")
	}
	// Every volume is checked before anything runs on the node.
	for _, v := range vols {
		if err := v.Check(); err != nil {
			return fmt.Errorf("fault readahead: %w", err)
		}
	}
	kb := strconv.Itoa(f.kb)
	for _, v := range vols {
		out, err := t.Nodes.NodeExec(ctx, v.Node, nil, scriptArgv(scriptReadahead, "get", v.Path, v.Backing)...)
		if err != nil {
			return fmt.Errorf("fault readahead: read_ahead_kb of %s on node %s: %w", v.Path, v.Node, err)
		}
		fields := strings.Fields(string(out))
		if len(fields) != 2 || !majMinRE.MatchString(fields[0]) || !kbRE.MatchString(fields[1]) {
			return fmt.Errorf("fault readahead: read_ahead_kb of %s on node %s: unexpected output %q", v.Path, v.Node, out)
		}
		dev, was := fields[0], fields[1]
		unit := ReadaheadUnitName(v.PVName)
		text, err := localpv.BootStepUnit(v, "pvreboot fault readahead: read_ahead_kb "+kb+" on the device of "+v.Path,
			append([]string{"/bin/sh", "-ec"}, scriptArgv(scriptReadahead, "set", v.Path, v.Backing, kb)[2:]...))
		if err != nil {
			return fmt.Errorf("fault readahead: %w", err)
		}
		c := Change{Fault: scenario.FaultReadahead, Node: v.Node, Name: strings.TrimSuffix(unit, ".service"), Detail: map[string]string{
			DetailUnit: unit, DetailPath: v.Path, DetailRoot: v.Root, DetailBacking: v.Backing, DetailReadAheadKB: was}}
		if err := t.record(ctx, c); err != nil {
			return fmt.Errorf("fault readahead: %w", err)
		}
		steps := []struct {
			argv  []string
			stdin string
		}{
			{argv: []string{"cp", "/dev/stdin", "/etc/systemd/system/" + unit}, stdin: text},
			{argv: []string{"systemctl", "daemon-reload"}},
			{argv: []string{"systemctl", "enable", "--", unit}},
		}
		for _, s := range steps {
			var in io.Reader
			if s.stdin != "" {
				in = strings.NewReader(s.stdin)
			}
			if _, err := t.Nodes.NodeExec(ctx, v.Node, in, s.argv...); err != nil {
				return fmt.Errorf("fault readahead: %s on node %s: %w", unit, v.Node, err)
			}
		}
		t.note("fault readahead: read_ahead_kb of the device of %s (%s, now %s) set to %s at every boot from the next on, by %s (node level: not undone by recreating the pod)",
			v.Path, dev, was, kb, unit)
	}
	return nil
}

// undoReadahead removes the fault's boot unit and gives the volume's device
// the read_ahead_kb recorded before the fault, checking every value first
// (the script names the unit from the path: the two are checked to agree
// here). It fails while the backing is there without its device: the
// caller keeps the backing (and the change) until an undo succeeds; a
// backing already gone has nothing to restore.
func undoReadahead(ctx context.Context, nodes NodeRunner, c Change) error {
	d := c.Detail
	unit, kb := d[DetailUnit], d[DetailReadAheadKB]
	v := &localpv.Volume{PVName: strings.TrimSuffix(unit, "-readahead.service"), Path: d[DetailPath]}
	v.Node, v.Root = c.Node, d[DetailRoot]
	v.SetBacking(d[DetailBacking])
	switch {
	case !readaheadUnitRE.MatchString(unit) || c.Name+".service" != unit:
		return invalid(scenario.FaultReadahead, "undo: unit %q (change %q) is not the fault's", unit, c.Name)
	case !kbRE.MatchString(kb):
		return invalid(scenario.FaultReadahead, "undo: readAheadKB %q: want a number", kb)
	case v.Backing != localpv.Filesystem && v.Backing != localpv.Block:
		return invalid(scenario.FaultReadahead, "undo: backing %q: want filesystem or block", v.Backing)
	}
	if err := v.Check(); err != nil {
		return fmt.Errorf("fault readahead: undo: %w", err)
	}
	if _, err := nodes.NodeExec(ctx, c.Node, nil, scriptArgv(scriptReadahead, "undo", v.Path, v.Backing, kb)...); err != nil {
		return fmt.Errorf("fault readahead: undo %s on node %s: %w", unit, c.Node, err)
	}
	return nil
}

// RemoveReadaheadUnit removes the readahead fault's boot unit of a volume
// and its links from a node, restoring nothing: for a unit no ledger names
// any more (the sweep), whose value before the fault is not known. The
// volume's name is checked first; removing what is not there succeeds.
func RemoveReadaheadUnit(ctx context.Context, nodes NodeRunner, node, pvName string) error {
	unit := ReadaheadUnitName(pvName)
	if !readaheadUnitRE.MatchString(unit) {
		return invalid(scenario.FaultReadahead, "remove unit: volume %q is not pvreboot's", pvName)
	}
	if _, err := nodes.NodeExec(ctx, node, nil, scriptArgv(scriptReadahead, "remove-unit", localpv.Root+"/"+pvName)...); err != nil {
		return fmt.Errorf("fault readahead: remove %s on node %s: %w", unit, node, err)
	}
	return nil
}
