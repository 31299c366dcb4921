package scenario

import (
	"fmt"
	"regexp"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Bounds of sizes, chosen so that no sum or product the runner and the probe
// make of them can overflow an int64, and so that a probe run stays a
// measurement rather than a memory test.
const (
	// MaxVolumeBytes is the largest Local PV backing (a sparse image file).
	MaxVolumeBytes = 64 << 40
	// MinVolumeBytes fits a filesystem's metadata and a small copy.
	MinVolumeBytes = 16 << 20
	// MinCopyBytes is the smallest file or chunk: one page.
	MinCopyBytes = 4 << 10
	// MaxChunkBytes is the most one read/write/sendfile/copy_file_range call
	// moves on Linux (MAX_RW_COUNT: INT_MAX rounded down to a page).
	MaxChunkBytes = 0x7ffff000
	// MaxCallsPerCopy bounds fileSize/chunkSize: the probe keeps a record
	// per call.
	MaxCallsPerCopy = 1 << 18
	// MaxCalls bounds iterations x calls per copy: every call is in the
	// result.
	MaxCalls = 1 << 20
	// MaxIterations bounds copies per phase.
	MaxIterations = 1000
	// copySlackBytes is what a file-backed volume needs beyond the source
	// and the copy: the canary (4 MiB) and filesystem overhead.
	copySlackBytes = 64 << 20
)

// quantityRE is a quantity of bytes as a scenario writes one: a number,
// then a binary or decimal suffix or an exponent of at most two digits.
var quantityRE = regexp.MustCompile(`^\+?[0-9]{1,20}(\.[0-9]{1,20})?([KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]{1,2})?$`)

// ParseBytes reads a size as a Kubernetes quantity ("2Gi" = 2x2^30 bytes,
// "2G" = 2x10^9, "1.5Gi", "512Mi") into a whole, positive number of bytes no
// larger than MaxVolumeBytes.
func ParseBytes(s string) (int64, error) {
	// resource.ParseQuantity computes what it is given: "1E8427387904"
	// (an exponent of eight billion) takes it minutes and gigabytes.
	if !quantityRE.MatchString(s) {
		return 0, fmt.Errorf("%q is not a quantity such as 256Mi or 2Gi", s)
	}
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity such as 256Mi or 2Gi", s)
	}
	if q.Sign() <= 0 {
		return 0, fmt.Errorf("%q must be > 0", s)
	}
	// Compare before converting: Value() saturates instead of failing.
	if q.Cmp(*resource.NewQuantity(MaxVolumeBytes, resource.BinarySI)) > 0 {
		return 0, fmt.Errorf("%q is larger than the limit of 64Ti", s)
	}
	n, ok := q.AsInt64()
	if !ok {
		// A fraction such as 1.5 bytes, or 100m (a milli-byte).
		return 0, fmt.Errorf("%q is not a whole number of bytes", s)
	}
	return n, nil
}

// Bytes is the volume's size in bytes; 0 when it is not valid (Validate says why).
func (v Volume) Bytes() int64 {
	n, _ := ParseBytes(v.Size)
	return n
}

// FileBytes is the workload's file size in bytes; 0 when not valid.
func (w Workload) FileBytes() int64 {
	n, _ := ParseBytes(w.FileSize)
	return n
}

// ChunkBytes is the workload's bytes per call; 0 when not valid.
func (w Workload) ChunkBytes() int64 {
	n, _ := ParseBytes(w.ChunkSize)
	return n
}

// Copies is the workload's number of copies per phase (after Default).
func (w Workload) Copies() int { return deref(w.Iterations) }

// Instances is how many PVs of this shape a run makes (after Default).
func (v Volume) Instances() int { return deref(v.Count) }

// Times is how many times the node is rebooted (after Default).
func (r Reboot) Times() int { return deref(r.Count) }

// SSHPort is the SSH port (after Default).
func (s SSHReboot) SSHPort() int { return deref(s.Port) }

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}
