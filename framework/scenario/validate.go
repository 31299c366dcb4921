package scenario

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
	"unicode"

	"github.com/pvreboot/pvreboot/framework/budget"
	"github.com/pvreboot/pvreboot/framework/probe"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Errors is every problem of a scenario, each with its field path; it
// unwraps to ErrInvalid.
type Errors field.ErrorList

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Is makes errors.Is(err, ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// AsInvalid reports whether err is a validation error and returns its problems.
func AsInvalid(err error) (Errors, bool) {
	var es Errors
	if errors.As(err, &es) {
		return es, true
	}
	return nil, false
}

// Limits on names and counts, so that every name derived from a scenario
// value is still valid where it ends up.
const (
	// MaxVolumeNameLen: a volume name becomes the PVC name, part of the PV
	// name (pvreboot-<run>-<name>[-<i>]), of an image file and of a systemd
	// mount unit name, where systemd escapes each "-" as "\x2d": 13+12+8+4
	// characters of prefix, 4 per character of the name at worst, 6 of
	// ".mount", within systemd's 255.
	MaxVolumeNameLen = 48
	// MaxKindClusterNameLen: kind names nodes <name>-control-plane, which
	// must be a DNS-1123 label.
	MaxKindClusterNameLen = 63 - len("-control-plane")
	MaxVolumeCount        = 99 // instances per volume entry: "-98" fits the name budget
	MaxVolumes            = 16
	MaxMountOptions       = 32
	MaxRebootCount        = 100
	MinRebootTimeout      = 10 * time.Second
	MaxRebootTimeout      = 24 * time.Hour
	MaxDown               = time.Hour
	MaxLatencyBudget      = time.Hour
	MaxRatio              = 1e6
	MaxTextLen            = 1024
)

var (
	// mountOptionRE is one mount option: no comma (that would be two), no
	// blank or quote, nothing systemd or mount(8) would read specially.
	mountOptionRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:=+/-]{0,127}$`)
	// imageRE is the character set of an image reference.
	imageRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,254}$`)
	// sshUserRE is a POSIX login name.
	sshUserRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
)

// InstanceName is the name of the i-th PV of a volume entry (the PVC name
// and the end of the PV name): the volume's name, with "-<i>" when the entry
// has more than one.
func (v Volume) InstanceName(i int) string {
	if v.Instances() > 1 {
		return fmt.Sprintf("%s-%d", v.Name, i)
	}
	return v.Name
}

// Validate returns every problem at once, each with its field path
// ("spec.budgets[1].maxRatio: Invalid value: 0.5: must be > 1"), or nil.
func (s *Scenario) Validate() error {
	if errs := s.validate(); len(errs) > 0 {
		return Errors(errs)
	}
	return nil
}

// validateHead checks a document's apiVersion, kind and metadata; the name
// becomes what nameBecomes says.
func validateHead(apiVersion, kind, wantKind string, md Metadata, nameBecomes string) field.ErrorList {
	var errs field.ErrorList
	if apiVersion != APIVersion {
		errs = append(errs, field.Invalid(field.NewPath("apiVersion"), apiVersion, "must be "+APIVersion))
	}
	if kind != wantKind {
		errs = append(errs, field.Invalid(field.NewPath("kind"), kind, "must be "+wantKind))
	}
	mp := field.NewPath("metadata")
	errs = append(errs, dnsLabel(mp.Child("name"), md.Name, nameBecomes)...)
	return append(errs, text(mp.Child("description"), md.Description, true)...)
}

func (s *Scenario) validate() field.ErrorList {
	// The name becomes the value of the pvreboot.dev/scenario label.
	errs := validateHead(s.APIVersion, s.Kind, Kind, s.Metadata, "the value of the pvreboot.dev/scenario label")
	sp := field.NewPath("spec")
	errs = append(errs, validateCluster(sp.Child("cluster"), s.Spec.Cluster)...)
	errs = append(errs, validateVolumes(sp.Child("volumes"), s.Spec.Volumes)...)
	errs = append(errs, validateWorkload(sp.Child("workload"), s.Spec.Workload, s.Spec.Volumes)...)
	errs = append(errs, validateReboot(sp.Child("reboot"), s.Spec.Reboot)...)
	seen := map[string]bool{}
	for i, ph := range s.Spec.Phases {
		p := sp.Child("phases").Index(i)
		switch {
		case !slices.Contains(Phases(), ph):
			errs = append(errs, field.NotSupported(p, ph, Phases()))
		case seen[ph]:
			errs = append(errs, field.Duplicate(p, ph))
		}
		seen[ph] = true
	}
	for i, b := range s.Spec.Budgets {
		errs = append(errs, validateBudget(sp.Child("budgets").Index(i), b, seen, s.Spec.Workload.Copies())...)
	}
	faults := map[string]bool{}
	for i, f := range s.Spec.Faults {
		fp := sp.Child("faults").Index(i)
		errs = append(errs, validateFault(fp, f, s.Spec)...)
		if faults[f.Type] {
			errs = append(errs, field.Duplicate(fp.Child("type"), f.Type))
		}
		faults[f.Type] = true
	}
	return errs
}

// dnsLabel checks a DNS-1123 label (lower case, digits, "-", at most 63),
// saying what the value becomes.
func dnsLabel(p *field.Path, v, becomes string) field.ErrorList {
	return name(p, v, becomes, validation.IsDNS1123Label)
}

// dnsSubdomain checks a DNS-1123 subdomain (labels joined by ".").
func dnsSubdomain(p *field.Path, v, becomes string) field.ErrorList {
	return name(p, v, becomes, validation.IsDNS1123Subdomain)
}

func name(p *field.Path, v, becomes string, check func(string) []string) field.ErrorList {
	if v == "" {
		return field.ErrorList{field.Required(p, "it becomes "+becomes)}
	}
	var errs field.ErrorList
	for _, msg := range check(v) {
		errs = append(errs, field.Invalid(p, v, msg+" (it becomes "+becomes+")"))
	}
	return errs
}

// text checks free text: bounded, printable (newlines allowed only where
// multiline is true).
func text(p *field.Path, v string, multiline bool) field.ErrorList {
	if len(v) > MaxTextLen {
		return field.ErrorList{field.TooLong(p, "", MaxTextLen)}
	}
	for _, r := range v {
		if r == '\n' && multiline {
			continue
		}
		if !unicode.IsPrint(r) && r != '\t' {
			return field.ErrorList{field.Invalid(p, v, fmt.Sprintf("must not contain the control character %q", r))}
		}
	}
	return nil
}

// hostPath checks a path on the test host (kubeconfig, key, config files).
func hostPath(p *field.Path, v string) field.ErrorList {
	if v == "" {
		return nil
	}
	if len(v) > 4096 {
		return field.ErrorList{field.TooLong(p, "", 4096)}
	}
	if strings.ContainsFunc(v, unicode.IsControl) {
		return field.ErrorList{field.Invalid(p, v, "must not contain control characters")}
	}
	return nil
}

func image(p *field.Path, v string) field.ErrorList {
	if v != "" && !imageRE.MatchString(v) {
		return field.ErrorList{field.Invalid(p, v, "must be an image reference such as registry.example.com/pvreboot/copyprobe:v1")}
	}
	return nil
}

func validateCluster(p *field.Path, cl Cluster) field.ErrorList {
	var errs field.ErrorList
	if cl.Kind != nil && cl.Existing != nil {
		errs = append(errs, field.Forbidden(p, "set either kind or existing, not both"))
	}
	if k := cl.Kind; k != nil {
		kp := p.Child("kind")
		errs = append(errs, dnsLabel(kp.Child("name"), k.Name, "the kind cluster's name and the prefix of its node names")...)
		if len(k.Name) > MaxKindClusterNameLen {
			errs = append(errs, field.TooLong(kp.Child("name"), k.Name, MaxKindClusterNameLen))
		}
		errs = append(errs, hostPath(kp.Child("config"), k.Config)...)
		errs = append(errs, image(kp.Child("image"), k.Image)...)
	}
	if e := cl.Existing; e != nil {
		errs = append(errs, hostPath(p.Child("existing", "kubeconfig"), e.Kubeconfig)...)
		errs = append(errs, text(p.Child("existing", "context"), e.Context, false)...)
	}
	np := p.Child("nodes")
	switch {
	case len(cl.Nodes.Names) > 0 && cl.Nodes.Selector != nil:
		errs = append(errs, field.Forbidden(np, "set either names or selector, not both"))
	case len(cl.Nodes.Names) == 0 && cl.Nodes.Selector == nil:
		errs = append(errs, field.Required(np, "name nodes or give a selector"))
	}
	seen := map[string]bool{}
	for i, n := range cl.Nodes.Names {
		ip := np.Child("names").Index(i)
		errs = append(errs, dnsSubdomain(ip, n, "a node name")...)
		if seen[n] {
			errs = append(errs, field.Duplicate(ip, n))
		}
		seen[n] = true
	}
	if sel := cl.Nodes.Selector; sel != nil {
		sp := np.Child("selector", "matchLabels")
		if len(sel.MatchLabels) == 0 {
			errs = append(errs, field.Required(sp, "a selector needs at least one label"))
		}
		errs = append(errs, metav1validation.ValidateLabels(sel.MatchLabels, sp)...)
	}
	return errs
}

func validateVolumes(p *field.Path, vols []Volume) field.ErrorList {
	var errs field.ErrorList
	if len(vols) > MaxVolumes {
		errs = append(errs, field.TooMany(p, len(vols), MaxVolumes))
	}
	names := map[string]bool{}
	for i, v := range vols {
		vp := p.Index(i)
		np := vp.Child("name")
		errs = append(errs, dnsLabel(np, v.Name, "the PVC's name and part of the PV's, the backing file's and the mount unit's")...)
		if names[v.Name] {
			errs = append(errs, field.Duplicate(np, v.Name))
		}
		names[v.Name] = true
		n := v.Instances()
		if n < 1 || n > MaxVolumeCount {
			errs = append(errs, field.Invalid(vp.Child("count"), n, fmt.Sprintf("must be 1 to %d", MaxVolumeCount)))
		} else if long := v.InstanceName(n - 1); len(long) > MaxVolumeNameLen {
			errs = append(errs, field.TooLong(np, v.Name, MaxVolumeNameLen-(len(long)-len(v.Name))))
		}
		if !slices.Contains([]string{BackingDirectory, BackingFilesystem, BackingBlock}, v.Backing) {
			errs = append(errs, field.NotSupported(vp.Child("backing"), v.Backing, []string{BackingDirectory, BackingFilesystem, BackingBlock}))
		}
		if v.Backing == BackingFilesystem && !slices.Contains([]string{"ext4", "xfs", "btrfs"}, v.FSType) {
			errs = append(errs, field.NotSupported(vp.Child("fsType"), v.FSType, []string{"ext4", "xfs", "btrfs"}))
		}
		if v.Backing != BackingFilesystem && v.FSType != "" {
			errs = append(errs, field.Forbidden(vp.Child("fsType"), "only applies to backing filesystem, not "+v.Backing))
		}
		if v.Backing != BackingFilesystem && len(v.MountOptions) > 0 {
			errs = append(errs, field.Forbidden(vp.Child("mountOptions"), "only apply to backing filesystem, not "+v.Backing))
		}
		if len(v.MountOptions) > MaxMountOptions {
			errs = append(errs, field.TooMany(vp.Child("mountOptions"), len(v.MountOptions), MaxMountOptions))
		}
		for j, o := range v.MountOptions {
			op := vp.Child("mountOptions").Index(j)
			if strings.Contains(o, ",") {
				errs = append(errs, field.Invalid(op, o, "one option per list item (write them as separate items)"))
			} else if !mountOptionRE.MatchString(o) {
				errs = append(errs, field.Invalid(op, o, "must be one mount option of letters, digits and _.:=+/- (at most 128)"))
			} else if err := CheckMountOption(v.FSType, o); err != nil && v.Backing == BackingFilesystem {
				errs = append(errs, field.Invalid(op, o, err.Error()))
			}
		}
		if v.StorageClass != "" {
			errs = append(errs, dnsSubdomain(vp.Child("storageClass"), v.StorageClass, "a StorageClass name")...)
		}
		size, err := ParseBytes(v.Size)
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(vp.Child("size"), v.Size, err.Error()))
		default:
			if size < MinVolumeBytes {
				errs = append(errs, field.Invalid(vp.Child("size"), v.Size, "must be at least 16Mi"))
			}
			if v.Backing == BackingBlock && size%BlockCanaryBytes != 0 {
				errs = append(errs, field.Invalid(vp.Child("size"), v.Size, "a block volume's size must be a multiple of 1Mi"))
			}
		}
	}
	return errs
}

func validateWorkload(p *field.Path, w Workload, vols []Volume) field.ErrorList {
	errs := validateExec(p, w, vols)
	method, err := probe.ParseMethod(w.Method)
	if err != nil {
		errs = append(errs, field.Invalid(p.Child("method"), w.Method, err.Error()))
	}
	file, ferr := ParseBytes(w.FileSize)
	if ferr != nil {
		errs = append(errs, field.Invalid(p.Child("fileSize"), w.FileSize, ferr.Error()))
	} else if file < MinCopyBytes {
		errs = append(errs, field.Invalid(p.Child("fileSize"), w.FileSize, "must be at least 4Ki"))
	}
	chunk, cerr := ParseBytes(w.ChunkSize)
	switch {
	case cerr != nil:
		errs = append(errs, field.Invalid(p.Child("chunkSize"), w.ChunkSize, cerr.Error()))
	case chunk < MinCopyBytes || chunk > MaxChunkBytes:
		errs = append(errs, field.Invalid(p.Child("chunkSize"), w.ChunkSize, fmt.Sprintf("must be 4Ki to %d bytes (the most one call moves)", MaxChunkBytes)))
	case ferr == nil && chunk > file:
		errs = append(errs, field.Invalid(p.Child("chunkSize"), w.ChunkSize, "must not exceed fileSize "+w.FileSize))
	}
	iters := w.Copies()
	if iters < 1 || iters > MaxIterations {
		errs = append(errs, field.Invalid(p.Child("iterations"), iters, fmt.Sprintf("must be 1 to %d", MaxIterations)))
	}
	if ferr == nil && cerr == nil && chunk >= MinCopyBytes && file >= MinCopyBytes {
		calls := (file + chunk - 1) / chunk
		if calls > MaxCallsPerCopy {
			errs = append(errs, field.Invalid(p.Child("chunkSize"), w.ChunkSize, fmt.Sprintf("fileSize/chunkSize is %d calls per copy, more than %d: use larger chunks", calls, MaxCallsPerCopy)))
		} else if iters >= 1 && calls*int64(iters) > MaxCalls {
			errs = append(errs, field.Invalid(p.Child("iterations"), iters, fmt.Sprintf("%d copies of %d calls is more than %d calls per phase", iters, calls, MaxCalls)))
		}
	}
	if _, err := probe.ParseCacheMode(w.Cache); err != nil {
		errs = append(errs, field.Invalid(p.Child("cache"), w.Cache, err.Error()))
	}
	ep := p.Child("execCommand")
	if method == probe.MethodExec {
		if !strings.Contains(w.ExecCommand, "{src}") || !strings.Contains(w.ExecCommand, "{dst}") {
			errs = append(errs, field.Invalid(ep, w.ExecCommand, "method exec needs a command with {src} and {dst}"))
		}
		errs = append(errs, text(ep, w.ExecCommand, false)...)
	} else if w.ExecCommand != "" {
		errs = append(errs, field.Forbidden(ep, "only used with method exec, not "+w.Method))
	}
	if ferr != nil {
		return errs
	}
	for i, v := range vols {
		size, err := ParseBytes(v.Size)
		if err != nil {
			continue
		}
		vp := field.NewPath("spec", "volumes").Index(i).Child("size")
		if v.Backing != BackingBlock && size < 2*file+copySlackBytes {
			errs = append(errs, field.Invalid(vp, v.Size, fmt.Sprintf("cannot hold the source and a copy of fileSize %s, the canary and the filesystem (needs %s)",
				w.FileSize, probe.FormatSize(2*file+copySlackBytes))))
		}
		if need := probe.DeviceBytesNeeded(file) + BlockCanaryBytes; v.Backing == BackingBlock && size < need {
			errs = append(errs, field.Invalid(vp, v.Size, fmt.Sprintf("block volume cannot hold the source and copy regions of fileSize %s and the data canary (needs %s)",
				w.FileSize, probe.FormatSize(need))))
		}
	}
	// The workload measures every volume; on a block device it copies
	// between two regions of the raw device.
	for _, v := range vols {
		if v.Backing != BackingBlock || err != nil || w.Exec != nil {
			continue
		}
		if derr := probe.DeviceMethodError(method); derr != nil {
			errs = append(errs, field.Invalid(p.Child("method"), w.Method, fmt.Sprintf("volume %q is a block device: %v", v.Name, derr)))
			break
		}
	}
	return errs
}

func validateDuration(p *field.Path, d Duration, lo, hi time.Duration) field.ErrorList {
	if d.Problem() != "" {
		return field.ErrorList{field.Invalid(p, nil, d.Problem())}
	}
	if d.Duration < lo || d.Duration > hi {
		return field.ErrorList{field.Invalid(p, d.Duration.String(), fmt.Sprintf("must be %s to %s", lo, hi))}
	}
	return nil
}

func validateReboot(p *field.Path, r Reboot) field.ErrorList {
	var errs field.ErrorList
	methods := []string{RebootKindRestart, RebootKindKill, RebootSSH, RebootCommand, RebootNodePod}
	if !slices.Contains(methods, r.Method) {
		errs = append(errs, field.NotSupported(p.Child("method"), r.Method, methods))
	}
	if n := r.Times(); n < 1 || n > MaxRebootCount {
		errs = append(errs, field.Invalid(p.Child("count"), n, fmt.Sprintf("must be 1 to %d", MaxRebootCount)))
	}
	errs = append(errs, validateDuration(p.Child("timeout"), r.Timeout, MinRebootTimeout, MaxRebootTimeout)...)
	errs = append(errs, validateDuration(p.Child("down"), r.Down, 0, MaxDown)...)
	if r.AllowReboot {
		errs = append(errs, field.Forbidden(p.Child("allowReboot"),
			"a scenario file cannot authorise rebooting machines: the person running it does, with --allow-reboot or PVREBOOT_ALLOW_REBOOT=true"))
	}
	if r.Method == RebootSSH && r.SSH == nil {
		errs = append(errs, field.Required(p.Child("ssh"), "method ssh needs it"))
	}
	if r.SSH != nil {
		sp := p.Child("ssh")
		if r.Method != RebootSSH {
			errs = append(errs, field.Forbidden(sp, "only used with method ssh, not "+r.Method))
		}
		if !slices.Contains([]string{"reboot", "sysrq-b", "sysrq-c"}, r.SSH.Mode) {
			errs = append(errs, field.NotSupported(sp.Child("mode"), r.SSH.Mode, []string{"reboot", "sysrq-b", "sysrq-c"}))
		}
		if !sshUserRE.MatchString(r.SSH.User) {
			errs = append(errs, field.Invalid(sp.Child("user"), r.SSH.User, "must be a login name: a letter or _, then letters, digits, _ . - (at most 32)"))
		}
		if r.SSH.KnownHosts == "" && !r.SSH.InsecureIgnore {
			errs = append(errs, field.Required(sp.Child("knownHosts"), "host keys are always checked unless insecureIgnoreHostKey is true"))
		}
		if port := r.SSH.SSHPort(); port < 1 || port > 65535 {
			errs = append(errs, field.Invalid(sp.Child("port"), port, "must be 1 to 65535"))
		}
		errs = append(errs, hostPath(sp.Child("keyFile"), r.SSH.KeyFile)...)
		errs = append(errs, hostPath(sp.Child("knownHosts"), r.SSH.KnownHosts)...)
	}
	cp := p.Child("command", "argv")
	if r.Method == RebootCommand && (r.Command == nil || len(r.Command.Argv) == 0) {
		errs = append(errs, field.Required(cp, "method command needs a command"))
	}
	if r.Command != nil {
		if r.Method != RebootCommand {
			errs = append(errs, field.Forbidden(p.Child("command"), "only used with method command, not "+r.Method))
		}
		shell := len(r.Command.Argv) > 0 && slices.Contains([]string{"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox"}, path.Base(r.Command.Argv[0]))
		for i, a := range r.Command.Argv {
			errs = append(errs, validateTemplate(cp.Index(i), a)...)
			if shell && i > 0 && strings.HasPrefix(r.Command.Argv[i-1], "-") && strings.Contains(r.Command.Argv[i-1], "c") && strings.Contains(a, "{{") {
				errs = append(errs, field.Forbidden(cp.Index(i), `a template inside a shell script would become shell text: pass the value as a positional parameter after the script, e.g. [sh, -c, 'virsh reset "$1"', sh, "{{.Name}}"]`))
			}
		}
	}
	if r.NodePod != nil {
		np := p.Child("nodePod")
		if r.Method != RebootNodePod {
			errs = append(errs, field.Forbidden(np, "only used with method node-pod, not "+r.Method))
		}
		if r.NodePod.Mode != "" && !slices.Contains([]string{"reboot", "sysrq-b"}, r.NodePod.Mode) {
			errs = append(errs, field.NotSupported(np.Child("mode"), r.NodePod.Mode, []string{"reboot", "sysrq-b"}))
		}
		errs = append(errs, image(np.Child("image"), r.NodePod.Image)...)
	}
	return errs
}

// templateNode has the fields a command template can use (reboot.NodeInfo).
type templateNode struct{ Name, Address, ProviderID string }

// validateTemplate checks one argv element of the command rebooter: it
// parses, uses only the node's Name, Address and ProviderID, and renders to
// something.
func validateTemplate(p *field.Path, a string) field.ErrorList {
	if strings.ContainsFunc(a, unicode.IsControl) {
		return field.ErrorList{field.Invalid(p, a, "must not contain control characters")}
	}
	t, err := template.New(p.String()).Option("missingkey=error").Parse(a)
	if err != nil {
		return field.ErrorList{field.Invalid(p, a, "not a template: "+err.Error())}
	}
	var b strings.Builder
	if err := t.Execute(&b, templateNode{Name: "n", Address: "a", ProviderID: "p"}); err != nil {
		return field.ErrorList{field.Invalid(p, a, "a template may use only {{.Name}}, {{.Address}} and {{.ProviderID}}: "+err.Error())}
	}
	if strings.TrimSpace(b.String()) == "" {
		return field.ErrorList{field.Invalid(p, a, "must not be empty")}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// validateBudget checks one budget; copies is the workload's iterations per
// phase, the statistical budget's sample size.
func validateBudget(p *field.Path, b Budget, phases map[string]bool, copies int) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, text(p.Child("name"), b.Name, false)...)
	if !phases[b.Phase] {
		errs = append(errs, field.Invalid(p.Child("phase"), b.Phase, "must be one of the scenario's phases"))
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
		errs = append(errs, field.Invalid(p, kinds, "must be exactly one of absolute (max/min), relative (relativeTo + maxRatio) or statistical"))
	}
	metrics := []string{MetricP50, MetricP90, MetricP99, MetricMax, MetricMean, MetricThroughput}
	if b.Statistical == nil && !slices.Contains(metrics, b.Metric) {
		errs = append(errs, field.NotSupported(p.Child("metric"), b.Metric, metrics))
	}
	if b.Max != nil {
		if b.Metric == MetricThroughput {
			errs = append(errs, field.Forbidden(p.Child("max"), "is a latency limit; throughput takes min"))
		} else if b.Max.Problem() != "" || b.Max.Duration <= 0 || b.Max.Duration > MaxLatencyBudget {
			errs = append(errs, validateDuration(p.Child("max"), *b.Max, time.Nanosecond, MaxLatencyBudget)...)
		}
	}
	if b.Min != nil {
		switch {
		case b.Min.Problem() != "":
			errs = append(errs, field.Invalid(p.Child("min"), nil, b.Min.Problem()))
		case b.Metric != MetricThroughput:
			errs = append(errs, field.Forbidden(p.Child("min"), "is a throughput floor; metric must be throughput, not "+b.Metric))
		case !finite(b.Min.BytesPerSecond) || b.Min.BytesPerSecond <= 0:
			errs = append(errs, field.Invalid(p.Child("min"), b.Min.BytesPerSecond, "must be a finite rate > 0"))
		}
	}
	if b.RelativeTo != "" || b.MaxRatio != 0 {
		if !phases[b.RelativeTo] {
			errs = append(errs, field.Invalid(p.Child("relativeTo"), b.RelativeTo, "must be one of the scenario's phases"))
		} else if b.RelativeTo == b.Phase {
			errs = append(errs, field.Invalid(p.Child("relativeTo"), b.RelativeTo, "must differ from phase "+b.Phase))
		}
		if !(b.MaxRatio > 1 && b.MaxRatio <= MaxRatio) {
			errs = append(errs, field.Invalid(p.Child("maxRatio"), b.MaxRatio, fmt.Sprintf("must be > 1 and at most %g", float64(MaxRatio))))
		}
	}
	if st := b.Statistical; st != nil {
		sp := p.Child("statistical")
		if !phases[st.Against] {
			errs = append(errs, field.Invalid(sp.Child("against"), st.Against, "must be one of the scenario's phases"))
		} else if st.Against == b.Phase {
			errs = append(errs, field.Invalid(sp.Child("against"), st.Against, "must differ from phase "+b.Phase))
		}
		if !(st.MaxSlowdown >= 1 && st.MaxSlowdown <= MaxRatio) {
			errs = append(errs, field.Invalid(sp.Child("maxSlowdown"), st.MaxSlowdown, fmt.Sprintf("must be at least 1 and at most %g", float64(MaxRatio))))
		}
		if !(st.Alpha > 0 && st.Alpha <= 0.1) {
			errs = append(errs, field.Invalid(sp.Child("alpha"), st.Alpha, "must be in (0, 0.1]"))
		} else if copies >= 1 && copies <= MaxIterations && !budget.Reachable(copies, copies, st.Alpha) {
			errs = append(errs, field.Invalid(sp.Child("alpha"), st.Alpha, unreachable(copies, st.Alpha)))
		}
		if b.Metric != "" {
			errs = append(errs, field.Forbidden(p.Child("metric"), "statistical budgets compare the copies' median call latencies; leave metric unset"))
		}
	}
	return errs
}

// unreachable says why a statistical budget's alpha cannot be met with the
// workload's copies per phase (the copy is the test's unit), and what would do.
func unreachable(copies int, alpha float64) string {
	smallest := budget.SmallestP(copies, copies)
	msg := fmt.Sprintf("%d iterations per phase can never reach p < %g with the copy as the unit (the smallest p of %d vs %d copies is %.3g); use workload.iterations >= %d",
		copies, alpha, copies, copies, smallest, budget.MinIterations(alpha))
	if smallest < 0.1 {
		// Rounded up to three digits, so that any alpha above it works.
		e := math.Pow(10, math.Floor(math.Log10(smallest))-2)
		msg += fmt.Sprintf(" or alpha > %.3g", math.Ceil(smallest/e-1e-9)*e)
	}
	return msg
}

func validateFault(p *field.Path, f Fault, spec Spec) field.ErrorList {
	var errs field.ErrorList
	vols := spec.Volumes
	types := FaultTypes()
	if !slices.Contains(types, f.Type) {
		errs = append(errs, field.NotSupported(p.Child("type"), f.Type, types))
	}
	if f.Phase != PhaseAfterReboot {
		errs = append(errs, field.Invalid(p.Child("phase"), f.Phase, "faults are injected after the reboot: must be after-reboot"))
	}
	hasBacking := func(backings ...string) bool {
		return slices.ContainsFunc(vols, func(v Volume) bool { return slices.Contains(backings, v.Backing) })
	}
	switch f.Type {
	case FaultLateMount, FaultMountOptions:
		if !hasBacking(BackingFilesystem) {
			errs = append(errs, field.Invalid(p.Child("type"), f.Type, f.Type+" needs a volume with backing filesystem"))
		}
	case FaultIOThrottle, FaultMemorySqueeze:
		// The restarted container's cgroup: any volume.
	case FaultReadahead:
		if !hasBacking(BackingFilesystem, BackingBlock) {
			errs = append(errs, field.Invalid(p.Child("type"), f.Type, "readahead needs a volume with backing filesystem or block (a block device of its own)"))
		}
		if slices.ContainsFunc(spec.Faults, func(o Fault) bool { return o.Type == FaultLateMount }) {
			// Its boot unit follows the volume's mount unit, which late-mount
			// keeps from running at boot: readahead would never be applied.
			errs = append(errs, field.Invalid(p.Child("type"), f.Type,
				"readahead cannot be combined with late-mount: late-mount keeps the volume's mount unit from running at boot, and readahead's boot unit runs after it, so readahead would never be applied"))
		}
	}
	only := func(name string, set bool, typ string) {
		if set && f.Type != typ {
			errs = append(errs, field.Forbidden(p.Child(name), "only applies to "+typ))
		}
	}
	only("readBPS", f.ReadBPS != nil, FaultIOThrottle)
	only("mountOptions", f.MountOptions != nil, FaultMountOptions)
	only("memoryLimit", f.MemoryLimit != "", FaultMemorySqueeze)
	only("readAheadKB", f.ReadAheadKB != nil, FaultReadahead)
	if r := f.ReadBPS; r != nil && f.Type == FaultIOThrottle {
		switch {
		case r.Problem() != "":
			errs = append(errs, field.Invalid(p.Child("readBPS"), nil, r.Problem()))
		case !finite(r.BytesPerSecond) || r.BytesPerSecond < 4096 || r.BytesPerSecond > 1e12:
			errs = append(errs, field.Invalid(p.Child("readBPS"), r.BytesPerSecond, "must be 4096B/s to 1000GB/s"))
		}
	}
	if f.Type == FaultMountOptions {
		errs = append(errs, validateFaultMountOptions(p.Child("mountOptions"), f, vols)...)
	}
	if f.Type == FaultMemorySqueeze {
		errs = append(errs, validateFaultMemory(p.Child("memoryLimit"), f, spec.Workload)...)
	}
	if kb := f.ReadAheadKB; kb != nil && f.Type == FaultReadahead && (*kb < 0 || *kb > MaxFaultReadAheadKB) {
		errs = append(errs, field.Invalid(p.Child("readAheadKB"), *kb,
			fmt.Sprintf("must be 0 to %d: the fault lowers readahead, at most to the kernel's floor, which a loop device gets back when it is detached", MaxFaultReadAheadKB)))
	}
	return errs
}

// validateFaultMountOptions checks the options the mount-options fault adds
// as the volumes' own: one option each, on the allow-list of every
// filesystem volume's type, and not one the volume already has (the boot
// would mount it as before).
func validateFaultMountOptions(p *field.Path, f Fault, vols []Volume) field.ErrorList {
	var errs field.ErrorList
	if f.MountOptions != nil && len(f.MountOptions) == 0 {
		errs = append(errs, field.Required(p, "give at least one option, or leave it out for the default [sync]"))
	}
	if len(f.MountOptions) > MaxFaultOptions {
		return append(errs, field.TooMany(p, len(f.MountOptions), MaxFaultOptions))
	}
	seen := map[string]bool{}
	for j, o := range f.BootMountOptions() {
		op := p.Index(j)
		switch {
		case strings.Contains(o, ","):
			errs = append(errs, field.Invalid(op, o, "one option per list item (write them as separate items)"))
			continue
		case !mountOptionRE.MatchString(o):
			errs = append(errs, field.Invalid(op, o, "must be one mount option of letters, digits and _.:=+/- (at most 128)"))
			continue
		case seen[o]:
			errs = append(errs, field.Duplicate(op, o))
			continue
		}
		seen[o] = true
		for i, v := range vols {
			if v.Backing != BackingFilesystem {
				continue
			}
			if err := CheckMountOption(v.FSType, o); err != nil {
				errs = append(errs, field.Invalid(op, o, fmt.Sprintf("volume %q: %v", v.Name, err)))
			} else if slices.Contains(v.MountOptions, o) {
				errs = append(errs, field.Invalid(op, o, fmt.Sprintf("spec.volumes[%d].mountOptions has it already: the next boot would mount %q as before", i, v.Name)))
			}
		}
	}
	return errs
}

// validateFaultMemory checks the memory-squeeze limit: a quantity the probe
// can run under, not one that kills it (the run would stop instead of
// failing its budgets). A readwrite copy's buffer of chunkSize is anonymous
// memory charged to the same cgroup, with room for the garbage collector's
// second: measured on kind, 16Mi chunks are killed under 32Mi and run under
// 48Mi.
func validateFaultMemory(p *field.Path, f Fault, w Workload) field.ErrorList {
	n, err := f.MemoryLimitBytes()
	if err != nil {
		return field.ErrorList{field.Invalid(p, f.MemoryLimit, err.Error())}
	}
	if n < MinFaultMemoryBytes || n > MaxFaultMemoryBytes {
		return field.ErrorList{field.Invalid(p, f.MemoryLimit, "must be 8Mi to 1Ti (below 8Mi the probe itself is killed for memory)")}
	}
	if m, _ := probe.ParseMethod(w.Method); m == probe.MethodReadWrite {
		if chunk, err := ParseBytes(w.ChunkSize); err == nil && n < 2*chunk+2*MinFaultMemoryBytes {
			return field.ErrorList{field.Invalid(p, f.MemoryLimit, fmt.Sprintf("a readwrite copy holds buffers of chunkSize %s in the same cgroup: must be at least 2 x chunkSize + 16Mi (%s)",
				w.ChunkSize, probe.FormatSize(2*chunk+2*MinFaultMemoryBytes)))}
		}
	}
	return nil
}
