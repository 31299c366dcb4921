package probe

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteText prints a report for people: what was copied where, one row per
// copy (latency, throughput, how much of the source was cached before its
// first call, what the copy did with the data), the data path verdict, the
// memory cgroup's limits and usage, and the checksums.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "%s of %s in %s chunks, %d iterations, %s cache\n",
		r.Method, FormatSize(r.FileBytes), FormatSize(r.ChunkBytes), len(r.Iterations), r.Cache)
	if d := r.Env.Device; r.Device != "" && d != nil {
		fmt.Fprintf(w, "block device %s (%s %s, %s, readahead %d KiB%s)\n", r.Device, d.MajorMinor, d.Name, FormatSize(d.SizeBytes), d.ReadAheadKB, directIO(d))
	} else {
		m := r.Env.Mount
		fmt.Fprintf(w, "dir %s on %s (%s %s, %s)\n", r.Dir, m.MountPoint, m.MajorMinor, m.FSType, m.MountOptions)
		if d := r.Env.Device; d != nil && d.BackingFile != "" {
			fmt.Fprintf(w, "device %s: loop over %s (readahead %d KiB%s)\n", d.Name, d.BackingFile, d.ReadAheadKB, directIO(d))
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "iteration\tcalls\tp50\tp90\tp99\tmax\tMB/s\tcached\tdata path\tshared\t")
	for _, it := range r.Iterations {
		s := Summarize([]Iteration{it})
		cached := "-"
		if f, ok := it.ResidentFraction(); ok {
			cached = FormatResidency(f, f)
		}
		path := string(it.DataPath)
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t\n", it.Index, s.Calls, formatNs(s.P50Ns), formatNs(s.P90Ns),
			formatNs(s.P99Ns), formatNs(s.MaxNs), it.BytesPerSecond/1e6, cached, path, FormatBytes(it.SharedBytes))
	}
	s := r.Summary
	cached := "-"
	if lo, hi, ok := r.SourceResidency(); ok {
		cached = FormatResidency(lo, hi)
	}
	fmt.Fprintf(tw, "all\t%d\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t\t\n", s.Calls, formatNs(s.P50Ns), formatNs(s.P90Ns), formatNs(s.P99Ns),
		formatNs(s.MaxNs), s.BytesPerSecond/1e6, cached, s.DataPath)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "cached: share of the source in page cache before the copy's first call (mincore)")
	if s.DataPath != "" {
		line := fmt.Sprintf("data path: %s (checked by %s)", s.DataPath, s.DataPathCheck)
		if s.DataPathNote != "" {
			line += ": " + s.DataPathNote
		}
		fmt.Fprintln(w, line)
	}
	if shared, _ := r.SharedExtents(); shared {
		fmt.Fprintf(w, "WARNING: %s shared extents (reflink): no data was read or written; latency budgets on these copies cannot see the data path\n", r.Method)
	}
	if lo, hi, ok := r.SourceResidency(); ok && r.Cache == CacheCold && hi >= ColdResidentWarning {
		fmt.Fprintf(w, "WARNING: cache cold, yet %s of the source was in page cache before the first call: the eviction did not work, the copies read from memory\n",
			FormatResidency(lo, hi))
	}
	cg := r.Env.Cgroup
	if limits := joinFacts(cg.Limits, func(k string) bool { return strings.HasPrefix(k, "memory.") }); limits != "" {
		fmt.Fprintf(w, "memory cgroup limits (%s): %s\n", cg.Version, limits)
	}
	if usage := joinFacts(cg.Memory, nil); usage != "" {
		fmt.Fprintf(w, "memory cgroup usage after the copies: %s\n", usage)
	}
	for _, n := range r.Env.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	if len(r.SourceSHA256) >= 16 {
		fmt.Fprintf(w, "checksums: %d copies match source sha256 %s\n", len(r.Iterations), r.SourceSHA256[:16])
	}
	return nil
}

// joinFacts renders the entries of m that keep selects (all when nil) as
// "k v, k v", sorted by key, skipping empty values.
func joinFacts(m map[string]string, keep func(string) bool) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] != "" && (keep == nil || keep(k)) {
			out = append(out, k+" "+m[k])
		}
	}
	return strings.Join(out, ", ")
}

func formatNs(ns int64) string {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.1fµs", float64(d)/1e3)
}

// directIO says how a loop device reads its image file, when known.
func directIO(d *BlockDevice) string {
	switch {
	case d.DirectIO == nil:
		return ""
	case *d.DirectIO:
		return ", direct I/O"
	}
	return ", through the host's page cache (no direct I/O)"
}
