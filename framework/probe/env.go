package probe

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Env describes where a probe ran: what later explains a regression
// ("after reboot the volume is on 0:45 overlay, before on 7:0 ext4").
type Env struct {
	KernelRelease string            `json:"kernelRelease"`
	BootID        string            `json:"bootID"`
	Hostname      string            `json:"hostname"`
	Mount         Mount             `json:"mount"`
	StatfsType    string            `json:"statfsType"`
	Cgroup        Cgroup            `json:"cgroup"`
	Sysctls       map[string]string `json:"sysctls"`
	Device        *BlockDevice      `json:"device,omitempty"`
	// Notes say what could not be read, so that a missing value is explained.
	Notes []string `json:"notes,omitempty"`
}

// Mount is the /proc/self/mountinfo entry that holds the probed directory.
type Mount struct {
	MountID      int    `json:"mountID"`
	MajorMinor   string `json:"majorMinor"`
	Root         string `json:"root"`
	MountPoint   string `json:"mountPoint"`
	MountOptions string `json:"mountOptions"`
	FSType       string `json:"fsType"`
	Source       string `json:"source"`
	SuperOptions string `json:"superOptions"`
}

// Cgroup holds this process's cgroup version, paths and limit files.
type Cgroup struct {
	Version string `json:"version"` // "v1", "v2" or "hybrid"
	// Paths maps a controller ("memory", "blkio", or "" for v2) to the
	// cgroup path of this process.
	Paths map[string]string `json:"paths"`
	// Limits maps a limit file name (memory.limit_in_bytes, io.max, ...) to
	// its trimmed content; multi-line contents are joined with "; ".
	// Limits are causes: what the cgroup allows.
	Limits map[string]string `json:"limits"`
	// Memory holds the memory cgroup's usage and pressure, symptoms of its
	// limits: keyed by the file name without "memory." and, for keyed
	// files, ".key" (v1 "failcnt", "usage_in_bytes", "stat.total_dirty";
	// v2 "current", "events.max", "pressure.some.avg10", "stat.file_dirty").
	// In a probe Report they are read after the copies, so counters include
	// what the copies caused.
	Memory map[string]string `json:"memory,omitempty"`
}

// CgroupRoot is where the cgroup hierarchy is mounted.
const CgroupRoot = "/sys/fs/cgroup"

// BlockDevice is the block device behind the mount, when resolvable.
type BlockDevice struct {
	Name        string `json:"name"`
	MajorMinor  string `json:"majorMinor"`
	SizeBytes   int64  `json:"sizeBytes,omitempty"`
	ReadAheadKB int64  `json:"readAheadKB"`
	Rotational  *bool  `json:"rotational,omitempty"`
	Scheduler   string `json:"scheduler,omitempty"`
	BackingFile string `json:"backingFile,omitempty"`
	// DirectIO says whether a loop device reads and writes its backing file
	// with O_DIRECT (loop/dio), bypassing the page cache of the file.
	DirectIO *bool `json:"directIO,omitempty"`
}

// Sysctls read into the env block.
var sysctlNames = []string{
	"vm.dirty_ratio", "vm.dirty_background_ratio", "vm.dirty_bytes",
	"vm.dirty_background_bytes", "vm.dirty_expire_centisecs", "vm.dirty_writeback_centisecs",
}

var v1LimitFiles = map[string][]string{
	"memory": {"memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.memsw.limit_in_bytes"},
	"blkio": {"blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device",
		"blkio.throttle.read_iops_device", "blkio.throttle.write_iops_device", "blkio.weight"},
}

var v2LimitFiles = []string{"memory.max", "memory.high", "memory.low", "io.max", "io.weight"}

// Memory cgroup usage and pressure: plain files, and the keys read from
// keyed files. v1 memory.stat keys are read as total_<key> (this cgroup and
// its descendants) where the kernel has them.
var (
	v1MemoryFiles    = []string{"usage_in_bytes", "max_usage_in_bytes", "failcnt"}
	v1MemoryStatKeys = []string{"cache", "dirty", "writeback", "pgmajfault"}
	v2MemoryFiles    = []string{"current"}
	v2MemoryEvents   = []string{"high", "max", "oom", "oom_kill"}
	v2MemoryStatKeys = []string{"file", "file_dirty", "file_writeback", "pgmajfault"}
)

// CollectEnv reads the environment of dir. Missing optional facts are
// recorded in Notes; only an unreadable dir is an error.
func CollectEnv(dir string) (Env, error) {
	var env Env
	abs, err := filepath.Abs(dir)
	if err != nil {
		return env, fmt.Errorf("dir %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return env, fmt.Errorf("dir %q: %w", dir, err)
	}
	common(&env)
	env.Mount, err = mountOf(real)
	if err != nil {
		env.Notes = append(env.Notes, err.Error())
	}
	var st unix.Statfs_t
	if err := unix.Statfs(real, &st); err != nil {
		env.Notes = append(env.Notes, fmt.Sprintf("statfs %s: %v", real, err))
	} else {
		env.StatfsType = FSTypeName(int64(st.Type))
	}
	if env.Mount.MajorMinor != "" {
		dev, err := blockDevice(env.Mount.MajorMinor)
		if err != nil {
			env.Notes = append(env.Notes, err.Error())
		} else {
			env.Device = dev
		}
	}
	return env, nil
}

// CollectDeviceEnv reads the environment of a block device probed raw: no
// mount or filesystem, the device itself (size, queue, loop backing file).
func CollectDeviceEnv(device string) (Env, error) {
	var env Env
	var st unix.Stat_t
	if err := unix.Stat(device, &st); err != nil {
		return env, fmt.Errorf("device %q: %w", device, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return env, fmt.Errorf("device %q: not a block device", device)
	}
	common(&env)
	majmin := fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
	dev, err := blockDevice(majmin)
	if err != nil {
		env.Notes = append(env.Notes, err.Error())
		dev = &BlockDevice{MajorMinor: majmin}
	}
	if f, err := os.Open(device); err == nil {
		if n, err := unix.IoctlGetUint64(int(f.Fd()), unix.BLKGETSIZE64); err == nil {
			dev.SizeBytes = int64(n)
		}
		f.Close()
	}
	env.Device = dev
	env.Notes = append(env.Notes, "block device probed raw: no mount or filesystem")
	return env, nil
}

// common fills what does not depend on the probed path.
func common(env *Env) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		env.KernelRelease = unix.ByteSliceToString(uts.Release[:])
	}
	env.Hostname, _ = os.Hostname()
	env.BootID = readTrim("/proc/sys/kernel/random/boot_id", &env.Notes)
	env.Cgroup = readCgroup(&env.Notes)
	env.Sysctls = map[string]string{}
	for _, s := range sysctlNames {
		p := "/proc/sys/" + strings.ReplaceAll(s, ".", "/")
		if b, err := os.ReadFile(p); err == nil {
			env.Sysctls[s] = strings.TrimSpace(string(b))
		}
	}
}

func readTrim(path string, notes *[]string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		*notes = append(*notes, fmt.Sprintf("read %s: %v", path, err))
		return ""
	}
	return strings.TrimSpace(string(b))
}

// mountOf finds the mountinfo entry whose mount point is the longest prefix
// of path; the last such entry wins, as it is the one on top.
func mountOf(path string) (Mount, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return Mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	return findMount(bufio.NewScanner(f), path)
}

func findMount(sc *bufio.Scanner, path string) (Mount, error) {
	var best Mount
	found := false
	for sc.Scan() {
		m, err := ParseMountInfoLine(sc.Text())
		if err != nil {
			continue
		}
		if !isUnder(path, m.MountPoint) {
			continue
		}
		if !found || len(m.MountPoint) >= len(best.MountPoint) {
			best, found = m, true
		}
	}
	if err := sc.Err(); err != nil {
		return Mount{}, fmt.Errorf("read mountinfo: %w", err)
	}
	if !found {
		return Mount{}, fmt.Errorf("no mount holds %s", path)
	}
	return best, nil
}

func isUnder(path, mp string) bool {
	if mp == "/" {
		return true
	}
	return path == mp || strings.HasPrefix(path, mp+"/")
}

// ParseMountInfoLine parses one line of /proc/PID/mountinfo (proc(5)).
func ParseMountInfoLine(line string) (Mount, error) {
	fields := strings.Fields(line)
	sep := -1
	for i, f := range fields {
		if f == "-" {
			sep = i
			break
		}
	}
	if len(fields) < 10 || sep < 6 || len(fields) < sep+4 {
		return Mount{}, fmt.Errorf("malformed mountinfo line %q", line)
	}
	id, err := strconv.Atoi(fields[0])
	if err != nil {
		return Mount{}, fmt.Errorf("malformed mountinfo line %q: %w", line, err)
	}
	return Mount{
		MountID:      id,
		MajorMinor:   fields[2],
		Root:         unescapeMountField(fields[3]),
		MountPoint:   unescapeMountField(fields[4]),
		MountOptions: fields[5],
		FSType:       fields[sep+1],
		Source:       unescapeMountField(fields[sep+2]),
		SuperOptions: fields[sep+3],
	}, nil
}

// unescapeMountField undoes the kernel's octal escapes (\040 for space).
func unescapeMountField(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FSTypeName names a statfs f_type magic number.
func FSTypeName(t int64) string {
	names := map[int64]string{
		0xEF53: "ext4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
		0x794c7630: "overlay", 0x6969: "nfs", 0x65735546: "fuse", 0x2fc12fc1: "zfs",
		0x9fa0: "proc", 0x62656572: "sysfs", 0x4d44: "vfat", 0x858458f6: "ramfs",
		0x27e0eb: "cgroup", 0x63677270: "cgroup2", 0xf2f52010: "f2fs", 0x5346544e: "ntfs",
	}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("0x%x", t)
}

func readCgroup(notes *[]string) Cgroup {
	cg := Cgroup{Paths: map[string]string{}, Limits: map[string]string{}}
	var st unix.Statfs_t
	if err := unix.Statfs(CgroupRoot, &st); err != nil {
		*notes = append(*notes, fmt.Sprintf("statfs %s: %v", CgroupRoot, err))
		return cg
	}
	version := "v1"
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		version = "v2"
	} else if _, err := os.Stat(filepath.Join(CgroupRoot, "unified", "cgroup.controllers")); err == nil {
		version = "hybrid"
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		cg.Version = version
		*notes = append(*notes, fmt.Sprintf("read /proc/self/cgroup: %v", err))
		return cg
	}
	return readCgroupAt(CgroupRoot, version, string(b))
}

// readCgroupAt reads the limit and memory files of the cgroups that
// procSelfCgroup (the content of /proc/PID/cgroup) names, under root laid
// out as version ("v1" and "hybrid": root/<controller>/<path>; "v2":
// root/<path>).
func readCgroupAt(root, version, procSelfCgroup string) Cgroup {
	cg := Cgroup{Version: version, Paths: map[string]string{}, Limits: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSpace(procSelfCgroup), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			cg.Paths[ctrl] = parts[2]
		}
	}
	if version == "v2" {
		for _, f := range v2LimitFiles {
			if v, ok := readLimit(root, cg.Paths[""], f); ok {
				cg.Limits[f] = v
			}
		}
	} else {
		for ctrl, files := range v1LimitFiles {
			for _, f := range files {
				if v, ok := readLimit(filepath.Join(root, ctrl), cg.Paths[ctrl], f); ok {
					cg.Limits[f] = v
				}
			}
		}
	}
	cg.Memory = readMemory(root, cg.Version, cg.Paths)
	return cg
}

// RefreshMemory reads the memory cgroup's usage and pressure again (after
// a probe's copies), from the cgroup recorded in Paths.
func (cg *Cgroup) RefreshMemory() {
	if cg.Version == "" {
		return
	}
	cg.Memory = readMemory(CgroupRoot, cg.Version, cg.Paths)
}

// readMemory reads usage and pressure of the memory cgroup at paths; nil
// when there is none.
func readMemory(root, version string, paths map[string]string) map[string]string {
	m := map[string]string{}
	if version == "v2" {
		path := paths[""]
		for _, f := range v2MemoryFiles {
			if v, ok := readLimit(root, path, "memory."+f); ok {
				m[f] = v
			}
		}
		if kv, ok := readKeyed(root, path, "memory.events"); ok {
			for _, k := range v2MemoryEvents {
				if v, ok := kv[k]; ok {
					m["events."+k] = v
				}
			}
		}
		if kv, ok := readKeyed(root, path, "memory.stat"); ok {
			for _, k := range v2MemoryStatKeys {
				if v, ok := kv[k]; ok {
					m["stat."+k] = v
				}
			}
		}
		for k, v := range readPressure(root, path, "memory.pressure") {
			m["pressure."+k] = v
		}
	} else {
		mroot, path := filepath.Join(root, "memory"), paths["memory"]
		for _, f := range v1MemoryFiles {
			if v, ok := readLimit(mroot, path, "memory."+f); ok {
				m[f] = v
			}
		}
		if kv, ok := readKeyed(mroot, path, "memory.stat"); ok {
			for _, k := range v1MemoryStatKeys {
				if v, ok := kv["total_"+k]; ok {
					m["stat.total_"+k] = v
				} else if v, ok := kv[k]; ok {
					m["stat."+k] = v
				}
			}
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// readKeyed reads a flat keyed cgroup file ("key value" per line).
func readKeyed(root, path, file string) (map[string]string, bool) {
	b, ok := readCgroupFile(root, path, file)
	if !ok {
		return nil, false
	}
	kv := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			kv[f[0]] = f[1]
		}
	}
	return kv, true
}

// readPressure reads a PSI file ("some avg10=0.00 avg60=0.00 avg300=0.00
// total=0", and "full ...") as some.avg10, some.total, full.avg10.
func readPressure(root, path, file string) map[string]string {
	b, ok := readCgroupFile(root, path, file)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || (f[0] != "some" && f[0] != "full") {
			continue
		}
		for _, kv := range f[1:] {
			k, v, ok := strings.Cut(kv, "=")
			if ok && (k == "avg10" || (k == "total" && f[0] == "some")) {
				out[f[0]+"."+k] = v
			}
		}
	}
	return out
}

// readCgroupFile reads a cgroup file at the process's path under root,
// falling back to root itself (inside a container the cgroup namespace shows
// the container's own cgroup at the root of the mount).
func readCgroupFile(root, path, file string) ([]byte, bool) {
	for _, p := range []string{filepath.Join(root, path, file), filepath.Join(root, file)} {
		if b, err := os.ReadFile(p); err == nil {
			return b, true
		}
	}
	return nil, false
}

// readLimit reads a cgroup file (see readCgroupFile) as one line: lines
// are joined with "; " and runs of blanks made one.
func readLimit(root, path, file string) (string, bool) {
	b, ok := readCgroupFile(root, path, file)
	if !ok {
		return "", false
	}
	lines := strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", " ; "))
	return strings.ReplaceAll(strings.Join(lines, " "), " ; ", "; "), true
}

// blockDevice resolves major:minor to a block device and its queue settings.
func blockDevice(majmin string) (*BlockDevice, error) {
	sys := "/sys/dev/block/" + majmin
	target, err := filepath.EvalSymlinks(sys)
	if err != nil {
		return nil, fmt.Errorf("device %s is not a block device (no %s): readahead not resolvable", majmin, sys)
	}
	dev := &BlockDevice{Name: filepath.Base(target), MajorMinor: majmin}
	queue := filepath.Join(target, "queue")
	if _, err := os.Stat(queue); errors.Is(err, os.ErrNotExist) {
		// A partition: the queue belongs to the parent disk.
		queue = filepath.Join(filepath.Dir(target), "queue")
	}
	if b, err := os.ReadFile(filepath.Join(queue, "read_ahead_kb")); err == nil {
		dev.ReadAheadKB, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	}
	if b, err := os.ReadFile(filepath.Join(queue, "rotational")); err == nil {
		r := strings.TrimSpace(string(b)) == "1"
		dev.Rotational = &r
	}
	if b, err := os.ReadFile(filepath.Join(queue, "scheduler")); err == nil {
		dev.Scheduler = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile(filepath.Join(target, "loop", "backing_file")); err == nil {
		dev.BackingFile = strings.TrimSpace(string(b))
		// A loop device without direct I/O reads its image through the
		// page cache of the host holding the file: "cold" is then warm.
		if b, err := os.ReadFile(filepath.Join(target, "loop", "dio")); err == nil {
			dio := strings.TrimSpace(string(b)) == "1"
			dev.DirectIO = &dio
		}
	}
	return dev, nil
}
