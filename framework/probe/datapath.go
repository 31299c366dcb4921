package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DataPath says what a copy did with the bytes: moved them, or made the
// destination share the source's extents (a reflink clone: nothing read or
// written, so the call's latency says nothing about the data path).
type DataPath string

// Data paths. "" means not checked (an older report).
const (
	DataPathCopied        DataPath = "copied"
	DataPathSharedExtents DataPath = "shared-extents"
	DataPathUnknown       DataPath = "unknown"
)

// How a data path was checked: FIEMAP extent flags, allocated blocks where
// the filesystem has no FIEMAP (tmpfs), or nothing to check (a raw block
// device has no extents to share).
const (
	DataCheckFiemap = "fiemap"
	DataCheckBlocks = "blocks"
	DataCheckDevice = "device"
)

// FIEMAP (linux/fiemap.h, linux/fs.h): golang.org/x/sys/unix (v0.50) has
// neither the ioctl number nor the structs.
const (
	fsIocFiemap        = 0xC020660B // _IOWR('f', 11, struct fiemap)
	fiemapExtentLast   = 0x0001
	fiemapExtentShared = 0x2000
	fiemapBatch        = 256
)

type fiemapHeader struct {
	Start         uint64
	Length        uint64
	Flags         uint32
	MappedExtents uint32
	ExtentCount   uint32
	Reserved      uint32
}

type fiemapExtent struct {
	Logical    uint64
	Physical   uint64
	Length     uint64
	Reserved64 [2]uint64
	Flags      uint32
	Reserved   [3]uint32
}

type fiemapRequest struct {
	fiemapHeader
	Extents [fiemapBatch]fiemapExtent
}

// extentUse is what FIEMAP says of a file's first size bytes.
type extentUse struct {
	mapped, shared int64
}

// fiemap walks the extents of f's first size bytes and adds up those mapped
// and those flagged FIEMAP_EXTENT_SHARED. It does not sync the file first:
// data still in page cache shows as delayed-allocation extents, which are
// never shared, and a clone's extents are shared at once.
func fiemap(f *os.File, size int64) (extentUse, error) {
	var u extentUse
	req := new(fiemapRequest)
	for start := uint64(0); int64(start) < size; {
		req.fiemapHeader = fiemapHeader{Start: start, Length: uint64(size) - start, ExtentCount: fiemapBatch}
		if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(req))); e != 0 {
			return u, e
		}
		n := min(int(req.MappedExtents), fiemapBatch)
		if n == 0 {
			break
		}
		last := false
		for _, e := range req.Extents[:n] {
			lo, hi := int64(e.Logical), int64(e.Logical+e.Length)
			lo, hi = max(lo, int64(start)), min(hi, size)
			if hi > lo {
				u.mapped += hi - lo
				if e.Flags&fiemapExtentShared != 0 {
					u.shared += hi - lo
				}
			}
			last = last || e.Flags&fiemapExtentLast != 0
		}
		end := req.Extents[n-1].Logical + req.Extents[n-1].Length
		if last || end <= start {
			break
		}
		start = end
	}
	return u, nil
}

// dataPathCheck is what checkDataPath found of one copy.
type dataPathCheck struct {
	path               DataPath
	check, note        string
	shared, srcShared  int64
	allocated, dstSize int64
}

// checkDataPath tells a copy that moved data from one that shared extents:
// by FIEMAP where the filesystem has it, else by the destination's allocated
// blocks (which cannot see a clone, only a destination without blocks).
func checkDataPath(src, dst string) dataPathCheck {
	c := dataPathCheck{path: DataPathUnknown}
	out, err := os.Open(dst)
	if err != nil {
		c.note = fmt.Sprintf("open destination: %v", err)
		return c
	}
	defer out.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(out.Fd()), &st); err != nil {
		c.note = fmt.Sprintf("stat destination: %v", err)
		return c
	}
	c.dstSize, c.allocated = st.Size, st.Blocks*512
	u, err := fiemap(out, st.Size)
	if err != nil {
		c.check = DataCheckBlocks
		why := fmt.Sprintf("FIEMAP unsupported (%v)", err)
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOTTY) {
			why = fmt.Sprintf("FIEMAP failed (%v)", err)
		}
		if c.allocated >= c.dstSize {
			c.path = DataPathCopied
			c.note = why + ": the destination has blocks of its own for every byte (blocks cannot see a clone)"
		} else {
			c.note = fmt.Sprintf("%s: the destination has %s allocated of %s: sparse, shared or not yet written", why, FormatBytes(c.allocated), FormatBytes(c.dstSize))
		}
		return c
	}
	c.check = DataCheckFiemap
	c.shared = u.shared
	if in, err := os.Open(src); err == nil {
		var sst unix.Stat_t
		if unix.Fstat(int(in.Fd()), &sst) == nil {
			if su, err := fiemap(in, sst.Size); err == nil {
				c.srcShared = su.shared
			}
		}
		in.Close()
	}
	switch {
	case u.shared > 0:
		c.path = DataPathSharedExtents
		c.note = fmt.Sprintf("%s of %s of the destination share extents (reflink): no data was read or written", FormatBytes(u.shared), FormatBytes(c.dstSize))
	case u.mapped == 0 && c.dstSize > 0:
		c.note = fmt.Sprintf("FIEMAP maps none of the destination's %s: not allocated, so not known to be written", FormatBytes(c.dstSize))
	default:
		c.path = DataPathCopied
	}
	return c
}

// apply records the check on the iteration.
func (c dataPathCheck) apply(it *Iteration) {
	it.DataPath, it.DataPathCheck, it.DataPathNote = c.path, c.check, c.note
	it.SharedBytes, it.SourceSharedBytes, it.AllocatedBytes = c.shared, c.srcShared, c.allocated
}

// dataPathSummary is the run's data path over its iterations.
type dataPathSummary struct {
	path               DataPath
	check, note        string
	checked, shared    int
	sharedBytes, bytes int64
}

// summarizeDataPath is the run's verdict over its iterations: shared
// extents if any iteration shared them, copied if every checked one copied,
// unknown otherwise; "" when no iteration was checked.
func summarizeDataPath(its []Iteration) dataPathSummary {
	var s dataPathSummary
	var checks []string
	unknown, unknownNote, blocksNote := 0, "", ""
	for _, it := range its {
		if it.DataPath == "" {
			continue
		}
		s.checked++
		if it.DataPathCheck != "" && !containsString(checks, it.DataPathCheck) {
			checks = append(checks, it.DataPathCheck)
		}
		switch it.DataPath {
		case DataPathSharedExtents:
			s.shared++
			s.sharedBytes += it.SharedBytes
			s.bytes += it.Bytes
		case DataPathUnknown:
			unknown++
			if unknownNote == "" {
				unknownNote = it.DataPathNote
			}
		case DataPathCopied:
			if blocksNote == "" && it.DataPathCheck == DataCheckBlocks {
				blocksNote = it.DataPathNote
			}
		}
	}
	s.check = strings.Join(checks, "+")
	switch {
	case s.checked == 0:
	case s.shared > 0:
		s.path = DataPathSharedExtents
		s.note = fmt.Sprintf("%d of %d copies shared extents (reflink), %s of %s: no data was read or written",
			s.shared, s.checked, FormatBytes(s.sharedBytes), FormatBytes(s.bytes))
	case unknown > 0:
		s.path = DataPathUnknown
		s.note = fmt.Sprintf("%d of %d copies not known to have moved data: %s", unknown, s.checked, unknownNote)
	default:
		s.path, s.note = DataPathCopied, blocksNote
	}
	return s
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// SharedExtents says whether any copy of the report shared extents with
// its source instead of moving data (copy_file_range or cp --reflink on
// xfs, btrfs), and why, in one line: a latency budget on such a report
// measures no data path.
func (r *Report) SharedExtents() (bool, string) {
	if r == nil {
		return false, ""
	}
	s := summarizeDataPath(r.Iterations)
	if s.path != DataPathSharedExtents {
		return false, ""
	}
	return true, fmt.Sprintf("%s shared extents (reflink) in %d of %d copies (%s of %s): no data was read or written",
		r.Method, s.shared, s.checked, FormatBytes(s.sharedBytes), FormatBytes(s.bytes))
}

// FormatBytes renders a byte count for people: 4.0MiB, 512B.
func FormatBytes(n int64) string {
	switch {
	case n >= 1<<30 || n <= -1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20 || n <= -1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10 || n <= -1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}
