package probe

import (
	"fmt"
	"math"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// residentBytes is how many of the first n bytes of f are in the page cache:
// f is mapped read-only (nothing is faulted in), mincore(2) reports the
// resident pages, and the mapping is removed. mincore reports page cache
// pages only to a caller that owns the file or may write it; to any other
// caller Linux 5.2 and later report every page resident, so residentBytes
// then refuses (see mincoreSeesCache). The probe owns its source, and a
// device probe runs as root.
func residentBytes(f *os.File, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	if n > math.MaxInt {
		return 0, fmt.Errorf("mincore %s: %d bytes cannot be mapped", f.Name(), n)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s for mincore: %w", f.Name(), err)
	}
	euid := uint32(unix.Geteuid())
	// Faccessat with AT_EACCESS asks the kernel's own write permission check
	// (capabilities included) for the effective ids, as mincore does.
	writable := unix.Faccessat(unix.AT_FDCWD, f.Name(), unix.W_OK, unix.AT_EACCESS) == nil
	if !mincoreSeesCache(st.Uid, euid, writable) {
		return 0, fmt.Errorf("mincore %s: the probe (uid %d) neither owns it (uid %d) nor may write it, and Linux 5.2 and later then report every page resident", f.Name(), euid, st.Uid)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return 0, fmt.Errorf("mmap %s for mincore: %w", f.Name(), err)
	}
	defer unix.Munmap(m)
	page := int64(os.Getpagesize())
	vec := make([]byte, (n+page-1)/page)
	// golang.org/x/sys/unix (v0.50) has no Mincore on Linux.
	if _, _, e := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return 0, fmt.Errorf("mincore %s: %w", f.Name(), e)
	}
	var pages int64
	for _, v := range vec {
		pages += int64(v & 1)
	}
	res := pages * page
	if vec[len(vec)-1]&1 != 0 {
		res -= int64(len(vec))*page - n // the last page is partly past n
	}
	return res, nil
}

// mincoreSeesCache reports whether mincore(2) tells a caller with effective
// uid euid the page cache's state of a file owned by owner: since Linux 5.2
// (which closed a page cache side channel) it does only when the caller owns
// the file or may write it, and otherwise reports every page resident. The
// kernel also answers truthfully to a caller with CAP_FOWNER; such a caller
// that neither owns nor may write the file is recorded as not measured.
func mincoreSeesCache(owner, euid uint32, writable bool) bool {
	return owner == euid || writable
}

// sourceResidency records on it how much of the source is cached before
// its first call, or adds a note to notes (once) when that cannot be read.
func sourceResidency(it *Iteration, f *os.File, n int64, notes *[]string) {
	res, err := residentBytes(f, n)
	if err != nil {
		msg := fmt.Sprintf("source page cache residency not measured: %v", err)
		if !containsString(*notes, msg) {
			*notes = append(*notes, msg)
		}
		return
	}
	it.SourceResidentBytes = &res
}

// ColdResidentWarning is the share of the source (0..1) in page cache
// before a cold copy's first call from which the eviction is said not to
// have worked: the probe's text summary and the run's reports warn from it.
const ColdResidentWarning = 0.5

// ResidentFraction is the share of the source (0..1) in page cache before
// the iteration's first call; ok is false when it was not measured.
func (it Iteration) ResidentFraction() (float64, bool) {
	if it.SourceResidentBytes == nil || it.Bytes <= 0 {
		return 0, false
	}
	return min(1, float64(*it.SourceResidentBytes)/float64(it.Bytes)), true
}

// SourceResidency is the lowest and highest share of the source (0..1) in
// page cache before an iteration's first call; ok is false when no
// iteration measured it.
func (r *Report) SourceResidency() (lo, hi float64, ok bool) {
	if r == nil {
		return 0, 0, false
	}
	for _, it := range r.Iterations {
		f, measured := it.ResidentFraction()
		if !measured {
			continue
		}
		if !ok {
			lo, hi, ok = f, f, true
			continue
		}
		lo, hi = min(lo, f), max(hi, f)
	}
	return lo, hi, ok
}

// FormatResidency renders a residency range as whole percent: "0%", "0-100%".
func FormatResidency(lo, hi float64) string {
	l, h := math.Round(lo*100), math.Round(hi*100)
	if l == h {
		return fmt.Sprintf("%.0f%%", l)
	}
	return fmt.Sprintf("%.0f-%.0f%%", l, h)
}
