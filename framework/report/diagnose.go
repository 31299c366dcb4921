package report

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/pvreboot/pvreboot/framework/probe"
)

// Change is one environment fact that differs between two phases.
type Change struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Field   string `json:"field"`
	Before  string `json:"before"`
	After   string `json:"after"`
	Meaning string `json:"meaning"`
}

// Diagnose lists the env facts that changed from phase a to phase b, the
// ones that explain a slowdown first.
func Diagnose(from, to string, a, b probe.Env) []Change {
	var out []Change
	add := func(field, before, after, meaning string) {
		if before != after {
			out = append(out, Change{From: from, To: to, Field: field, Before: before, After: after, Meaning: meaning})
		}
	}
	add("mount.majorMinor", a.Mount.MajorMinor, b.Mount.MajorMinor,
		"the volume is on a different device: the pod's bind mount no longer points at the Local PV's disk (mount ordering after reboot)")
	add("mount.fsType", a.Mount.FSType, b.Mount.FSType, "the volume's filesystem changed")
	add("mount.source", a.Mount.Source, b.Mount.Source, "the volume's backing source changed")
	add("mount.root", a.Mount.Root, b.Mount.Root, "the bind mount's root within its filesystem changed")
	add("mount.mountOptions", a.Mount.MountOptions, b.Mount.MountOptions, "mount options differ between the first mount and the remount")
	add("mount.superOptions", a.Mount.SuperOptions, b.Mount.SuperOptions, "filesystem (superblock) options differ")
	add("statfsType", a.StatfsType, b.StatfsType, "statfs reports a different filesystem type")
	keys := map[string]bool{}
	for k := range a.Cgroup.Limits {
		keys[k] = true
	}
	for k := range b.Cgroup.Limits {
		keys[k] = true
	}
	var ks []string
	for k := range keys {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		meaning := "a cgroup limit of the workload changed"
		if strings.Contains(k, "blkio") || strings.HasPrefix(k, "io.") {
			meaning = "the restarted container's cgroup has a different io limit: reads and writes are throttled"
		} else if strings.HasPrefix(k, "memory.") {
			meaning = "the restarted container's memory limit changed: page cache and writeback behave differently"
		}
		add("cgroup.limits."+k, a.Cgroup.Limits[k], b.Cgroup.Limits[k], meaning)
	}
	add("cgroup.version", a.Cgroup.Version, b.Cgroup.Version, "cgroup version changed")
	var sk []string
	for k := range a.Sysctls {
		sk = append(sk, k)
	}
	for k := range b.Sysctls {
		if _, ok := a.Sysctls[k]; !ok {
			sk = append(sk, k)
		}
	}
	sort.Strings(sk)
	for _, k := range sk {
		add("sysctl."+k, a.Sysctls[k], b.Sysctls[k], "a writeback sysctl changed")
	}
	dev := func(e probe.Env) (name, ra string) {
		if e.Device == nil {
			return "", ""
		}
		return e.Device.Name, strconv.FormatInt(e.Device.ReadAheadKB, 10)
	}
	an, ar := dev(a)
	bn, br := dev(b)
	add("device.name", an, bn, "the backing block device changed")
	if a.Device != nil && b.Device != nil {
		if a.Mount.MajorMinor == "" && b.Mount.MajorMinor == "" { // raw block volume: the device is the volume
			add("device.majorMinor", a.Device.MajorMinor, b.Device.MajorMinor, "the volume's block device has another number")
		}
		add("device.backingFile", a.Device.BackingFile, b.Device.BackingFile, "the loop device is backed by another file: not the disk written before")
	}
	if an == bn {
		add("device.readAheadKB", ar, br, "readahead of the backing device changed: sequential reads issue smaller requests")
	}
	add("kernelRelease", a.KernelRelease, b.KernelRelease, "the node runs another kernel")
	add("bootID", a.BootID, b.BootID, "the kernel rebooted (a kind node restart keeps the host's boot_id)")
	// Most explanatory first: device/mount, cgroup io, then the rest.
	rank := func(c Change) int {
		switch {
		case strings.HasPrefix(c.Field, "mount.majorMinor"), strings.HasPrefix(c.Field, "mount.fsType"), c.Field == "statfsType",
			c.Field == "device.majorMinor", c.Field == "device.backingFile":
			return 0
		case strings.Contains(c.Field, "blkio"), strings.HasPrefix(c.Field, "cgroup.limits.io."):
			return 1
		case strings.HasPrefix(c.Field, "mount."), strings.HasPrefix(c.Field, "cgroup."):
			return 2
		case c.Field == "bootID":
			return 9
		}
		return 5
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
	return out
}

// DiagnoseResult compares every phase's env with the baseline's.
func DiagnoseResult(r *Result) []Change {
	if len(r.Phases) == 0 || r.Phases[0].Probe == nil {
		return nil
	}
	base := r.Phases[0]
	var out []Change
	for _, p := range r.Phases[1:] {
		if p.Probe == nil {
			continue
		}
		out = append(out, Diagnose(base.Name, p.Name, base.Probe.Env, p.Probe.Env)...)
	}
	return out
}

func (c Change) String() string {
	b, a := c.Before, c.After
	if b == "" {
		b = "(none)"
	}
	if a == "" {
		a = "(none)"
	}
	return fmt.Sprintf("%s -> %s: %s %s -> %s: %s", c.From, c.To, c.Field, b, a, c.Meaning)
}
