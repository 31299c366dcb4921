package nodeimage

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// rootfsPackages are the Debian packages of a kind node's base system:
// systemd, container networking, filesystems for Local PV backings, and
// openssh-server for SSH reboots of nodes.
var rootfsPackages = []string{
	"systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
	"util-linux", "mount", "kmod", "libseccomp2", "pigz", "fuse-overlayfs", "e2fsprogs", "xfsprogs",
	"btrfs-progs", "bash", "ca-certificates", "curl", "jq", "procps", "runc", "containernetworking-plugins",
	"socat", "ebtables", "ipset", "less", "lsof", "openssh-server", "strace",
}

// DetectMirror returns the Debian mirror this host's apt uses.
func DetectMirror() (string, error) {
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	for _, f := range files {
		if m := firstField(f, "URIs:"); m != "" {
			return m, nil
		}
	}
	for _, f := range []string{"/etc/apt/sources.list"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			fs := strings.Fields(line)
			if len(fs) >= 3 && fs[0] == "deb" {
				for _, x := range fs[1:] {
					if strings.Contains(x, "://") {
						return x, nil
					}
				}
			}
		}
	}
	return "", fmt.Errorf("no Debian mirror found in /etc/apt; pass one explicitly")
}

func firstField(path, prefix string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), prefix); ok {
			if fs := strings.Fields(v); len(fs) > 0 {
				return fs[0]
			}
		}
	}
	return ""
}

// rootfs debootstraps the base root filesystem unless it is complete.
func (r runner) rootfs(ctx context.Context) (string, string, bool, error) {
	k, err := key(16, "rootfs", r.cfg.Versions.Debian, rootfsPackages)
	if err != nil {
		return "", "", false, err
	}
	dir := filepath.Join(r.cfg.CacheDir, "rootfs-"+k)
	if complete(dir) {
		return dir, k, true, nil
	}
	if _, err := os.Stat("/usr/sbin/debootstrap"); err != nil {
		return "", "", false, fmt.Errorf("debootstrap is not installed (apt-get install debootstrap): %w", err)
	}
	mirror := r.cfg.Mirror
	if mirror == "" {
		m, err := DetectMirror()
		if err != nil {
			return "", "", false, err
		}
		mirror = m
	}
	if err := removeTree(dir); err != nil {
		return "", "", false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", false, err
	}
	if _, err := r.run(ctx, "", nil, "debootstrap", "--variant=minbase", "--include="+strings.Join(rootfsPackages, ","),
		r.cfg.Versions.Debian, dir, mirror); err != nil {
		// Leave nothing mounted (debootstrap mounts /proc and /sys in its target).
		if uerr := unmountUnder(dir); uerr != nil {
			err = fmt.Errorf("%w; also: %v", err, uerr)
		}
		return "", "", false, err
	}
	return dir, k, false, markComplete(dir, map[string]any{"suite": r.cfg.Versions.Debian, "mirror": mirror, "packages": rootfsPackages})
}
