package trace

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// RuntimeContainerID is the runtime's ID in a pod status's containerID
// ("containerd://ID", "cri-o://ID", "docker://ID").
func RuntimeContainerID(statusID string) (string, error) {
	_, id, ok := strings.Cut(statusID, "://")
	if !ok || len(id) < 12 || strings.Trim(id, "0123456789abcdef") != "" {
		return "", fmt.Errorf("container ID %q: want RUNTIME://HEXID", statusID)
	}
	return id, nil
}

// EvictFile drops the page cache of a file as the process pid sees it
// (its mount namespace, through procRoot/PID/root; symlinks resolve inside
// that root, never out to the host's), so that the next read of it comes
// from its device: a cold cache for a traced command. Dirty pages are
// written first.
func EvictFile(procRoot string, pid int, path string) error {
	if !filepath.IsAbs(path) {
		return fmt.Errorf("evict %s: not an absolute path", path)
	}
	root, err := unix.Open(filepath.Join(procRoot, strconv.Itoa(pid), "root"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("evict %s in pid %d: root: %w", path, pid, err)
	}
	defer unix.Close(root)
	fd, err := unix.Openat2(root, strings.TrimPrefix(path, "/"), &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return fmt.Errorf("evict %s in pid %d: %w", path, pid, err)
	}
	defer unix.Close(fd)
	if err := unix.Fdatasync(fd); err != nil {
		return fmt.Errorf("evict %s in pid %d: fdatasync: %w", path, pid, err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("evict %s in pid %d: fadvise: %w", path, pid, err)
	}
	return nil
}

// KernelPIDs reports whether the host's procfs numbers processes as the
// kernel's first PID namespace does: the numbers a trace's samples carry
// and Options.Exclude takes. A node in a container (a kind node, seen from
// its hostPID pods) numbers them in a namespace of its own, from which the
// kernel's numbers cannot be learnt. The namespace is its init's, or where
// that is kept from us this process's (a hostPID pod's is the node's); a
// procfs without namespace links (a test's fake /proc) is taken at its word.
func (h Host) KernelPIDs() bool {
	for _, who := range []string{"1", "self"} {
		if ino, err := nsIno(filepath.Join(h.proc(), who, "ns", "pid")); err == nil {
			return ino == initialPIDNamespaceIno
		}
	}
	return true
}
