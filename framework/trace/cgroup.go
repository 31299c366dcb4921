package trace

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroup is the cgroup whose processes (and those of its descendants) are
// traced.
//
// On cgroup v2 (a unified-only host) it is the process's cgroup in the
// unified hierarchy: bpf_get_current_ancestor_cgroup_id at Level matches it
// and its descendants. On cgroup v1 or a hybrid host the unified hierarchy
// does not separate containers (a kind node's pods all share the node's
// unified cgroup, or the root), and the BPF cgroup-id helpers only see that
// hierarchy, so the program reads the task's cgroup in one v1 controller's
// hierarchy (Controller: the current task's css_set->subsys[id]->cgroup)
// through the kernel's BTF and walks up to MaxDepth ancestors comparing
// kernfs ids.
type Cgroup struct {
	// Version is 1 or 2.
	Version int `json:"version"`
	// Controller is the v1 hierarchy used (pids, memory, cpu, ...); empty on v2.
	Controller string `json:"controller,omitempty"`
	// Path is the cgroup's path inside its hierarchy ("/kubepods/...").
	Path string `json:"path"`
	// Dir is the cgroup's directory on this host.
	Dir string `json:"dir"`
	// ID is the cgroup's kernfs id (the inode number of Dir on 64-bit hosts,
	// and what bpf_get_current_cgroup_id returns on v2).
	ID uint64 `json:"id"`
	// Level is the cgroup's depth below its hierarchy's root (root = 0).
	Level int `json:"level"`
}

// v1Controllers are tried in order for a v1 hierarchy: each is mounted on
// every systemd host and every container runtime places containers in it.
func v1Controllers() []string {
	return []string{"pids", "memory", "cpu", "blkio", "cpuacct", "devices", "freezer"}
}

// ErrNoContainer is a container ID no process on this host runs in.
var ErrNoContainer = errors.New("no process of the container on this host")

// Mount of a cgroup hierarchy.
type cgroupMount struct {
	dir         string
	v2          bool
	controllers []string
}

// Host is where the processes and the cgroup hierarchies of the kernel
// are read from. The zero value is this process's own view: /proc and the
// hierarchies mounted where it runs.
//
// In a privileged hostPID pod (the node helper) /proc numbers the node's
// processes, but the pod's own /sys/fs/cgroup is its container's view (a
// subtree, or its own cgroup namespace); MountsOf 1 reads the node's
// hierarchies as the node's init sees them: from Proc/1/mountinfo, reached
// through Proc/1/root, with cgroup paths read in its cgroup namespace.
type Host struct {
	// Proc is a procfs of the processes' PID namespace; "" means /proc.
	Proc string
	// MountsOf is the process (as Proc numbers it) whose mounts and cgroup
	// namespace hold the hierarchies; 0 means this process.
	MountsOf int
}

func (h Host) proc() string {
	if h.Proc == "" {
		return "/proc"
	}
	return h.Proc
}

// cgroupMounts reads the cgroup hierarchies mounted in procRoot/self/mountinfo.
func cgroupMounts(procRoot string) ([]cgroupMount, error) {
	return Host{Proc: procRoot}.cgroupMounts()
}

// mountinfo is the mount table read: MountsOf's, or this process's.
func (h Host) mountinfo() string {
	who := "self"
	if h.MountsOf != 0 {
		who = strconv.Itoa(h.MountsOf)
	}
	return filepath.Join(h.proc(), who, "mountinfo")
}

// cgroupMounts reads the cgroup hierarchies in the mountinfo of MountsOf
// (or of this process); their directories are reached through its root.
func (h Host) cgroupMounts() ([]cgroupMount, error) {
	prefix := ""
	if h.MountsOf != 0 {
		prefix = filepath.Join(h.proc(), strconv.Itoa(h.MountsOf), "root")
	}
	f, err := os.Open(h.mountinfo())
	if err != nil {
		return nil, fmt.Errorf("read cgroup mounts: %w", err)
	}
	defer f.Close()
	var out []cgroupMount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		pf, sf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(sf) < 3 || pf[3] != "/" {
			continue
		}
		dir := unescapeMount(pf[4])
		if prefix != "" {
			dir = filepath.Join(prefix, dir)
		}
		switch sf[0] {
		case "cgroup2":
			out = append(out, cgroupMount{dir: dir, v2: true})
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(sf[2], ",") {
				if slices.Contains(v1Controllers(), o) {
					ctrls = append(ctrls, o)
				}
			}
			out = append(out, cgroupMount{dir: dir, controllers: ctrls})
		}
	}
	return out, sc.Err()
}

func unescapeMount(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// procCgroups reads /proc/PID/cgroup: hierarchy controllers (or "" for
// the unified one) to path.
func procCgroups(procRoot string, pid int) (v1 map[string]string, v2 string, hasV2 bool, err error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, "", false, err
	}
	v1 = map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2, hasV2 = parts[2], true
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			v1[c] = parts[2]
		}
	}
	return v1, v2, hasV2, nil
}

// CgroupOfPID finds the cgroup to trace for the process pid (as procRoot,
// normally /proc, numbers it): its unified cgroup on a v2-only host, else
// its cgroup in the first v1 controller hierarchy that is mounted.
func CgroupOfPID(procRoot string, pid int) (Cgroup, error) {
	return Host{Proc: procRoot}.CgroupOfPID(pid)
}

// CgroupOfPID is the package's CgroupOfPID in the host's view.
func (h Host) CgroupOfPID(pid int) (Cgroup, error) {
	var cg Cgroup
	err := h.inCgroupNamespace(func() error {
		var err error
		cg, err = h.cgroupOfPID(pid)
		return err
	})
	return cg, err
}

func (h Host) cgroupOfPID(pid int) (Cgroup, error) {
	mounts, err := h.cgroupMounts()
	if err != nil {
		return Cgroup{}, err
	}
	v1, v2, hasV2, err := procCgroups(h.proc(), pid)
	if err != nil {
		return Cgroup{}, fmt.Errorf("cgroup of pid %d: %w", pid, err)
	}
	if len(mounts) == 0 {
		return Cgroup{}, fmt.Errorf("cgroup of pid %d: %s mounts the root of no cgroup hierarchy", pid, h.mountinfo())
	}
	anyV1 := false
	for _, m := range mounts {
		anyV1 = anyV1 || !m.v2
	}
	if !anyV1 {
		for _, m := range mounts {
			if m.v2 && hasV2 {
				if err := h.initialCgroupNamespace(); err != nil {
					return Cgroup{}, fmt.Errorf("cgroup of pid %d: %w", pid, err)
				}
				return newCgroup(2, "", m.dir, v2)
			}
		}
		return Cgroup{}, fmt.Errorf("cgroup of pid %d: no cgroup2 mount holds it", pid)
	}
	for _, c := range v1Controllers() {
		p, ok := v1[c]
		if !ok {
			continue
		}
		for _, m := range mounts {
			if slices.Contains(m.controllers, c) {
				return newCgroup(1, c, m.dir, p)
			}
		}
	}
	return Cgroup{}, fmt.Errorf("cgroup of pid %d: none of the v1 controllers %s is mounted", pid, strings.Join(v1Controllers(), ", "))
}

// The inode numbers of the kernel's first cgroup and PID namespaces
// (PROC_CGROUP_INIT_INO and PROC_PID_INIT_INO in include/linux/proc_ns.h):
// fixed, so a namespace can be told the first from its /proc/PID/ns link.
const (
	initialCgroupNamespaceIno = 0xEFFFFFFB
	initialPIDNamespaceIno    = 0xEFFFFFFC
)

// nsIno is the inode number of a namespace link (/proc/PID/ns/NAME).
func nsIno(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// initialCgroupNamespace checks that cgroup paths are read in the kernel's
// first cgroup namespace: a v2 cgroup is selected by its level below the
// hierarchy's root, and paths read in another namespace start at that
// namespace's root, at an unknown depth. A procfs without namespace links
// (a test's fake /proc) is taken at its word.
func (h Host) initialCgroupNamespace() error {
	ino, err := nsIno(filepath.Join(h.proc(), "thread-self", "ns", "cgroup"))
	if err != nil || ino == initialCgroupNamespaceIno {
		return nil
	}
	return fmt.Errorf("cgroup v2 read in a cgroup namespace that is not the kernel's first (a node in a container?): "+
		"the cgroup's depth in the hierarchy, by which the kernel selects its processes, is unknown: %w", ErrUnsupportedView)
}

// ErrUnsupportedView is a host whose processes cannot be selected from
// where they are read.
var ErrUnsupportedView = errors.New("cannot select the container's processes from this view of the host")

// inCgroupNamespace runs f where /proc/PID/cgroup and mountinfo show cgroup
// paths as MountsOf sees them: in its cgroup namespace (paths read in
// another, such as a pod's own, start with "/.." or are cut short). When
// that is not this thread's namespace, f runs on a thread of its own that
// joins it (CAP_SYS_ADMIN) and is thrown away after: Go cannot hand a
// thread in another namespace back to other goroutines.
func (h Host) inCgroupNamespace(f func() error) error {
	if h.MountsOf == 0 {
		return f()
	}
	target := filepath.Join(h.proc(), strconv.Itoa(h.MountsOf), "ns", "cgroup")
	want, err := nsIno(target)
	if err != nil {
		// No namespace links (a fake /proc): nothing to join.
		return f()
	}
	if have, err := nsIno(filepath.Join(h.proc(), "thread-self", "ns", "cgroup")); err == nil && have == want {
		return f()
	}
	done := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with this goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open(target, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- fmt.Errorf("join the cgroup namespace of pid %d: %w", h.MountsOf, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWCGROUP)
		unix.Close(fd)
		if err != nil {
			done <- fmt.Errorf("join the cgroup namespace of pid %d: %w", h.MountsOf, err)
			return
		}
		done <- f()
	}()
	return <-done
}

func newCgroup(version int, ctrl, mountDir, path string) (Cgroup, error) {
	dir := filepath.Join(mountDir, filepath.FromSlash(path))
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return Cgroup{}, fmt.Errorf("cgroup %s: %w", dir, err)
	}
	level := 0
	for _, p := range strings.Split(strings.Trim(path, "/"), "/") {
		if p != "" {
			level++
		}
	}
	return Cgroup{Version: version, Controller: ctrl, Path: path, Dir: dir, ID: st.Ino, Level: level}, nil
}

// Procs lists the processes (TGIDs) in the cgroup now, descendants not included.
func (c Cgroup) Procs() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("processes of cgroup %s: %w", c.Dir, err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out, nil
}

// ContainerPIDs finds the host processes of a container by its runtime ID
// (the hex ID from a pod's containerID "containerd://ID", without the
// scheme): every container runtime names the container's own cgroup after
// its ID (cgroupfs ".../ID", systemd ".../cri-containerd-ID.scope",
// "docker-ID.scope"). The kernel is shared with kind nodes, so this finds a
// kind pod's processes from the host.
func ContainerPIDs(procRoot, containerID string) ([]int, error) {
	return Host{Proc: procRoot}.ContainerPIDs(containerID)
}

// ContainerPIDs is the package's ContainerPIDs in the host's view.
func (h Host) ContainerPIDs(containerID string) ([]int, error) {
	if len(containerID) < 12 || strings.Trim(containerID, "0123456789abcdef") != "" {
		return nil, fmt.Errorf("container ID %q: want the runtime's hex ID (at least 12 digits), without a scheme", containerID)
	}
	ents, err := os.ReadDir(h.proc())
	if err != nil {
		return nil, fmt.Errorf("find container %.12s: %w", containerID, err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(h.proc(), e.Name(), "cgroup"))
		if err != nil {
			continue // gone, or a kernel thread's race
		}
		for _, line := range strings.Split(string(b), "\n") {
			parts := strings.SplitN(line, ":", 3)
			if len(parts) == 3 && strings.Contains(filepath.Base(parts[2]), containerID) {
				pids = append(pids, pid)
				break
			}
		}
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("find container %.12s: %w", containerID, ErrNoContainer)
	}
	slices.Sort(pids)
	return pids, nil
}

// CgroupOfContainer is the cgroup of a container found by ContainerPIDs.
func CgroupOfContainer(procRoot, containerID string) (Cgroup, []int, error) {
	return Host{Proc: procRoot}.CgroupOfContainer(containerID)
}

// CgroupOfContainer is the package's CgroupOfContainer in the host's view;
// the processes are in order of their PIDs.
func (h Host) CgroupOfContainer(containerID string) (Cgroup, []int, error) {
	pids, err := h.ContainerPIDs(containerID)
	if err != nil {
		return Cgroup{}, nil, err
	}
	var cg Cgroup
	err = h.inCgroupNamespace(func() error {
		var errs []error
		for _, pid := range pids {
			c, err := h.cgroupOfPID(pid)
			if err == nil {
				cg = c
				return nil
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	if err != nil {
		return Cgroup{}, pids, fmt.Errorf("cgroup of container %.12s: %w", containerID, err)
	}
	return cg, pids, nil
}
