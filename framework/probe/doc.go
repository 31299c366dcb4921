// Package probe measures file copies the way the Local PV regression shows them:
// per-syscall latency of sendfile, copy_file_range or read/write, with what each
// copy found (the source's page cache residency before the first call, whether
// data moved or extents were shared) and the environment (mount, cgroup limits
// and memory usage, sysctls, readahead) that explains a change.
// It imports only the standard library, golang.org/x/sys and gonum's stat.
package probe
