package capfix

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Names of Linux capabilities by number (linux/capability.h).
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK",
	"CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE",
	"CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE",
	"CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
	"CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
}

// CapName returns the name of capability number n.
func CapName(n int) string {
	if n >= 0 && n < len(capNames) {
		return capNames[n]
	}
	return "CAP_" + strconv.Itoa(n)
}

// Missing returns the names of capabilities 0..lastCap absent from the
// bounding set mask.
func Missing(bounding uint64, lastCap int) []string {
	var out []string
	for i := 0; i <= lastCap && i < 64; i++ {
		if bounding&(1<<uint(i)) == 0 {
			out = append(out, CapName(i))
		}
	}
	return out
}

// HostMissing reads this process's bounding set and the kernel's last
// capability and returns the capabilities the host cannot grant.
func HostMissing() ([]string, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return nil, fmt.Errorf("read capability bounding set: %w", err)
	}
	defer f.Close()
	var bnd uint64
	found := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapBnd:"); ok {
			bnd, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil, fmt.Errorf("parse CapBnd %q: %w", v, err)
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("no CapBnd line in /proc/self/status")
	}
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return nil, fmt.Errorf("read cap_last_cap: %w", err)
	}
	last, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("parse cap_last_cap %q: %w", b, err)
	}
	return Missing(bnd, last), nil
}

// FilterProcess removes the drop capabilities from every set of an OCI
// process object ({"capabilities": {"bounding": [...], ...}, ...}), keeping
// every other field as it was. It reports whether anything changed.
func FilterProcess(process map[string]json.RawMessage, drop []string) (bool, error) {
	raw, ok := process["capabilities"]
	if !ok || string(raw) == "null" {
		return false, nil
	}
	var sets map[string]json.RawMessage
	if err := json.Unmarshal(raw, &sets); err != nil {
		return false, fmt.Errorf("process.capabilities: %w", err)
	}
	dropSet := map[string]bool{}
	for _, d := range drop {
		dropSet[d] = true
	}
	changed := false
	for name, v := range sets {
		var caps []string
		if string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, &caps); err != nil {
			return false, fmt.Errorf("process.capabilities.%s: %w", name, err)
		}
		kept := caps[:0:0]
		for _, c := range caps {
			if dropSet[c] {
				changed = true
				continue
			}
			kept = append(kept, c)
		}
		b, err := json.Marshal(kept)
		if err != nil {
			return false, err
		}
		sets[name] = b
	}
	if !changed {
		return false, nil
	}
	b, err := json.Marshal(sets)
	if err != nil {
		return false, err
	}
	process["capabilities"] = b
	return true, nil
}

// FilterConfig rewrites an OCI bundle config.json (process.capabilities).
func FilterConfig(path string, drop []string) (bool, error) {
	return rewrite(path, drop, func(doc map[string]json.RawMessage) (bool, error) {
		raw, ok := doc["process"]
		if !ok {
			return false, nil
		}
		var proc map[string]json.RawMessage
		if err := json.Unmarshal(raw, &proc); err != nil {
			return false, fmt.Errorf("process: %w", err)
		}
		changed, err := FilterProcess(proc, drop)
		if err != nil || !changed {
			return changed, err
		}
		b, err := json.Marshal(proc)
		if err != nil {
			return false, err
		}
		doc["process"] = b
		return true, nil
	})
}

// FilterProcessFile rewrites a `runc exec --process` JSON file.
func FilterProcessFile(path string, drop []string) (bool, error) {
	return rewrite(path, drop, func(doc map[string]json.RawMessage) (bool, error) {
		return FilterProcess(doc, drop)
	})
}

func rewrite(path string, drop []string, f func(map[string]json.RawMessage) (bool, error)) (bool, error) {
	if len(drop) == 0 {
		return false, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return false, fmt.Errorf("parse %s: %w", path, err)
	}
	changed, err := f(doc)
	if err != nil {
		return false, fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return false, nil
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return false, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".capfix-")
	if err != nil {
		return false, fmt.Errorf("rewrite %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return false, fmt.Errorf("rewrite %s: %w", path, err)
	}
	if err := tmp.Chmod(fi.Mode().Perm()); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("rewrite %s: %w", path, err)
	}
	return true, nil
}

// SpecFiles finds the spec files a runc invocation will read: the bundle's
// config.json for create and run (--bundle/-b, default the working
// directory), and the --process/-p file for exec.
func SpecFiles(args []string, cwd string) (configs, processes []string) {
	sub := ""
	bundle := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch {
		case a == "--bundle" || a == "-b":
			bundle = next()
		case strings.HasPrefix(a, "--bundle="):
			bundle = strings.TrimPrefix(a, "--bundle=")
		case a == "--process" || a == "-p":
			processes = append(processes, next())
		case strings.HasPrefix(a, "--process="):
			processes = append(processes, strings.TrimPrefix(a, "--process="))
		case sub == "" && !strings.HasPrefix(a, "-"):
			sub = a
		case sub == "" && takesValue(a):
			next()
		}
	}
	if sub == "create" || sub == "run" {
		if bundle == "" {
			bundle = cwd
		}
		configs = append(configs, filepath.Join(bundle, "config.json"))
	}
	return configs, processes
}

// takesValue lists runc's global flags that take a separate value.
func takesValue(flag string) bool {
	switch flag {
	case "--root", "--log", "--log-format", "--criu", "--rootless":
		return true
	}
	return false
}
