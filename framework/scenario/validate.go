package scenario

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pvreboot/pvreboot/framework/probe"
)

// FieldError is one problem with one field.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors is every problem of a scenario; it unwraps to ErrInvalid.
type Errors []*FieldError

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

type collector struct{ errs Errors }

func (c *collector) add(path, format string, a ...any) {
	c.errs = append(c.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, a...)})
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

// Validate returns every problem at once, each with its field path
// ("spec.budgets[1].maxRatio: must be > 1, got 0.5"), or nil.
func (s *Scenario) Validate() error {
	c := &collector{}
	if s.APIVersion != APIVersion {
		c.add("apiVersion", "must be %s, got %q", APIVersion, s.APIVersion)
	}
	if s.Kind != Kind {
		c.add("kind", "must be %s, got %q", Kind, s.Kind)
	}
	if s.Metadata.Name == "" {
		c.add("metadata.name", "must be set")
	}
	sp := s.Spec
	cl := sp.Cluster
	switch {
	case cl.Kind != nil && cl.Existing != nil:
		c.add("spec.cluster", "set either kind or existing, not both")
	case cl.Existing != nil && cl.Existing.Kubeconfig == "" && cl.Existing.Context == "":
		// An empty existing block means "the current kubeconfig context": allowed.
	}
	if len(cl.Nodes.Names) > 0 && cl.Nodes.Selector != nil {
		c.add("spec.cluster.nodes", "set either names or selector, not both")
	}
	if len(cl.Nodes.Names) == 0 && cl.Nodes.Selector == nil {
		c.add("spec.cluster.nodes", "must name nodes or give a selector")
	}
	for i, n := range cl.Nodes.Names {
		if n == "" {
			c.add(fmt.Sprintf("spec.cluster.nodes.names[%d]", i), "must not be empty")
		}
	}
	if sel := cl.Nodes.Selector; sel != nil && len(sel.MatchLabels) == 0 {
		c.add("spec.cluster.nodes.selector.matchLabels", "must not be empty")
	}
	names := map[string]bool{}
	for i, v := range sp.Volumes {
		p := fmt.Sprintf("spec.volumes[%d]", i)
		if v.Name == "" {
			c.add(p+".name", "must be set")
		} else if names[v.Name] {
			c.add(p+".name", "duplicate volume name %q", v.Name)
		}
		names[v.Name] = true
		if v.Count < 1 {
			c.add(p+".count", "must be >= 1, got %d", v.Count)
		}
		if !oneOf(v.Backing, BackingDirectory, BackingFilesystem, BackingBlock) {
			c.add(p+".backing", "must be directory, filesystem or block, got %q", v.Backing)
		}
		if v.Backing == BackingFilesystem && !oneOf(v.FSType, "ext4", "xfs", "btrfs") {
			c.add(p+".fsType", "must be ext4, xfs or btrfs, got %q", v.FSType)
		}
		if v.Backing != BackingFilesystem && v.FSType != "" {
			c.add(p+".fsType", "only applies to backing filesystem, not %s", v.Backing)
		}
		if v.Backing != BackingFilesystem && len(v.MountOptions) > 0 {
			c.add(p+".mountOptions", "only apply to backing filesystem, not %s", v.Backing)
		}
		if _, err := probe.ParseSize(v.Size); err != nil {
			c.add(p+".size", "%v", err)
		}
	}
	w := sp.Workload
	if _, err := probe.ParseMethod(w.Method); err != nil {
		c.add("spec.workload.method", "%v", err)
	}
	fileBytes, err := probe.ParseSize(w.FileSize)
	if err != nil {
		c.add("spec.workload.fileSize", "%v", err)
	}
	chunk, err := probe.ParseSize(w.ChunkSize)
	if err != nil {
		c.add("spec.workload.chunkSize", "%v", err)
	} else if fileBytes > 0 && chunk > fileBytes {
		c.add("spec.workload.chunkSize", "must not exceed fileSize %s, got %s", w.FileSize, w.ChunkSize)
	}
	if w.Iterations < 1 {
		c.add("spec.workload.iterations", "must be >= 1, got %d", w.Iterations)
	}
	if _, err := probe.ParseCacheMode(w.Cache); err != nil {
		c.add("spec.workload.cache", "%v", err)
	}
	if w.Method == string(probe.MethodExec) && (!strings.Contains(w.ExecCommand, "{src}") || !strings.Contains(w.ExecCommand, "{dst}")) {
		c.add("spec.workload.execCommand", "method exec needs a command with {src} and {dst}, got %q", w.ExecCommand)
	}
	if w.Method != string(probe.MethodExec) && w.ExecCommand != "" {
		c.add("spec.workload.execCommand", "only used with method exec, not %s", w.Method)
	}
	for i, vol := range sp.Volumes {
		size, err := probe.ParseSize(vol.Size)
		if err != nil || fileBytes <= 0 {
			continue
		}
		if vol.Backing != BackingBlock && size < 2*fileBytes+64<<20 {
			c.add("spec.workload.fileSize", "volume %q of %s cannot hold the source and a copy of %s", vol.Name, vol.Size, w.FileSize)
		}
		if vol.Backing == BackingBlock {
			if size%BlockCanaryBytes != 0 {
				c.add(fmt.Sprintf("spec.volumes[%d].size", i), "a block volume's size must be a multiple of 1Mi, got %s", vol.Size)
			}
			if need := probe.DeviceBytesNeeded(fileBytes) + BlockCanaryBytes; size < need {
				c.add("spec.workload.fileSize", "block volume %q of %s cannot hold the source and copy regions of %s and the data canary (needs %s)",
					vol.Name, vol.Size, w.FileSize, probe.FormatSize(need))
			}
		}
	}
	// The workload measures the first volume; on a block device it copies
	// between two regions of the raw device.
	if len(sp.Volumes) > 0 && sp.Volumes[0].Backing == BackingBlock {
		if m, err := probe.ParseMethod(w.Method); err == nil {
			if err := probe.DeviceMethodError(m); err != nil {
				c.add("spec.workload.method", "volume %q is a block device: %v", sp.Volumes[0].Name, err)
			}
		}
	}
	r := sp.Reboot
	if !oneOf(r.Method, RebootKindRestart, RebootKindKill, RebootSSH, RebootCommand, RebootNodePod) {
		c.add("spec.reboot.method", "must be kind-restart, kind-kill, ssh, command or node-pod, got %q", r.Method)
	}
	if r.Count < 1 {
		c.add("spec.reboot.count", "must be >= 1, got %d", r.Count)
	}
	if r.Timeout.Duration <= 0 {
		c.add("spec.reboot.timeout", "must be > 0, got %s", r.Timeout.Duration)
	}
	if r.Down.Duration < 0 {
		c.add("spec.reboot.down", "must be >= 0, got %s", r.Down.Duration)
	}
	if r.Method == RebootSSH && r.SSH == nil {
		c.add("spec.reboot.ssh", "must be set for method ssh")
	}
	if r.SSH != nil {
		if !oneOf(r.SSH.Mode, "reboot", "sysrq-b", "sysrq-c") {
			c.add("spec.reboot.ssh.mode", "must be reboot, sysrq-b or sysrq-c, got %q", r.SSH.Mode)
		}
		if r.SSH.KnownHosts == "" && !r.SSH.InsecureIgnore {
			c.add("spec.reboot.ssh.knownHosts", "must be set (host keys are always checked unless insecureIgnoreHostKey is true)")
		}
		if r.SSH.Port < 1 || r.SSH.Port > 65535 {
			c.add("spec.reboot.ssh.port", "must be 1-65535, got %d", r.SSH.Port)
		}
	}
	if r.Method == RebootCommand && (r.Command == nil || len(r.Command.Argv) == 0) {
		c.add("spec.reboot.command.argv", "must be set for method command")
	}
	if r.NodePod != nil && r.NodePod.Mode != "" && !oneOf(r.NodePod.Mode, "reboot", "sysrq-b") {
		c.add("spec.reboot.nodePod.mode", "must be reboot or sysrq-b, got %q", r.NodePod.Mode)
	}
	seen := map[string]bool{}
	for i, ph := range sp.Phases {
		p := fmt.Sprintf("spec.phases[%d]", i)
		if !oneOf(ph, Phases...) {
			c.add(p, "must be baseline, after-reboot or after-recreate, got %q", ph)
		} else if seen[ph] {
			c.add(p, "duplicate phase %q", ph)
		}
		seen[ph] = true
	}
	for i, b := range sp.Budgets {
		validateBudget(c, fmt.Sprintf("spec.budgets[%d]", i), b, seen)
	}
	for i, f := range sp.Faults {
		p := fmt.Sprintf("spec.faults[%d]", i)
		if !oneOf(f.Type, FaultLateMount, FaultIOThrottle) {
			c.add(p+".type", "must be late-mount or io-throttle, got %q", f.Type)
		}
		if f.Phase != PhaseAfterReboot {
			c.add(p+".phase", "faults are injected after the reboot: must be after-reboot, got %q", f.Phase)
		}
		if f.Type == FaultLateMount && !slices.ContainsFunc(sp.Volumes, func(v Volume) bool { return v.Backing == BackingFilesystem }) {
			c.add(p+".type", "late-mount needs a volume with backing filesystem")
		}
		if f.ReadBPS != nil && f.ReadBPS.BytesPerSecond <= 0 {
			c.add(p+".readBPS", "must be > 0")
		}
		if f.Type != FaultIOThrottle && f.ReadBPS != nil {
			c.add(p+".readBPS", "only applies to io-throttle")
		}
	}
	if len(c.errs) == 0 {
		return nil
	}
	return c.errs
}

func validateBudget(c *collector, p string, b Budget, phases map[string]bool) {
	if !phases[b.Phase] {
		c.add(p+".phase", "must be one of the scenario's phases, got %q", b.Phase)
	}
	kinds := 0
	if b.Max != nil || b.Min != nil {
		kinds++
	}
	if b.RelativeTo != "" || b.MaxRatio != 0 {
		kinds++
	}
	if b.Statistical != nil {
		kinds++
	}
	if kinds != 1 {
		c.add(p, "must be exactly one of absolute (max/min), relative (relativeTo + maxRatio) or statistical, got %d", kinds)
	}
	if b.Statistical == nil && !oneOf(b.Metric, MetricP50, MetricP90, MetricP99, MetricMax, MetricMean, MetricThroughput) {
		c.add(p+".metric", "must be p50, p90, p99, max, mean or throughput, got %q", b.Metric)
	}
	if b.Max != nil {
		if b.Metric == MetricThroughput {
			c.add(p+".max", "is a latency limit; throughput takes min")
		} else if b.Max.Duration <= 0 {
			c.add(p+".max", "must be > 0, got %s", b.Max.Duration)
		}
	}
	if b.Min != nil {
		if b.Metric != MetricThroughput {
			c.add(p+".min", "is a throughput floor; metric must be throughput, got %q", b.Metric)
		} else if b.Min.BytesPerSecond <= 0 {
			c.add(p+".min", "must be > 0")
		}
	}
	if b.RelativeTo != "" || b.MaxRatio != 0 {
		if !phases[b.RelativeTo] {
			c.add(p+".relativeTo", "must be one of the scenario's phases, got %q", b.RelativeTo)
		} else if b.RelativeTo == b.Phase {
			c.add(p+".relativeTo", "must differ from phase %q", b.Phase)
		}
		if !(b.MaxRatio > 1) {
			c.add(p+".maxRatio", "must be > 1, got %g", b.MaxRatio)
		}
	}
	if st := b.Statistical; st != nil {
		if !phases[st.Against] {
			c.add(p+".statistical.against", "must be one of the scenario's phases, got %q", st.Against)
		} else if st.Against == b.Phase {
			c.add(p+".statistical.against", "must differ from phase %q", b.Phase)
		}
		if !(st.MaxSlowdown >= 1) {
			c.add(p+".statistical.maxSlowdown", "must be >= 1, got %g", st.MaxSlowdown)
		}
		if !(st.Alpha > 0 && st.Alpha <= 0.1) {
			c.add(p+".statistical.alpha", "must be in (0, 0.1], got %g", st.Alpha)
		}
		if b.Metric != "" {
			c.add(p+".metric", "statistical budgets compare every call's latency; leave metric unset")
		}
	}
}

// AsInvalid reports whether err is a validation error and returns its lines.
func AsInvalid(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}
