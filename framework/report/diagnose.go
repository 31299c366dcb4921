package report

import (
	"fmt"
	"math"
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
		add("cgroup.limits."+k, a.Cgroup.Limits[k], b.Cgroup.Limits[k], limitMeaning(k))
	}
	add("cgroup.version", a.Cgroup.Version, b.Cgroup.Version, "cgroup version changed")
	for _, c := range memorySymptoms(a.Cgroup.Memory, b.Cgroup.Memory) {
		add("cgroup.memory."+c.key, c.before, c.after, c.meaning)
	}
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
		add("device.directIO", boolFact(a.Device.DirectIO), boolFact(b.Device.DirectIO), "the loop device reads its image file with direct I/O in one phase and through the host's page cache in the other: cold reads reach the disk only with direct I/O")
	}
	if an == bn {
		add("device.readAheadKB", ar, br, "readahead of the backing device changed: sequential reads issue smaller requests")
	}
	add("kernelRelease", a.KernelRelease, b.KernelRelease, "the node runs another kernel")
	add("bootID", a.BootID, b.BootID, "the kernel rebooted (a kind node restart keeps the host's boot_id)")
	sortChanges(out)
	return out
}

// boolFact renders an optional fact: on, off or "" when not known.
func boolFact(b *bool) string {
	switch {
	case b == nil:
		return ""
	case *b:
		return "on"
	}
	return "off"
}

// sortChanges puts the changes that explain a slowdown (causes) before the
// ones that show it (symptoms): first the copies' data path (a phase whose
// copies shared extents has no latency to compare with the other's) and the
// volume's device and filesystem, then cgroup io limits, then mount options
// and memory cgroup limits, then readahead, sysctls and the kernel; after
// them what the copies showed (cached source, memory pressure), and the
// boot last.
func sortChanges(out []Change) {
	rank := func(c Change) int {
		switch {
		case c.Field == fieldDataPath,
			strings.HasPrefix(c.Field, "mount.majorMinor"), strings.HasPrefix(c.Field, "mount.fsType"), c.Field == "statfsType",
			c.Field == "device.majorMinor", c.Field == "device.backingFile":
			return 0
		case strings.Contains(c.Field, "blkio"), strings.HasPrefix(c.Field, "cgroup.limits.io."):
			return 1
		case c.Field == fieldSourceResident:
			return 7
		case strings.HasPrefix(c.Field, "cgroup.memory."):
			return 8
		case strings.HasPrefix(c.Field, "mount."), strings.HasPrefix(c.Field, "cgroup."):
			return 2
		case c.Field == "bootID":
			return 9
		}
		return 5
	}
	sort.SliceStable(out, func(i, j int) bool { return rank(out[i]) < rank(out[j]) })
}

// Fields of the changes DiagnoseProbes finds beyond the env.
const (
	fieldDataPath       = "copy.dataPath"
	fieldSourceResident = "cache.sourceResident"
)

// limitMeaning says what a changed cgroup limit file does to a copy.
func limitMeaning(file string) string {
	switch {
	case strings.Contains(file, "blkio"), strings.HasPrefix(file, "io."):
		return "the restarted container's cgroup has a different io limit: reads and writes are throttled"
	case file == "memory.high":
		return "memory cgroup limit memory.high changed: above it the kernel throttles the workload and reclaims its memory, page cache included"
	case file == "memory.max", file == "memory.limit_in_bytes", file == "memory.memsw.limit_in_bytes":
		return fmt.Sprintf("memory cgroup limit %s changed: page cache and writeback of the copy are bounded differently", file)
	case strings.HasPrefix(file, "memory."):
		return fmt.Sprintf("memory cgroup protection %s changed: reclaim takes the workload's page cache in another order", file)
	}
	return "a cgroup limit of the workload changed"
}

// memorySymptom is a memory cgroup counter or pressure figure that grew
// markedly from one phase to the next.
type memorySymptom struct {
	key, before, after, meaning string
}

// psiThreshold is the share of wall time (percent, PSI avg10) with some
// task of the memory cgroup stalled on memory above which pressure is a
// symptom worth naming.
const psiThreshold = 5.0

// memorySymptoms lists the usage and pressure facts that grew markedly
// (a counter from 0, or to at least twice; PSI above psiThreshold), not
// every usage number that moved: they are symptoms of a memory limit. A
// counter is compared only when both phases recorded it: a baseline without
// it (an older report with no memory data) is not a baseline of zero.
func memorySymptoms(a, b map[string]string) []memorySymptom {
	counters := []struct{ key, meaning string }{
		{"failcnt", "the memory cgroup hit memory.limit_in_bytes: its page cache was reclaimed under the copy (a symptom of the memory cgroup limit)"},
		{"events.max", "the memory cgroup hit memory.max: its page cache was reclaimed under the copy (a symptom of the memory cgroup limit)"},
		{"events.high", "the memory cgroup went over memory.high: the kernel throttled it and reclaimed its page cache (a symptom of the memory cgroup limit)"},
		{"events.oom", "the memory cgroup ran out of memory"},
		{"events.oom_kill", "a process of the memory cgroup was OOM-killed"},
	}
	var out []memorySymptom
	for _, c := range counters {
		bv, bok := parseCount(b[c.key])
		av, aok := parseCount(a[c.key])
		if aok && bok && bv > av && (av == 0 || bv >= 2*av) {
			out = append(out, memorySymptom{c.key, a[c.key], b[c.key], c.meaning})
		}
	}
	for _, k := range []string{"pressure.some.avg10", "pressure.full.avg10"} {
		bv, err := strconv.ParseFloat(b[k], 64)
		if err != nil || bv < psiThreshold {
			continue
		}
		if av, err := strconv.ParseFloat(a[k], 64); err == nil && bv < 2*av {
			continue
		}
		who := "some task"
		if strings.Contains(k, "full") {
			who = "every task"
		}
		out = append(out, memorySymptom{k, a[k], b[k],
			fmt.Sprintf("%s of the memory cgroup stalled on memory %s%% of the last 10s (PSI): reclaim or refaults under the copy", who, b[k])})
	}
	return out
}

// parseCount reads a counter; ok is false when s is not one (absent, or
// not a whole number).
func parseCount(s string) (int64, bool) {
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// DiagnoseProbes lists what changed from phase a's probe report to phase
// b's: the env (Diagnose), and what the copies themselves showed: whether
// they moved data or shared extents, and how much of the source was in page
// cache before the first call. Causes first, symptoms after.
func DiagnoseProbes(from, to string, a, b *probe.Report) []Change {
	out := Diagnose(from, to, a.Env, b.Env)
	add := func(field, before, after, meaning string) {
		out = append(out, Change{From: from, To: to, Field: field, Before: before, After: after, Meaning: meaning})
	}
	ap, bp := a.Summary.DataPath, b.Summary.DataPath
	if ap == "" {
		ap = probe.Summarize(a.Iterations).DataPath
	}
	if bp == "" {
		bp = probe.Summarize(b.Iterations).DataPath
	}
	if ap != "" && bp != "" && ap != bp {
		var meaning string
		switch {
		case bp == probe.DataPathSharedExtents:
			meaning = fmt.Sprintf("%s shared extents (reflink) in %s: no data was read or written, its latency cannot be compared with %s's", b.Method, to, from)
		case ap == probe.DataPathSharedExtents:
			meaning = fmt.Sprintf("%s shared extents (reflink) in %s: its latency was never a data path, so %s's cannot be compared with it", a.Method, from, to)
		default:
			meaning = "whether the copy moved data is not known the same way in both phases"
		}
		add(fieldDataPath, string(ap), string(bp), meaning)
	}
	alo, ahi, aok := a.SourceResidency()
	blo, bhi, bok := b.SourceResidency()
	if aok && bok && math.Abs((blo+bhi)-(alo+ahi))/2 >= residencyShift {
		meaning := fmt.Sprintf("less of the source was in page cache before the first call in %s: its reads went to the device (a cold cache after boot)", to)
		if blo+bhi > alo+ahi {
			meaning = fmt.Sprintf("more of the source was in page cache before the first call in %s: its reads came from memory, not the device", to)
			if b.Cache == probe.CacheCold {
				meaning += " (cache cold: the eviction did not work)"
			}
		}
		add(fieldSourceResident, probe.FormatResidency(alo, ahi), probe.FormatResidency(blo, bhi), meaning)
	}
	sortChanges(out)
	return out
}

// residencyShift is the change in the share of the source cached before the
// first call (0..1, the midpoint of a phase's range over its copies) that
// DiagnoseProbes names.
const residencyShift = 0.25

// DiagnoseResult compares every phase's probe report with the baseline's.
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
		out = append(out, DiagnoseProbes(base.Name, p.Name, base.Probe, p.Probe)...)
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
