// Package trace measures the per-call latency and bytes of chosen syscalls
// made by the processes of one container, selected by cgroup (v1 or v2),
// with eBPF programs on the sys_enter/sys_exit raw tracepoints; results
// have the probe's shape (pvreboot.dev/probe/v1, method trace:<syscall>).
//
// It owns the BPF program (built with cilium/ebpf's asm package), finding a
// container's cgroup from the host's /proc, and the ring buffer and
// histogram readers. It needs BTF (/sys/kernel/btf/vmlinux), tp_btf
// programs and task storage for tracing programs: Linux 5.11 or later. It must not import runner, workload, Kubernetes
// clients or anything under cmd/ and e2e/.
package trace
