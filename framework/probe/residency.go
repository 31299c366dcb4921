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
// pages only to a caller that owns the file or may write it; the probe owns
// its source, and a device probe runs as root.
func residentBytes(f *os.File, n int64) (int64, error) {
	if n <= 0 {
		return 0, nil
	}
	if n > math.MaxInt {
		return 0, fmt.Errorf("mincore %s: %d bytes cannot be mapped", f.Name(), n)
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
