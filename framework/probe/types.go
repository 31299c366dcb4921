package probe

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schema is the apiVersion-like tag of a probe Report.
const Schema = "pvreboot.dev/probe/v1"

// Method is the way a file is copied.
type Method string

// Copy methods. MethodSendfile mirrors BusyBox cp (libbb copyfd with
// FEATURE_USE_SENDFILE); MethodCopyFileRange mirrors GNU cp >= 9.0;
// MethodReadWrite mirrors GNU cp <= 8.32; MethodExec runs an external command.
const (
	MethodSendfile      Method = "sendfile"
	MethodCopyFileRange Method = "copy_file_range"
	MethodReadWrite     Method = "readwrite"
	MethodExec          Method = "exec"
)

// Methods lists every method in a stable order.
var Methods = []Method{MethodSendfile, MethodCopyFileRange, MethodReadWrite, MethodExec}

// ParseMethod checks a method name.
func ParseMethod(s string) (Method, error) {
	for _, m := range Methods {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("unknown method %q (want one of %s)", s, joinMethods())
}

func joinMethods() string {
	s := make([]string, len(Methods))
	for i, m := range Methods {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// CacheMode says whether page cache is evicted before each iteration.
type CacheMode string

// Cache modes.
const (
	CacheCold CacheMode = "cold"
	CacheWarm CacheMode = "warm"
)

// ParseCacheMode checks a cache mode name.
func ParseCacheMode(s string) (CacheMode, error) {
	switch CacheMode(s) {
	case CacheCold, CacheWarm:
		return CacheMode(s), nil
	}
	return "", fmt.Errorf("unknown cache mode %q (want cold or warm)", s)
}

// Defaults that reproduce BusyBox cp in kubernetes#131186.
const (
	DefaultFileBytes  = 256 << 20
	DefaultChunkBytes = 16 << 20
	DefaultIterations = 5
)

// Call is one timed copy call: bytes moved and monotonic nanoseconds taken.
// For MethodReadWrite a call is one read plus the write of what it read.
// For MethodExec a call is one whole run of the command.
type Call struct {
	Bytes int64 `json:"bytes"`
	Ns    int64 `json:"ns"`
}

// Iteration is one copy of the source file.
type Iteration struct {
	Index          int     `json:"index"`
	Calls          []Call  `json:"calls"`
	Bytes          int64   `json:"bytes"`
	Ns             int64   `json:"ns"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
	SHA256         string  `json:"sha256"`
	Destination    string  `json:"destination"`
	// SourceResidentBytes is how much of the source was in page cache just
	// before the first call (mincore), after any cold-cache eviction; nil
	// when not measured. "cold" with the source resident means the
	// eviction did not work.
	SourceResidentBytes *int64 `json:"sourceResidentBytes,omitempty"`
	// DataPath says whether the copy moved data or shared extents with the
	// source, as DataPathCheck ("fiemap", "blocks", "device") found; the note
	// says why when the check was weak or the answer is unknown.
	DataPath      DataPath `json:"dataPath,omitempty"`
	DataPathCheck string   `json:"dataPathCheck,omitempty"`
	DataPathNote  string   `json:"dataPathNote,omitempty"`
	// SharedBytes and SourceSharedBytes are the bytes of the destination and
	// of the source in extents FIEMAP flags shared, after the copy.
	SharedBytes       int64 `json:"sharedBytes,omitempty"`
	SourceSharedBytes int64 `json:"sourceSharedBytes,omitempty"`
	// AllocatedBytes is the destination's allocated blocks (st_blocks x 512).
	AllocatedBytes int64 `json:"allocatedBytes,omitempty"`
}

// Summary aggregates every call of every iteration.
type Summary struct {
	Calls          int     `json:"calls"`
	P50Ns          int64   `json:"p50Ns"`
	P90Ns          int64   `json:"p90Ns"`
	P99Ns          int64   `json:"p99Ns"`
	MaxNs          int64   `json:"maxNs"`
	MinNs          int64   `json:"minNs"`
	MeanNs         int64   `json:"meanNs"`
	BytesPerSecond float64 `json:"bytesPerSecond"`
	// IterationBytesPerSecond holds each iteration's throughput, in order, for
	// statistical comparison of runs.
	IterationBytesPerSecond []float64 `json:"iterationBytesPerSecond"`
	// DataPath is the verdict over the iterations: "shared-extents" when any
	// copy shared extents (reflink: no data read or written, the latencies
	// measure no data path), "copied" when every checked copy moved data,
	// "unknown" otherwise, with how it was checked and why.
	DataPath      DataPath `json:"dataPath,omitempty"`
	DataPathCheck string   `json:"dataPathCheck,omitempty"`
	DataPathNote  string   `json:"dataPathNote,omitempty"`
}

// Report is the JSON document the probe prints.
type Report struct {
	Schema       string      `json:"schema"`
	Method       Method      `json:"method"`
	ExecCommand  []string    `json:"execCommand,omitempty"`
	Cache        CacheMode   `json:"cache"`
	ChunkBytes   int64       `json:"chunkBytes"`
	FileBytes    int64       `json:"fileBytes"`
	Dir          string      `json:"dir,omitempty"`
	Device       string      `json:"device,omitempty"` // block device mode
	StartedAt    time.Time   `json:"startedAt"`
	SourceSHA256 string      `json:"sourceSHA256"`
	Iterations   []Iteration `json:"iterations"`
	Summary      Summary     `json:"summary"`
	Env          Env         `json:"env"`
}

// FormatSize renders bytes with a binary suffix where it is exact (16Mi).
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"Ti", 1 << 40}, {"Gi", 1 << 30}, {"Mi", 1 << 20}, {"Ki", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return strconv.FormatInt(n/u.v, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseSize reads a byte size: a plain integer, or one with a suffix
// k/K/Ki, M/Mi, G/Gi, T/Ti (binary) or kB, MB, GB, TB (decimal).
// The result must be positive.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	if num == "" {
		return 0, fmt.Errorf("%q is not a size (want a number with an optional unit such as 16Mi)", s)
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: %w", s, err)
	}
	mult := map[string]int64{
		"": 1, "B": 1,
		"k": 1 << 10, "K": 1 << 10, "Ki": 1 << 10, "KiB": 1 << 10,
		"M": 1 << 20, "Mi": 1 << 20, "MiB": 1 << 20,
		"G": 1 << 30, "Gi": 1 << 30, "GiB": 1 << 30,
		"T": 1 << 40, "Ti": 1 << 40, "TiB": 1 << 40,
		"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("%q has an unknown unit %q (want Ki, Mi, Gi, Ti, kB, MB, GB or TB)", s, unit)
	}
	if v <= 0 {
		return 0, fmt.Errorf("%s is not a positive size", s)
	}
	if v > (1<<62)/m {
		return 0, fmt.Errorf("%q is too large", s)
	}
	return v * m, nil
}
