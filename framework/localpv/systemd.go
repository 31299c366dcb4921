package localpv

import (
	"fmt"
	"path"
	"strings"
)

// MountUnitName is systemd's unit name for a mount point (systemd-escape
// --path --suffix=mount).
func MountUnitName(mountPoint string) string {
	p := strings.Trim(path.Clean(mountPoint), "/")
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.' && i > 0, c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String() + ".mount"
}

// LoopUnitName is the systemd service that attaches a block volume's loop device.
func LoopUnitName(id string) string { return id + "-loop.service" }

// unitValue renders a value for a unit file setting that systemd reads
// verbatim apart from specifiers (What=, Where=, Options=, Description=):
// "%" is doubled; what a unit file cannot hold (a line break or another
// control character, blanks at either end) is refused.
func unitValue(v string) (string, error) {
	if v == "" || strings.TrimSpace(v) != v {
		return "", fmt.Errorf("unit file value %q: empty or with blanks at an end", v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("unit file value %q: control character %q cannot be written in a unit file", v, r)
		}
		if r == '\\' {
			// A trailing one continues the line; none is needed in a path.
			return "", fmt.Errorf("unit file value %q: a backslash is refused", v)
		}
	}
	return strings.ReplaceAll(v, "%", "%%"), nil
}

// execArg renders one argument of ExecStart=/ExecStop= as systemd's quoting
// reads it back: double quotes, C escapes for "\\", `"` and line breaks,
// "$$" for "$" (no variable expansion) and "%%" for "%" (no specifiers).
// Other control characters are refused.
func execArg(v string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '$':
			b.WriteString("$$")
		case '%':
			b.WriteString("%%")
		default:
			if r < 0x20 || r == 0x7f {
				return "", fmt.Errorf("command argument %q: control character %q cannot be written in a unit file", v, r)
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

func execLine(argv ...string) (string, error) {
	out := make([]string, len(argv))
	for i, a := range argv {
		q, err := execArg(a)
		if err != nil {
			return "", err
		}
		out[i] = q
	}
	return strings.Join(out, " "), nil
}

// MountUnit renders the systemd mount unit that mounts the image at boot,
// before containerd and the kubelet start, like a disk in /etc/fstab.
func MountUnit(image, mountPoint, fsType string, options []string) (string, error) {
	opts := []string{"loop"}
	for _, o := range options {
		if !safeOption(fsType, o) {
			return "", fmt.Errorf("mount option %q: want one option of letters, digits and _.:=+/-", o)
		}
		opts = append(opts, o)
	}
	what, err := unitValue(image)
	if err != nil {
		return "", err
	}
	where, err := unitValue(mountPoint)
	if err != nil {
		return "", err
	}
	typ, err := unitValue(fsType)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`# Created by pvreboot: a Local PV backing mounted at boot, before the kubelet.
[Unit]
Description=pvreboot Local PV %[2]s
DefaultDependencies=no
Before=containerd.service kubelet.service
After=systemd-remount-fs.service

[Mount]
What=%[1]s
Where=%[2]s
Type=%[3]s
Options=%[4]s

[Install]
WantedBy=multi-user.target
RequiredBy=kubelet.service
`, what, where, typ, strings.Join(opts, ",")), nil
}

// LoopUnit renders the systemd service that attaches the image to a loop
// device at boot, before containerd and the kubelet start, and points the
// PV's path at it (scripts/loop-attach.sh); stopping it detaches the device
// (scripts/loop-detach.sh). The scripts and the values reach sh as separate,
// quoted arguments.
func LoopUnit(image, devPath string) (string, error) {
	desc, err := unitValue(devPath)
	if err != nil {
		return "", err
	}
	start, err := execLine(append([]string{"/bin/sh", "-ec"}, scriptArgv(scriptLoopAttach, image, devPath)[2:]...)...)
	if err != nil {
		return "", err
	}
	stop, err := execLine(append([]string{"/bin/sh", "-c"}, scriptArgv(scriptLoopDetach, image, devPath)[2:]...)...)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`# Created by pvreboot: a Local PV block device attached at boot, before the kubelet.
[Unit]
Description=pvreboot Local PV %[1]s (loop device)
DefaultDependencies=no
Before=containerd.service kubelet.service
After=systemd-remount-fs.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%[2]s
ExecStop=%[3]s

[Install]
WantedBy=multi-user.target
RequiredBy=kubelet.service
`, desc, start, stop), nil
}

// BootStepUnit renders a oneshot service that runs argv at every boot once
// the volume's unit (mount unit or loop service) has run and before
// containerd and the kubelet start: a node-side step on the volume's device
// that a boot does (the readahead fault). It does not pull the volume's unit
// in: a boot that does not mount the volume runs the step on nothing, and
// the step says so. argv is rendered with systemd's quoting, each element
// one argument.
func BootStepUnit(v *Volume, description string, argv []string) (string, error) {
	if err := checkVolume(v); err != nil {
		return "", err
	}
	if v.Unit == "" {
		return "", fmt.Errorf("volume %s has no unit to follow (backing %s)", v.Path, v.Backing)
	}
	desc, err := unitValue(description)
	if err != nil {
		return "", err
	}
	if len(argv) == 0 {
		return "", fmt.Errorf("boot step of %s: no command", v.Path)
	}
	start, err := execLine(argv...)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`# Created by pvreboot: a step on a Local PV's device at every boot, after its unit.
[Unit]
Description=%[1]s
DefaultDependencies=no
After=%[2]s systemd-remount-fs.service
Before=containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=%[3]s

[Install]
WantedBy=multi-user.target kubelet.service
`, desc, v.Unit, start), nil
}
