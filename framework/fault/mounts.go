package fault

import (
	"context"
	"fmt"
	"regexp"

	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// lateMount: the volume's filesystem is not mounted at the next boot, so the
// kubelet restarts the pod on the directory underneath (the node's root
// disk); it is mounted once the pod is back, too late for that pod. Per pod:
// the recreated pod binds the real disk.
type lateMount struct{}

func filesystems(vols []*localpv.Volume) []*localpv.Volume {
	var out []*localpv.Volume
	for _, v := range vols {
		if v.Backing == localpv.Filesystem {
			out = append(out, v)
		}
	}
	return out
}

func (lateMount) BeforeReboot(ctx context.Context, t Target) error {
	fs := filesystems(t.Volumes)
	if len(fs) == 0 {
		return invalid(scenario.FaultLateMount, "needs a volume with backing filesystem")
	}
	for _, v := range fs {
		t.note("fault late-mount: %s will not be mounted at boot", v.Path)
		if err := t.Mounts.DisableMount(ctx, v); err != nil {
			return fmt.Errorf("fault late-mount: %w", err)
		}
	}
	return nil
}

func (lateMount) AfterPodBack(ctx context.Context, t Target) error {
	for _, v := range filesystems(t.Volumes) {
		t.note("fault late-mount: %s mounted only now, after the kubelet restarted the pod", v.Path)
		if err := t.Mounts.MountNow(ctx, v); err != nil {
			return fmt.Errorf("fault late-mount: %w", err)
		}
	}
	return nil
}

// AfterPodGone mounts the disk again: the kubelet's unmount of the old pod's
// volume propagates (shared mounts) and takes the late mount away with it;
// on a real node the disk would be mounted by now.
func (lateMount) AfterPodGone(ctx context.Context, t Target) error {
	for _, v := range filesystems(t.Volumes) {
		if err := t.Mounts.MountNow(ctx, v); err != nil {
			return fmt.Errorf("fault late-mount: %w", err)
		}
	}
	return nil
}

// MaxMountOptions bounds the options a mount-options fault adds.
const MaxMountOptions = 8

// optionRE is the shape of one mount option (the scenario's and the node
// layer's allow-list, per filesystem, is checked on top).
var optionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:=+/-]{0,127}$`)

func checkMountOptions(opts []string) error {
	if len(opts) == 0 || len(opts) > MaxMountOptions {
		return invalid(scenario.FaultMountOptions, "%d options: want 1 to %d", len(opts), MaxMountOptions)
	}
	for _, o := range opts {
		if !optionRE.MatchString(o) {
			return invalid(scenario.FaultMountOptions, "option %q: want one option of letters, digits and _.:=+/-", o)
		}
	}
	return nil
}

// mountOptions: from the next boot on, the volume's filesystem is mounted
// with extra options (sync: every write waits for the device). Node level:
// the mount unit keeps them, so the recreated pod gets the same mount; the
// volume's teardown removes the unit.
type mountOptions struct {
	noHooks
	options []string
}

func (f mountOptions) BeforeReboot(ctx context.Context, t Target) error {
	fs := filesystems(t.Volumes)
	if len(fs) == 0 {
		return invalid(scenario.FaultMountOptions, "needs a volume with backing filesystem")
	}
	for _, v := range fs {
		for _, o := range f.options {
			// Per filesystem: what the scenario allows for its type.
			if err := scenario.CheckMountOption(v.FSType, o); err != nil {
				return invalid(scenario.FaultMountOptions, "%v", err)
			}
		}
	}
	for _, v := range fs {
		if err := t.Mounts.SetBootMountOptions(ctx, v, f.options); err != nil {
			return fmt.Errorf("fault mount-options: %w", err)
		}
		t.note("fault mount-options: %s is mounted with %q from the next boot on (node level: not undone by recreating the pod)", v.Path, f.options)
	}
	return nil
}
