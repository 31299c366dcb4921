package trace

import (
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Syscall is a traced system call, by its name in syscalls(2).
type Syscall string

// The syscalls the tracer measures: the copy and I/O calls of cp, dd,
// databases and the probe.
const (
	Sendfile      Syscall = "sendfile"
	CopyFileRange Syscall = "copy_file_range"
	Splice        Syscall = "splice"
	Read          Syscall = "read"
	Write         Syscall = "write"
	Pread64       Syscall = "pread64"
	Pwrite64      Syscall = "pwrite64"
	Fsync         Syscall = "fsync"
	Fdatasync     Syscall = "fdatasync"
)

// Syscalls lists every syscall the tracer can measure, in a stable order.
func Syscalls() []Syscall {
	return []Syscall{Sendfile, CopyFileRange, Splice, Read, Write, Pread64, Pwrite64, Fsync, Fdatasync}
}

// DefaultSyscalls are traced when none are named: all of Syscalls, the
// calls of BusyBox cp, GNU cp (old and new), splice-based copies and
// databases.
func DefaultSyscalls() []Syscall { return Syscalls() }

// number is the syscall's number on this architecture (golang.org/x/sys
// defines SYS_* per GOARCH, so arm64's numbering comes with its build).
func (s Syscall) number() (int64, bool) {
	n, ok := map[Syscall]int64{
		Sendfile:      unix.SYS_SENDFILE,
		CopyFileRange: unix.SYS_COPY_FILE_RANGE,
		Splice:        unix.SYS_SPLICE,
		Read:          unix.SYS_READ,
		Write:         unix.SYS_WRITE,
		Pread64:       unix.SYS_PREAD64,
		Pwrite64:      unix.SYS_PWRITE64,
		Fsync:         unix.SYS_FSYNC,
		Fdatasync:     unix.SYS_FDATASYNC,
	}[s]
	return n, ok
}

// MovesBytes reports whether the syscall's return value is a byte count
// (fsync and fdatasync return 0).
func (s Syscall) MovesBytes() bool { return s != Fsync && s != Fdatasync }

// Method is the probe method a traced syscall's report carries.
func (s Syscall) Method() string { return MethodPrefix + string(s) }

// MethodPrefix starts the method of a traced report ("trace:sendfile").
const MethodPrefix = "trace:"

// ParseSyscalls checks names (each may hold a comma-separated list);
// duplicates are dropped, the order kept. None gives DefaultSyscalls.
func ParseSyscalls(names []string) ([]Syscall, error) {
	var out []Syscall
	for _, arg := range names {
		for _, n := range strings.Split(arg, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if n == "sendfile64" {
				n = string(Sendfile)
			}
			s := Syscall(n)
			if !slices.Contains(Syscalls(), s) {
				return nil, fmt.Errorf("unknown syscall %q (want some of %s)", n, joinSyscalls(Syscalls()))
			}
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if len(out) == 0 {
		return DefaultSyscalls(), nil
	}
	return out, nil
}

func joinSyscalls(ss []Syscall) string {
	s := make([]string, len(ss))
	for i, v := range ss {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
