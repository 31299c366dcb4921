package scenario

import (
	"path"
	"slices"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/pvreboot/pvreboot/framework/trace"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxArgv bounds the arguments of a workload command.
const MaxArgv = 64

// validateExec checks workload.exec: argv of printable text, the
// syscalls known to the tracer, the measured one among them, absolute
// evict paths (needed with cache cold), and no probe exec template beside it.
func validateExec(p *field.Path, w Workload, vols []Volume) field.ErrorList {
	e := w.Exec
	if e == nil {
		return nil
	}
	ep := p.Child("exec")
	var errs field.ErrorList
	if len(e.Command) == 0 {
		errs = append(errs, field.Required(ep.Child("command"), "the command to run and trace, an argv such as [/bin/busybox, cp, /data/src, /data/dst]"))
	}
	errs = append(errs, argv(ep.Child("command"), e.Command)...)
	errs = append(errs, argv(ep.Child("setup"), e.Setup)...)
	sys, err := trace.ParseSyscalls(e.Syscalls)
	if err != nil {
		errs = append(errs, field.Invalid(ep.Child("syscalls"), e.Syscalls, err.Error()))
	}
	if e.Measure != "" {
		m, err := trace.ParseSyscalls([]string{e.Measure})
		switch {
		case err != nil:
			errs = append(errs, field.Invalid(ep.Child("measure"), e.Measure, err.Error()))
		case sys != nil && !slices.Contains(sys, m[0]):
			errs = append(errs, field.Invalid(ep.Child("measure"), e.Measure, "must be one of the traced syscalls"))
		}
	}
	for i, f := range e.Evict {
		if !path.IsAbs(f) || path.Clean(f) != f {
			errs = append(errs, field.Invalid(ep.Child("evict").Index(i), f, "must be a clean absolute path in the container"))
		}
		errs = append(errs, text(ep.Child("evict").Index(i), f, false)...)
	}
	if w.Cache == string(probe.CacheCold) && len(e.Evict) == 0 {
		errs = append(errs, field.Required(ep.Child("evict"), "cache cold needs the files whose page cache is dropped before each run (the command's sources), or cache: warm"))
	}
	if w.ExecCommand != "" {
		errs = append(errs, field.Forbidden(p.Child("execCommand"), "the probe's exec template is not used with exec (the user's command, traced)"))
	}
	if len(vols) > 0 && vols[0].Backing == BackingBlock {
		errs = append(errs, field.Forbidden(ep, "not with a block volume: the command runs on files under /data"))
	}
	return errs
}

// argv checks a command's arguments: bounded, printable, the program an
// absolute path.
func argv(p *field.Path, a []string) field.ErrorList {
	var errs field.ErrorList
	if len(a) > MaxArgv {
		errs = append(errs, field.TooMany(p, len(a), MaxArgv))
	}
	if len(a) > 0 && !path.IsAbs(a[0]) {
		errs = append(errs, field.Invalid(p.Index(0), a[0], "the program must be an absolute path in the container"))
	}
	for i, s := range a {
		errs = append(errs, text(p.Index(i), s, false)...)
	}
	return errs
}
