package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	osexec "os/exec"

	"golang.org/x/sys/unix"
)

// ErrChecksumMismatch is returned when a copy differs from its source.
var ErrChecksumMismatch = errors.New("checksum mismatch")

// ErrNoSpace is returned when the directory cannot hold the probe's files.
var ErrNoSpace = errors.New("not enough space")

// Options configure one probe run.
type Options struct {
	// Dir is the directory to copy files in; Device instead names a block
	// device whose first DeviceBytesNeeded(FileBytes) bytes the probe uses.
	Dir        string
	Device     string
	Method     Method
	FileBytes  int64
	ChunkBytes int64
	Iterations int
	Cache      CacheMode
	// ExecCommand is the argv of the external copy for MethodExec; the
	// elements {src} and {dst} are replaced by the paths (also inside an element).
	ExecCommand []string
	// Keep leaves the source and destination files in Dir.
	Keep bool
}

// DefaultOptions reproduce BusyBox cp: sendfile, 16 MiB chunks, cold cache.
func DefaultOptions(dir string) Options {
	return Options{
		Dir: dir, Method: MethodSendfile, FileBytes: DefaultFileBytes,
		ChunkBytes: DefaultChunkBytes, Iterations: DefaultIterations, Cache: CacheCold,
	}
}

// Validate returns every problem with the options, each naming its field.
func (o Options) Validate() error {
	var errs []error
	switch {
	case o.Dir == "" && o.Device == "":
		errs = append(errs, errors.New("dir: must be set (or device, for a block device)"))
	case o.Dir != "" && o.Device != "":
		errs = append(errs, fmt.Errorf("device: %q and dir %q are exclusive: a probe copies files in a directory or regions of a block device", o.Device, o.Dir))
	case o.Device != "":
		if _, err := ParseMethod(string(o.Method)); err == nil {
			if err := DeviceMethodError(o.Method); err != nil {
				errs = append(errs, fmt.Errorf("method: %w", err))
			}
		}
		if o.Keep {
			errs = append(errs, errors.New("keep: only for dir (a block device keeps its bytes anyway)"))
		}
	}
	if _, err := ParseMethod(string(o.Method)); err != nil {
		errs = append(errs, fmt.Errorf("method: %w", err))
	}
	if _, err := ParseCacheMode(string(o.Cache)); err != nil {
		errs = append(errs, fmt.Errorf("cache: %w", err))
	}
	if o.FileBytes <= 0 {
		errs = append(errs, fmt.Errorf("file-size: %d is not a positive size", o.FileBytes))
	}
	if o.ChunkBytes <= 0 {
		errs = append(errs, fmt.Errorf("chunk-size: %d is not a positive size", o.ChunkBytes))
	}
	if o.ChunkBytes > 0x7ffff000 {
		errs = append(errs, fmt.Errorf("chunk-size: %d is larger than the kernel's 2147479552-byte limit per call", o.ChunkBytes))
	}
	if o.Iterations <= 0 {
		errs = append(errs, fmt.Errorf("iterations: %d is not a positive count", o.Iterations))
	}
	if o.Method == MethodExec {
		if len(o.ExecCommand) == 0 {
			errs = append(errs, errors.New("exec-cmd: must be set for method exec"))
		} else if !containsPlaceholder(o.ExecCommand, "{src}") || !containsPlaceholder(o.ExecCommand, "{dst}") {
			errs = append(errs, fmt.Errorf("exec-cmd: %q must contain {src} and {dst}", strings.Join(o.ExecCommand, " ")))
		}
	} else if len(o.ExecCommand) > 0 {
		errs = append(errs, fmt.Errorf("exec-cmd: only used with method exec, not %s", o.Method))
	}
	return errors.Join(errs...)
}

func containsPlaceholder(argv []string, p string) bool {
	for _, a := range argv {
		if strings.Contains(a, p) {
			return true
		}
	}
	return false
}

// Run measures opts.Iterations copies of a fresh random file in opts.Dir and
// returns the report. Files are removed unless opts.Keep, also on error.
func Run(ctx context.Context, opts Options, log *slog.Logger) (rep *Report, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Device != "" {
		return runDevice(ctx, opts, log)
	}
	dir, err := checkDir(opts.Dir)
	if err != nil {
		return nil, err
	}
	need := opts.FileBytes * 2
	if opts.Keep {
		need = opts.FileBytes * int64(1+opts.Iterations)
	}
	if err := checkSpace(dir, need); err != nil {
		return nil, err
	}
	env, err := CollectEnv(dir)
	if err != nil {
		return nil, err
	}
	rep = &Report{
		Schema: Schema, Method: opts.Method, ExecCommand: opts.ExecCommand, Cache: opts.Cache,
		ChunkBytes: opts.ChunkBytes, FileBytes: opts.FileBytes, Dir: dir,
		StartedAt: time.Now().UTC(), Env: env,
	}
	work, err := os.MkdirTemp(dir, ".copyprobe-")
	if err != nil {
		return nil, fmt.Errorf("create work directory in %s: %w", dir, err)
	}
	if !opts.Keep {
		defer func() {
			if rmErr := os.RemoveAll(work); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove %s: %w", work, rmErr))
			}
		}()
	}
	src := filepath.Join(work, "source")
	log.Debug("writing source file", "path", src, "bytes", opts.FileBytes)
	sum, err := writeRandomFile(ctx, src, opts.FileBytes)
	if err != nil {
		return nil, err
	}
	rep.SourceSHA256 = sum
	for i := 0; i < opts.Iterations; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("probe interrupted before iteration %d: %w", i, err)
		}
		dst := filepath.Join(work, fmt.Sprintf("copy-%d", i))
		it, err := runIteration(ctx, opts, src, dst, i, &rep.Env.Notes)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		if it.SHA256 != rep.SourceSHA256 {
			return nil, fmt.Errorf("iteration %d: %w: %s has sha256 %s, source %s", i, ErrChecksumMismatch, dst, it.SHA256, rep.SourceSHA256)
		}
		log.Debug("iteration done", "index", i, "calls", len(it.Calls), "bytesPerSecond", it.BytesPerSecond,
			"dataPath", it.DataPath, "sharedBytes", it.SharedBytes, "sourceResidentBytes", it.SourceResidentBytes)
		rep.Iterations = append(rep.Iterations, it)
		if !opts.Keep {
			if err := os.Remove(dst); err != nil {
				return nil, fmt.Errorf("remove %s: %w", dst, err)
			}
		}
	}
	rep.Summary = Summarize(rep.Iterations)
	rep.Env.Cgroup.RefreshMemory()
	return rep, nil
}

func checkDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("dir %q: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("dir %q: %w", dir, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("dir %q: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("dir %q: not a directory", dir)
	}
	if err := unix.Access(real, unix.W_OK|unix.X_OK); err != nil {
		return "", fmt.Errorf("dir %q: not writable: %w", dir, err)
	}
	return real, nil
}

func checkSpace(dir string, need int64) error {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", dir, err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	// Leave a little slack for metadata.
	if avail < need+need/64 {
		return fmt.Errorf("dir %s: %w: need %s, %s available", dir, ErrNoSpace, FormatSize(need), FormatSize(avail))
	}
	return nil
}

// writeRandomFile writes n random bytes, fsyncs them and returns their sha256.
func writeRandomFile(ctx context.Context, path string, n int64) (string, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("create source file: %w", err)
	}
	defer f.Close()
	sum, err := writeRandomAt(ctx, f, 0, n)
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("close source file %s: %w", path, err)
	}
	return sum, nil
}

// evict writes back and drops a file's pages from the page cache.
func evict(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("evict %s: %w", path, err)
	}
	defer f.Close()
	return evictRange(f, 0, 0)
}

// runIteration copies src to dst once. Before the first call it records how
// much of the source is cached; after the copy, whether data moved. Neither
// check is inside the timed region.
func runIteration(ctx context.Context, opts Options, src, dst string, index int, notes *[]string) (Iteration, error) {
	it := Iteration{Index: index, Destination: dst}
	if opts.Cache == CacheCold {
		if err := evict(src); err != nil {
			return it, err
		}
	}
	if f, err := os.Open(src); err == nil {
		sourceResidency(&it, f, opts.FileBytes, notes)
		f.Close()
	}
	var (
		calls []Call
		total time.Duration
		err   error
	)
	if opts.Method == MethodExec {
		calls, total, err = copyExec(ctx, opts.ExecCommand, src, dst, opts.FileBytes)
	} else {
		calls, total, err = copyFiles(opts.Method, src, dst, opts.FileBytes, opts.ChunkBytes)
	}
	if err != nil {
		return it, err
	}
	it.record(calls, total)
	sum, err := fileSHA256(dst)
	if err != nil {
		return it, err
	}
	it.SHA256 = sum
	checkDataPath(src, dst).apply(&it)
	if opts.Cache == CacheCold {
		if err := evict(dst); err != nil {
			return it, err
		}
	}
	return it, nil
}

// record sets the iteration's calls, bytes, time and throughput.
func (it *Iteration) record(calls []Call, total time.Duration) {
	it.Calls = calls
	for _, c := range calls {
		it.Bytes += c.Bytes
	}
	it.Ns = total.Nanoseconds()
	if it.Ns > 0 {
		it.BytesPerSecond = float64(it.Bytes) / total.Seconds()
	}
}

// copyFiles copies src to dst with one syscall per call, timing each call.
func copyFiles(m Method, src, dst string, size, chunk int64) ([]Call, time.Duration, error) {
	in, err := os.Open(src)
	if err != nil {
		return nil, 0, fmt.Errorf("open source: %w", err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, 0, fmt.Errorf("create destination: %w", err)
	}
	defer out.Close()
	calls, total, err := copyLoop(m, int(in.Fd()), int(out.Fd()), size, chunk)
	if err != nil {
		return nil, 0, err
	}
	if err := out.Close(); err != nil {
		return nil, 0, fmt.Errorf("close destination: %w", err)
	}
	return calls, total, nil
}

// copyLoop is the timed inner loop. Samples are preallocated so that the
// timed region holds only the syscall and two monotonic clock reads.
func copyLoop(m Method, in, out int, size, chunk int64) ([]Call, time.Duration, error) {
	n := int(size/chunk) + 2
	calls := make([]Call, 0, n)
	var buf []byte
	if m == MethodReadWrite {
		buf = make([]byte, chunk)
	}
	start := time.Now()
	for done := int64(0); done < size; {
		want := chunk
		if left := size - done; left < want {
			want = left
		}
		var (
			got int
			err error
		)
		t0 := time.Now()
		switch m {
		case MethodSendfile:
			got, err = unix.Sendfile(out, in, nil, int(want))
		case MethodCopyFileRange:
			got, err = unix.CopyFileRange(in, nil, out, nil, int(want), 0)
		case MethodReadWrite:
			got, err = readWrite(in, out, buf[:want])
		default:
			return nil, 0, fmt.Errorf("method %q cannot be timed per call", m)
		}
		d := time.Since(t0)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return nil, 0, fmt.Errorf("%s after %d bytes: %w", m, done, err)
		}
		if got == 0 {
			return nil, 0, fmt.Errorf("%s: source ended after %d of %d bytes", m, done, size)
		}
		calls = append(calls, Call{Bytes: int64(got), Ns: d.Nanoseconds()})
		done += int64(got)
	}
	return calls, time.Since(start), nil
}

func readWrite(in, out int, buf []byte) (int, error) {
	n, err := unix.Read(in, buf)
	if err != nil || n == 0 {
		return n, err
	}
	for w := 0; w < n; {
		k, err := unix.Write(out, buf[w:n])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return w, err
		}
		w += k
	}
	return n, nil
}

// copyExec runs the external copy command once and times it as one call.
func copyExec(ctx context.Context, tmpl []string, src, dst string, size int64) ([]Call, time.Duration, error) {
	argv := make([]string, len(tmpl))
	for i, a := range tmpl {
		a = strings.ReplaceAll(a, "{src}", src)
		argv[i] = strings.ReplaceAll(a, "{dst}", dst)
	}
	cmd := osexec.CommandContext(ctx, argv[0], argv[1:]...)
	var out strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &out
	t0 := time.Now()
	err := cmd.Run()
	d := time.Since(t0)
	if err != nil {
		return nil, 0, fmt.Errorf("exec %q: %w: %s", argv, err, strings.TrimSpace(out.String()))
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return nil, 0, fmt.Errorf("exec %q left no destination: %w", argv, err)
	}
	if fi.Size() != size {
		return nil, 0, fmt.Errorf("exec %q: destination has %d bytes, want %d", argv, fi.Size(), size)
	}
	return []Call{{Bytes: size, Ns: d.Nanoseconds()}}, d, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
