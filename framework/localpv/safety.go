package localpv

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"

	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Root is the only folder on a node under which pvreboot makes backings
// (on kind: the extraMount of every node).
const Root = "/mnt/pvreboot"

// ErrUnsafe marks a volume the node layer refuses to touch: a name or path
// that is not one pvreboot makes, whatever validated it before.
var ErrUnsafe = errors.New("refused by the node layer")

var (
	runRE    = regexp.MustCompile(`^[0-9a-f]{1,8}$`)
	optionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:=+/-]{0,127}$`)
	// backingRE: pvreboot-<run>-<DNS label>.
	backingRE = regexp.MustCompile(`^pvreboot-[0-9a-f]{1,8}-[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$`)
)

// safeOption: one option of the scenario's allow-list for the filesystem.
func safeOption(fsType, o string) bool {
	return optionRE.MatchString(o) && scenario.CheckMountOption(fsType, o) == nil
}

// maxNameLen keeps the mount unit name, where each "-" of the name costs 4
// characters, within systemd's 255 (see scenario.MaxVolumeNameLen).
const maxNameLen = 53

func unsafe(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsafe, fmt.Sprintf(format, a...))
}

// checkSpec refuses a spec whose values are not what pvreboot makes, before
// anything is created.
func checkSpec(s Spec) error {
	var errs []error
	if !runRE.MatchString(s.Run) {
		errs = append(errs, unsafe("run ID %q: want 1-8 hex digits", s.Run))
	}
	if msgs := validation.IsDNS1123Label(s.Name); len(msgs) > 0 || len(s.Name) > maxNameLen {
		errs = append(errs, unsafe("volume name %q: want a DNS-1123 label of at most %d characters", s.Name, maxNameLen))
	}
	if msgs := validation.IsDNS1123Subdomain(s.Node); len(msgs) > 0 {
		errs = append(errs, unsafe("node name %q: not a DNS-1123 subdomain", s.Node))
	}
	if msgs := validation.IsDNS1123Subdomain(s.StorageClass); len(msgs) > 0 {
		errs = append(errs, unsafe("StorageClass %q: not a DNS-1123 subdomain", s.StorageClass))
	}
	if s.Namespace != "" && len(validation.IsDNS1123Label(s.Namespace)) > 0 {
		errs = append(errs, unsafe("namespace %q: not a DNS-1123 label", s.Namespace))
	}
	if !slices.Contains([]string{Directory, Filesystem, Block}, s.Backing) {
		errs = append(errs, unsafe("backing %q: want directory, filesystem or block", s.Backing))
	}
	if s.Backing == Filesystem && !slices.Contains([]string{"ext4", "xfs", "btrfs"}, s.FSType) {
		errs = append(errs, unsafe("fsType %q: want ext4, xfs or btrfs", s.FSType))
	}
	for _, o := range s.MountOptions {
		if !safeOption(s.FSType, o) {
			errs = append(errs, unsafe("mount option %q: want one option of letters, digits and _.:=+/-", o))
		}
	}
	if s.SizeBytes <= 0 || s.SizeBytes > 64<<40 {
		errs = append(errs, unsafe("size %d: want 1 byte to 64Ti", s.SizeBytes))
	}
	if s.Root != Root {
		errs = append(errs, unsafe("root %q: backings live under %s only", s.Root, Root))
	}
	return errors.Join(errs...)
}

// checkVolume refuses to touch anything on the node but what pvreboot makes
// for a volume: Path directly under Root and named pvreboot-<run>-<name>,
// the image beside it, the unit whose name follows from them.
func checkVolume(v *Volume) error {
	if v.Root != Root {
		return unsafe("root %q: backings live under %s only", v.Root, Root)
	}
	dir, base := path.Split(v.Path)
	if path.Clean(dir) != v.Root || !backingRE.MatchString(base) {
		return unsafe("path %q: not a backing pvreboot makes (%s/pvreboot-<run>-<name>)", v.Path, v.Root)
	}
	if v.PVName != base {
		// The loop unit is named after the PV: both must be the same volume's.
		return unsafe("PV %q does not own path %q", v.PVName, v.Path)
	}
	if msgs := validation.IsDNS1123Subdomain(v.Node); len(msgs) > 0 {
		return unsafe("node name %q: not a DNS-1123 subdomain", v.Node)
	}
	want := Volume{Path: v.Path, PVName: v.PVName}
	want.SetBacking(v.Backing)
	if v.Image != want.Image || v.Unit != want.Unit {
		return unsafe("volume %s: image %q and unit %q are not the ones its path gives (%q, %q)", v.Path, v.Image, v.Unit, want.Image, want.Unit)
	}
	if v.Backing == Block && !backingRE.MatchString(v.PVName) {
		return unsafe("PV name %q: not one pvreboot makes", v.PVName)
	}
	for _, l := range v.KubeletLoops {
		if !loopRE.MatchString(l.Name) || !majMinRE.MatchString(l.BackMajMin) || !inodeRE.MatchString(l.BackInode) {
			return unsafe("kubelet loop %+v: not a loop device record", l)
		}
	}
	return nil
}

var (
	loopRE   = regexp.MustCompile(`^/dev/loop[0-9]+$`)
	majMinRE = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
	inodeRE  = regexp.MustCompile(`^[0-9]+$`)
)
