package localpv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// LabelOwned marks every object pvreboot creates; LabelRun names the run.
const (
	LabelOwned = "pvreboot.dev/owned"
	LabelRun   = "pvreboot.dev/run"
)

// NodeRunner runs a command on a node (docker exec for kind nodes): an argv,
// never shell text, with stdin (nil for none) as its standard input.
type NodeRunner interface {
	NodeExec(ctx context.Context, node string, stdin io.Reader, argv ...string) ([]byte, error)
}

// Backing kinds.
const (
	Directory  = "directory"
	Filesystem = "filesystem"
	Block      = "block"
)

// Spec of one Local PV.
type Spec struct {
	Run          string // run ID, part of every name
	Name         string // volume name from the scenario
	Node         string
	Backing      string
	FSType       string
	SizeBytes    int64
	MountOptions []string
	StorageClass string
	Namespace    string // of the PVC
	// Root is the folder on the node under which backings live; it must be
	// on a disk that survives reboots (kind: the extraMount /mnt/pvreboot).
	Root string
}

// Volume is a provisioned Local PV.
type Volume struct {
	Spec
	PVName    string
	ClaimName string
	Path      string // local.path: the mount point or directory; block: a symlink to the loop device
	Image     string // filesystem and block backings: the image file
	Unit      string // filesystem: the systemd mount unit; block: the loop service
	// KubeletLoops are the loop devices the kubelet attached over this block
	// volume's device while a pod used it (its lock against detaching). A
	// kind node killed or stopped never detaches them, and its host kernel
	// keeps them, holding the volume's own loop device: Teardown detaches them.
	KubeletLoops []LoopID
}

// LoopID identifies a loop device by its name and what it was attached to
// (the backing file's device and inode, fixed at attach time), so that a
// number reused for another file is never detached.
type LoopID struct {
	Name        string
	BackMajMin  string
	BackInode   string
	BackingFile string
}

// SetBacking sets the backing and the names that follow from it and from
// Path and PVName: the image file and the systemd unit (mount unit for a
// filesystem, loop service for a block device; none for a directory).
func (v *Volume) SetBacking(backing string) {
	v.Backing, v.Image, v.Unit = backing, "", ""
	switch backing {
	case Filesystem:
		v.Image, v.Unit = v.Path+".img", MountUnitName(v.Path)
	case Block:
		v.Image, v.Unit = v.Path+".img", LoopUnitName(v.PVName)
	}
}

// Check refuses a volume whose path, image, unit or node is not one
// pvreboot makes (ErrUnsafe): what any node command about it must check first.
func (v *Volume) Check() error { return checkVolume(v) }

// IsBlock reports whether the volume is a raw block device (volumeMode Block).
func (v *Volume) IsBlock() bool { return v.Backing == Block }

func (s Spec) id() string { return "pvreboot-" + s.Run + "-" + s.Name }

func labels(run string) map[string]string {
	return map[string]string{LabelOwned: "true", LabelRun: run}
}

// Provisioner creates and removes Local PVs.
type Provisioner struct {
	client kubernetes.Interface
	nodes  NodeRunner
	log    *slog.Logger
}

// New returns a provisioner; log nil means silent.
func New(client kubernetes.Interface, nodes NodeRunner, log *slog.Logger) *Provisioner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provisioner{client: client, nodes: nodes, log: log}
}

// ErrRollback marks a failed Create whose own removal of what it had made
// failed too: something of the volume may be left.
var ErrRollback = errors.New("clean up after failed create")

// Planned is the volume Create would make for s (names, path, image and
// unit), made of nothing: a run records it before Create.
func Planned(s Spec) *Volume {
	v := &Volume{Spec: s, PVName: s.id(), ClaimName: s.Name, Path: path.Join(s.Root, s.id())}
	v.SetBacking(s.Backing)
	return v
}

// Create makes the backing on the node, the StorageClass (if missing), the PV
// and the PVC. On error what was made is removed again.
func (p *Provisioner) Create(ctx context.Context, s Spec) (v *Volume, err error) {
	// Refused before anything is made, whatever validated the scenario.
	if err := checkSpec(s); err != nil {
		return nil, fmt.Errorf("local PV %q on node %q: %w", s.Name, s.Node, err)
	}
	v = &Volume{Spec: s, PVName: s.id(), ClaimName: s.Name, Path: path.Join(s.Root, s.id())}
	defer func() {
		if err != nil {
			if terr := p.Teardown(context.WithoutCancel(ctx), v); terr != nil {
				err = errors.Join(err, fmt.Errorf("%w: %w", ErrRollback, terr))
			}
			v = nil
		}
	}()
	if err := p.backing(ctx, v); err != nil {
		return v, fmt.Errorf("local PV %s: backing on node %s: %w", s.Name, s.Node, err)
	}
	if err := p.storageClass(ctx, s); err != nil {
		return v, err
	}
	fs := corev1.PersistentVolumeFilesystem
	if v.IsBlock() {
		fs = corev1.PersistentVolumeBlock
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: v.PVName, Labels: labels(s.Run)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(s.SizeBytes, resource.BinarySI)},
			AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              s.StorageClass,
			VolumeMode:                    &fs,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: v.Path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{s.Node}}},
			}}}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{}); err != nil {
		return v, fmt.Errorf("create PV %s: %w", v.PVName, err)
	}
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: v.ClaimName, Namespace: s.Namespace, Labels: labels(s.Run)},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(s.StorageClass),
			VolumeName:       v.PVName,
			VolumeMode:       &fs,
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: *resource.NewQuantity(s.SizeBytes, resource.BinarySI)}},
		},
	}
	if _, err := p.client.CoreV1().PersistentVolumeClaims(s.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil {
		return v, fmt.Errorf("create PVC %s/%s: %w", s.Namespace, v.ClaimName, err)
	}
	p.log.Info("local PV created", "pv", v.PVName, "node", s.Node, "backing", s.Backing, "path", v.Path)
	return v, nil
}

func (p *Provisioner) storageClass(ctx context.Context, s Spec) error {
	_, err := p.client.StorageV1().StorageClasses().Get(ctx, s.StorageClass, metav1.GetOptions{})
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get StorageClass %s: %w", s.StorageClass, err)
	}
	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: s.StorageClass, Labels: map[string]string{LabelOwned: "true"}},
		Provisioner:       "kubernetes.io/no-provisioner",
		VolumeBindingMode: &wffc,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimRetain),
	}
	if _, err := p.client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create StorageClass %s: %w", s.StorageClass, err)
	}
	return nil
}

func (p *Provisioner) run(ctx context.Context, node string, argv ...string) error {
	return p.runStdin(ctx, node, nil, argv...)
}

func (p *Provisioner) runStdin(ctx context.Context, node string, stdin io.Reader, argv ...string) error {
	out, err := p.nodes.NodeExec(ctx, node, stdin, argv...)
	p.log.Debug("node exec", "node", node, "argv", argv, "out", strings.TrimSpace(string(out)))
	return err
}

// step is one node command; a file's content goes in through stdin.
type step struct {
	argv  []string
	stdin string
}

// runSteps runs each command on the node in turn, stopping at the first error.
func (p *Provisioner) runSteps(ctx context.Context, node string, steps []step) error {
	for _, s := range steps {
		var in io.Reader
		if s.stdin != "" {
			in = strings.NewReader(s.stdin)
		}
		if err := p.runStdin(ctx, node, in, s.argv...); err != nil {
			return err
		}
	}
	return nil
}

// missingProgram reports whether a node command failed because its program
// is not on the node: env(1)'s answer through the helper pod, the runtime's
// through docker exec, or a shell's.
func missingProgram(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "executable file not found") ||
		strings.Contains(msg, "No such file or directory") && strings.Contains(msg, "exit code 127") ||
		strings.Contains(msg, "command not found")
}

// writeFile is the step that writes content to a file on the node: the
// content through stdin, the path as an argv value (kind's way).
func writeFile(dst, content string) step {
	return step{argv: []string{"cp", "/dev/stdin", dst}, stdin: content}
}

// loopNodesSpare is how many loop device nodes past the next free one a
// provisioning makes in the node's /dev (loop-nodes.sh).
const loopNodesSpare = "4"

func (p *Provisioner) backing(ctx context.Context, v *Volume) error {
	v.SetBacking(v.Backing)
	if err := checkVolume(v); err != nil {
		return err
	}
	switch v.Backing {
	case Directory:
		return p.run(ctx, v.Node, "mkdir", "-p", "--", v.Path)
	case Filesystem:
		mkfs := []string{"mkfs." + v.FSType}
		switch v.FSType {
		case "ext4":
			mkfs = append(mkfs, "-q", "-F")
		case "xfs", "btrfs":
			mkfs = append(mkfs, "-q", "-f")
		default:
			return fmt.Errorf("fsType %q: want ext4, xfs or btrfs", v.FSType)
		}
		unit, err := MountUnit(v.Image, v.Path, v.FSType, v.MountOptions)
		if err != nil {
			return err
		}
		if err := p.runSteps(ctx, v.Node, []step{
			{argv: []string{"mkdir", "-p", "--", v.Path}},
			{argv: []string{"truncate", "-s", strconv.FormatInt(v.SizeBytes, 10), "--", v.Image}},
		}); err != nil {
			return err
		}
		if err := p.run(ctx, v.Node, append(mkfs, "--", v.Image)...); err != nil {
			if missingProgram(err) {
				return fmt.Errorf("node %s has no %s (kind's standard node image carries the tools of ext4 only: use fsType ext4 there, "+
					"or the node image pvreboot builds, which has xfsprogs and btrfs-progs): %w", v.Node, mkfs[0], err)
			}
			return err
		}
		return p.runSteps(ctx, v.Node, []step{
			{argv: scriptArgv(scriptLoopNodes, loopNodesSpare)},
			writeFile("/etc/systemd/system/"+v.Unit, unit),
			{argv: []string{"systemctl", "daemon-reload"}},
			{argv: []string{"systemctl", "enable", "--now", "--", v.Unit}},
			{argv: []string{"mountpoint", "-q", "--", v.Path}},
		})
	case Block:
		unit, err := LoopUnit(v.Image, v.Path)
		if err != nil {
			return err
		}
		return p.runSteps(ctx, v.Node, []step{
			{argv: []string{"truncate", "-s", strconv.FormatInt(v.SizeBytes, 10), "--", v.Image}},
			writeFile("/etc/systemd/system/"+v.Unit, unit),
			{argv: []string{"systemctl", "daemon-reload"}},
			{argv: []string{"systemctl", "enable", "--now", "--", v.Unit}},
			{argv: []string{"test", "-b", v.Path}},
		})
	}
	return fmt.Errorf("backing %q is not supported (want directory, filesystem or block)", v.Backing)
}

// RecordKubeletLoops notes, for Teardown, the loop devices the kubelet holds
// over block volumes (backing file under .../volumeDevices/<PV name>/),
// listing each node's loop devices once.
func (p *Provisioner) RecordKubeletLoops(ctx context.Context, vols []*Volume) error {
	lists := map[string]string{}
	var errs []error
	for _, v := range vols {
		if !v.IsBlock() {
			continue
		}
		list, ok := lists[v.Node]
		if !ok {
			out, err := p.nodes.NodeExec(ctx, v.Node, nil, "losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-MAJ:MIN,BACK-INO,BACK-FILE")
			if err != nil {
				errs = append(errs, fmt.Errorf("list loop devices on %s: %w", v.Node, err))
				continue
			}
			list = string(out)
			lists[v.Node] = list
		}
		for _, l := range ParseKubeletLoops(list, v.PVName) {
			if !slices.Contains(v.KubeletLoops, l) {
				v.KubeletLoops = append(v.KubeletLoops, l)
			}
		}
	}
	return errors.Join(errs...)
}

// ParseKubeletLoops picks, from `losetup --list --raw --output
// NAME,BACK-MAJ:MIN,BACK-INO,BACK-FILE`, the loops over the PV's block
// device map path (kubelet: plugins/kubernetes.io~local-volume/volumeDevices/<pv>/<pod UID>).
func ParseKubeletLoops(list, pvName string) []LoopID {
	var out []LoopID
	marker := "/volumeDevices/" + pvName + "/"
	for _, line := range strings.Split(list, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		// losetup --raw escapes blanks as \x20: in file names, and in the
		// padding of its right-aligned BACK-MAJ:MIN column ("\x20\x200:57").
		if strings.Contains(f[3], marker) {
			out = append(out, LoopID{Name: f[0], BackMajMin: unpad(f[1]), BackInode: unpad(f[2]), BackingFile: strings.ReplaceAll(f[3], `\x20`, " ")})
		}
	}
	return out
}

func unpad(field string) string { return strings.TrimSpace(strings.ReplaceAll(field, `\x20`, " ")) }

// Teardown removes the PVC, PV, the mount unit, mount, loop device, image
// and directory. It only touches what Create made for this volume, and keeps
// going after errors, returning them all.
func (p *Provisioner) Teardown(ctx context.Context, v *Volume) error {
	if v == nil {
		return nil
	}
	return errors.Join(p.TeardownObjects(ctx, v), p.TeardownNode(ctx, v))
}

// TeardownObjects removes the volume's PVC and PV (what needs no node).
func (p *Provisioner) TeardownObjects(ctx context.Context, v *Volume) error {
	if v == nil {
		return nil
	}
	var errs []error
	if v.ClaimName != "" && v.Namespace != "" {
		if err := p.client.CoreV1().PersistentVolumeClaims(v.Namespace).Delete(ctx, v.ClaimName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete PVC %s/%s: %w", v.Namespace, v.ClaimName, err))
		}
	}
	if err := p.client.CoreV1().PersistentVolumes().Delete(ctx, v.PVName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, fmt.Errorf("delete PV %s: %w", v.PVName, err))
	}
	return errors.Join(errs...)
}

// TeardownNode removes the node side of a volume: units, mount, loop
// devices (the kubelet's first), image and directory, with the embedded
// teardown script (values as its positional parameters). It refuses any
// volume whose path is not one pvreboot makes under its root.
func (p *Provisioner) TeardownNode(ctx context.Context, v *Volume) error {
	if v == nil || v.Path == "" {
		return nil
	}
	if err := checkVolume(v); err != nil {
		return fmt.Errorf("remove %s backing of %s: %w", v.Backing, v.PVName, err)
	}
	args := []string{v.Root, v.Backing, v.Path, v.Unit}
	if v.IsBlock() {
		for _, l := range v.KubeletLoops {
			args = append(args, l.Name, l.BackMajMin, l.BackInode)
		}
	}
	if err := p.run(ctx, v.Node, scriptArgv(scriptTeardown, args...)...); err != nil {
		return fmt.Errorf("remove %s backing of %s: %w", v.Backing, v.PVName, err)
	}
	return nil
}

// ListBackings lists the names directly under root on the node (nothing
// when root does not exist), for the sweep.
func (p *Provisioner) ListBackings(ctx context.Context, node, root string) ([]byte, error) {
	if root != Root {
		return nil, unsafe("root %q: backings live under %s only", root, Root)
	}
	return p.nodes.NodeExec(ctx, node, nil, scriptArgv(scriptListBackings, root)...)
}

// DeleteStorageClassIfUnused removes a StorageClass pvreboot created once no
// PV uses it.
func (p *Provisioner) DeleteStorageClassIfUnused(ctx context.Context, name string) error {
	sc, err := p.client.StorageV1().StorageClasses().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if sc.Labels[LabelOwned] != "true" {
		return nil
	}
	pvs, err := p.client.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, pv := range pvs.Items {
		// A PV being deleted (its protection finalizer waits for the
		// controller manager, slow after a control-plane restart) does
		// not keep the class.
		if pv.Spec.StorageClassName == name && pv.DeletionTimestamp == nil {
			return nil
		}
	}
	if err := p.client.StorageV1().StorageClasses().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete StorageClass %s: %w", name, err)
	}
	return nil
}

// DisableMount keeps the unit from mounting the filesystem at the next boot:
// the "late mount" fault.
func (p *Provisioner) DisableMount(ctx context.Context, v *Volume) error {
	if v.Unit == "" {
		return fmt.Errorf("volume %s has no mount unit (backing %s)", v.Name, v.Backing)
	}
	if err := checkVolume(v); err != nil {
		return err
	}
	return p.run(ctx, v.Node, "systemctl", "disable", "--", v.Unit)
}

// MountNow mounts the filesystem at once and re-enables it at boot: the late
// mount that arrives after the kubelet restarted the pod.
func (p *Provisioner) MountNow(ctx context.Context, v *Volume) error {
	if v.Unit == "" {
		return fmt.Errorf("volume %s has no mount unit (backing %s)", v.Name, v.Backing)
	}
	if err := checkVolume(v); err != nil {
		return err
	}
	return p.run(ctx, v.Node, "systemctl", "enable", "--now", "--", v.Unit)
}

// SetBootMountOptions rewrites a filesystem volume's mount unit so that the
// next boot mounts it with extra options too (the "mount-options" fault);
// nothing is remounted now. Each option must be one the scenario allows for
// the volume's filesystem type. The volume's teardown removes the unit.
func (p *Provisioner) SetBootMountOptions(ctx context.Context, v *Volume, extra []string) error {
	if v.Backing != Filesystem {
		return fmt.Errorf("volume %s has no mount unit (backing %s)", v.Name, v.Backing)
	}
	if err := checkVolume(v); err != nil {
		return err
	}
	if len(extra) == 0 {
		return unsafe("volume %s: no mount option to add", v.Path)
	}
	opts := slices.Clone(v.MountOptions)
	for _, o := range extra {
		if !safeOption(v.FSType, o) {
			return unsafe("mount option %q: not one of the %s options pvreboot allows", o, v.FSType)
		}
		if !slices.Contains(opts, o) {
			opts = append(opts, o)
		}
	}
	unit, err := MountUnit(v.Image, v.Path, v.FSType, opts)
	if err != nil {
		return err
	}
	return p.runSteps(ctx, v.Node, []step{
		writeFile("/etc/systemd/system/"+v.Unit, unit),
		{argv: []string{"systemctl", "daemon-reload"}},
	})
}

// Device returns the major:minor of what is mounted at the volume's path
// (for a directory, of the filesystem holding it; for a block volume, of the
// device its path points at).
func (p *Provisioner) Device(ctx context.Context, v *Volume) (string, error) {
	if err := checkVolume(v); err != nil {
		return "", err
	}
	if v.IsBlock() {
		out, err := p.nodes.NodeExec(ctx, v.Node, nil, "stat", "-L", "-c", "%t:%T", "--", v.Path)
		if err != nil {
			return "", err
		}
		return hexMajorMinor(strings.TrimSpace(string(out)))
	}
	out, err := p.nodes.NodeExec(ctx, v.Node, nil, "findmnt", "-n", "-o", "MAJ:MIN", "--target", v.Path)
	if err != nil {
		return "", err
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		return "", fmt.Errorf("no device for %s on %s", v.Path, v.Node)
	}
	return lines[0], nil
}

// DirectIO turns direct I/O on for the loop devices over a filesystem or
// block volume's image (a filesystem's loop comes from its mount unit at
// every boot, without it) and returns what the kernel kept, one "loopN 1" or
// "loopN 0" per device. A directory volume has none: "".
func (p *Provisioner) DirectIO(ctx context.Context, v *Volume) (string, error) {
	if err := checkVolume(v); err != nil {
		return "", err
	}
	if v.Backing == Directory {
		return "", nil
	}
	out, err := p.nodes.NodeExec(ctx, v.Node, nil, scriptArgv(scriptLoopDirectIO, v.Image)...)
	if err != nil {
		return "", fmt.Errorf("direct I/O for the loop device of %s on node %s: %w", v.Path, v.Node, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// hexMajorMinor turns stat's "%t:%T" (hex) into decimal major:minor.
func hexMajorMinor(s string) (string, error) {
	maj, min, ok := strings.Cut(s, ":")
	a, err1 := strconv.ParseUint(maj, 16, 32)
	b, err2 := strconv.ParseUint(min, 16, 32)
	if !ok || err1 != nil || err2 != nil {
		return "", fmt.Errorf("device number %q: want hex major:minor", s)
	}
	return fmt.Sprintf("%d:%d", a, b), nil
}
