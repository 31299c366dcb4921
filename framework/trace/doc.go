// Package trace measures the per-call latency and bytes of chosen syscalls
// made by the processes of one container, selected by cgroup (v1 or v2),
// with eBPF programs on the sys_enter/sys_exit raw tracepoints; results
// have the probe's shape (pvreboot.dev/probe/v1, method trace:<syscall>).
//
// Agent is the tracer driven by a line protocol (begin, end, evict PATH):
// in-process on a host that shares the node's kernel (kind), and as
// `copyprobe trace-agent` in a privileged hostPID node helper pod, where it
// reads the host's cgroup mounts through PID 1 (Host).
//
// It owns the BPF program (built with cilium/ebpf's asm package), finding a
// container's cgroup from the host's /proc, and the ring buffer and
// histogram readers. It needs BTF (/sys/kernel/btf/vmlinux), tp_btf
// programs and task storage for tracing programs: Linux 5.11 or later. It must not import runner, workload, Kubernetes
// clients or anything under cmd/ and e2e/.
package trace
