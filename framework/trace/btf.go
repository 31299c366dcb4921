package trace

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/btf"
)

// kernelLayout holds the offsets the v1 cgroup walk reads, found in the
// running kernel's BTF (the program is assembled for this kernel, so no
// relocation is needed).
type kernelLayout struct {
	taskCgroups int32 // task_struct.cgroups (struct css_set *)
	cssSetSubsy int32 // css_set.subsys[subsysID] (struct cgroup_subsys_state *)
	cssCgroup   int32 // cgroup_subsys_state.cgroup
	cssParent   int32 // cgroup_subsys_state.parent
	cgroupKn    int32 // cgroup.kn
	kernfsID    int32 // kernfs_node.id (u64 since Linux 5.5)
}

// taskLayout holds the offsets both programs read whatever the cgroup
// version.
type taskLayout struct {
	nr   int32 // pt_regs' syscall number
	pid  int32 // task_struct.pid (the thread)
	tgid int32 // task_struct.tgid (the process)
}

// layoutTask finds the syscall number and the task's pid and tgid, read
// from the task the programs have at hand instead of by a helper.
func layoutTask(spec *btf.Spec) (taskLayout, error) {
	var l taskLayout
	var errs []error
	var err error
	l.nr, err = syscallNrOffset(spec)
	errs = append(errs, err)
	l.pid, err = memberOffset(spec, "task_struct", "pid")
	errs = append(errs, err)
	l.tgid, err = memberOffset(spec, "task_struct", "tgid")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return taskLayout{}, fmt.Errorf("kernel layout of tasks: %w", err)
	}
	return l, nil
}

// syscallNrOffset is where struct pt_regs keeps the syscall number
// (x86's orig_ax, arm64's syscallno), for the exit program to skip other
// syscalls before any helper call.
func syscallNrOffset(spec *btf.Spec) (int32, error) {
	var errs []error
	for _, m := range []string{"orig_ax", "syscallno"} {
		off, err := memberOffset(spec, "pt_regs", m)
		if err == nil {
			return off, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("syscall number in pt_regs: %w", errors.Join(errs...))
}

// ErrNoBTF is a kernel without BTF (/sys/kernel/btf/vmlinux): the v1
// cgroup walk cannot be laid out.
var ErrNoBTF = errors.New("the kernel has no BTF (/sys/kernel/btf/vmlinux), needed to select a cgroup v1 container")

func memberOffset(spec *btf.Spec, structName, member string) (int32, error) {
	var s *btf.Struct
	if err := spec.TypeByName(structName, &s); err != nil {
		return 0, fmt.Errorf("struct %s: %w", structName, err)
	}
	for _, m := range s.Members {
		if m.Name == member {
			if m.Offset%8 != 0 {
				return 0, fmt.Errorf("%s.%s is a bitfield", structName, member)
			}
			return int32(m.Offset / 8), nil
		}
	}
	return 0, fmt.Errorf("struct %s has no member %s", structName, member)
}

func enumValue(spec *btf.Spec, enumName, value string) (int64, error) {
	var e *btf.Enum
	if err := spec.TypeByName(enumName, &e); err != nil {
		return 0, fmt.Errorf("enum %s: %w", enumName, err)
	}
	for _, v := range e.Values {
		if v.Name == value {
			return int64(v.Value), nil
		}
	}
	return 0, fmt.Errorf("enum %s has no %s (controller not built into this kernel)", enumName, value)
}

// layoutV1 finds the offsets for a v1 controller's hierarchy.
func layoutV1(spec *btf.Spec, controller string) (kernelLayout, error) {
	var l kernelLayout
	var errs []error
	get := func(dst *int32, s, m string) {
		off, err := memberOffset(spec, s, m)
		errs = append(errs, err)
		*dst = off
	}
	get(&l.taskCgroups, "task_struct", "cgroups")
	get(&l.cssSetSubsy, "css_set", "subsys")
	get(&l.cssCgroup, "cgroup_subsys_state", "cgroup")
	get(&l.cssParent, "cgroup_subsys_state", "parent")
	get(&l.cgroupKn, "cgroup", "kn")
	get(&l.kernfsID, "kernfs_node", "id")
	id, err := enumValue(spec, "cgroup_subsys_id", controller+"_cgrp_id")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return kernelLayout{}, fmt.Errorf("kernel layout for cgroup v1 %s: %w", controller, err)
	}
	l.cssSetSubsy += int32(id) * 8
	return l, nil
}
