package probe

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DeviceAlign is the alignment of the probe's regions on a block device.
const DeviceAlign = 1 << 20

// DeviceBytesNeeded is how much of a block device a probe of fileBytes uses:
// the source region at offset 0 and the destination region after it, each
// rounded up to DeviceAlign. The probe never touches bytes beyond it.
func DeviceBytesNeeded(fileBytes int64) int64 {
	return 2 * alignUp(fileBytes)
}

func alignUp(n int64) int64 { return (n + DeviceAlign - 1) / DeviceAlign * DeviceAlign }

// DeviceMethodError says why a method cannot copy between two regions of a
// block device (nil when it can): copy_file_range only copies between
// regular files (EINVAL), and an external command has no files to copy.
func DeviceMethodError(m Method) error {
	switch m {
	case MethodSendfile, MethodReadWrite:
		return nil
	case MethodCopyFileRange:
		return errors.New("copy_file_range copies only between regular files, not on a block device (use sendfile or readwrite)")
	}
	return fmt.Errorf("%s needs files, not a block device (use sendfile or readwrite)", m)
}

// checkDevice resolves path to a block device and returns it with its size.
func checkDevice(path string) (string, int64, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", 0, fmt.Errorf("device %q: %w", path, err)
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return "", 0, fmt.Errorf("device %q: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", 0, fmt.Errorf("device %q: not a block device", path)
	}
	f, err := os.OpenFile(real, os.O_RDWR, 0)
	if err != nil {
		return "", 0, fmt.Errorf("device %q: not writable: %w", path, err)
	}
	defer f.Close()
	size, err := unix.IoctlGetUint64(int(f.Fd()), unix.BLKGETSIZE64)
	if err != nil {
		return "", 0, fmt.Errorf("device %q: BLKGETSIZE64: %w", path, err)
	}
	return real, int64(size), nil
}

// runDevice measures copies between two regions of a raw block device: the
// source at offset 0, each copy written to the region right after it. What
// the device held there before is overwritten (a Local PV of volumeMode Block
// given to the test).
func runDevice(ctx context.Context, opts Options, log *slog.Logger) (*Report, error) {
	dev, size, err := checkDevice(opts.Device)
	if err != nil {
		return nil, err
	}
	if need := DeviceBytesNeeded(opts.FileBytes); size < need {
		return nil, fmt.Errorf("device %s: %w: a %s probe needs %s, the device has %s", opts.Device, ErrNoSpace,
			FormatSize(opts.FileBytes), FormatSize(need), FormatSize(size))
	}
	env, err := CollectDeviceEnv(dev)
	if err != nil {
		return nil, err
	}
	rep := &Report{
		Schema: Schema, Method: opts.Method, Cache: opts.Cache, ChunkBytes: opts.ChunkBytes, FileBytes: opts.FileBytes,
		Device: opts.Device, StartedAt: time.Now().UTC(), Env: env,
	}
	in, err := os.Open(dev)
	if err != nil {
		return nil, fmt.Errorf("open device %s: %w", dev, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("open device %s for writing: %w", dev, err)
	}
	defer out.Close()
	dstOff := alignUp(opts.FileBytes)
	log.Debug("writing source region", "device", dev, "bytes", opts.FileBytes)
	if rep.SourceSHA256, err = writeRandomAt(ctx, out, 0, opts.FileBytes); err != nil {
		return nil, err
	}
	for i := 0; i < opts.Iterations; i++ {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("probe interrupted before iteration %d: %w", i, err)
		}
		it, err := deviceIteration(opts, in, out, dstOff, i, &rep.Env.Notes)
		if err != nil {
			return nil, fmt.Errorf("iteration %d: %w", i, err)
		}
		it.Destination = fmt.Sprintf("%s@%d", opts.Device, dstOff)
		if it.SHA256 != rep.SourceSHA256 {
			return nil, fmt.Errorf("iteration %d: %w: region at %d has sha256 %s, source %s", i, ErrChecksumMismatch, dstOff, it.SHA256, rep.SourceSHA256)
		}
		rep.Iterations = append(rep.Iterations, it)
	}
	rep.Summary = Summarize(rep.Iterations)
	rep.Env.Cgroup.RefreshMemory()
	return rep, nil
}

func deviceIteration(opts Options, in, out *os.File, dstOff int64, index int, notes *[]string) (Iteration, error) {
	// Two regions of one device share no extents: the data always moves.
	it := Iteration{Index: index, DataPath: DataPathCopied, DataPathCheck: DataCheckDevice}
	if opts.Cache == CacheCold {
		if err := evictRange(out, 0, dstOff+opts.FileBytes); err != nil {
			return it, err
		}
	}
	sourceResidency(&it, in, opts.FileBytes, notes)
	// sendfile reads at the offset it is given and writes at the output's
	// file position; readwrite uses both files' positions.
	if _, err := in.Seek(0, io.SeekStart); err != nil {
		return it, err
	}
	if _, err := out.Seek(dstOff, io.SeekStart); err != nil {
		return it, err
	}
	calls, total, err := copyLoop(opts.Method, int(in.Fd()), int(out.Fd()), opts.FileBytes, opts.ChunkBytes)
	if err != nil {
		return it, err
	}
	if err := unix.Fdatasync(int(out.Fd())); err != nil {
		return it, fmt.Errorf("fdatasync %s: %w", out.Name(), err)
	}
	it.record(calls, total)
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(in, dstOff, opts.FileBytes)); err != nil {
		return it, fmt.Errorf("checksum destination region: %w", err)
	}
	it.SHA256 = hex.EncodeToString(h.Sum(nil))
	if opts.Cache == CacheCold {
		if err := evictRange(out, 0, dstOff+opts.FileBytes); err != nil {
			return it, err
		}
	}
	return it, nil
}

// evictRange writes back and drops n bytes at off (0: to the end) of a
// file's or device's page cache.
func evictRange(f *os.File, off, n int64) error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	if err := unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED); err != nil {
		return fmt.Errorf("posix_fadvise DONTNEED %s: %w", f.Name(), err)
	}
	return nil
}

// writeRandomAt writes n random bytes at off, syncs them (fsync) and
// returns their sha256; the source of a file probe and of a device probe.
func writeRandomAt(ctx context.Context, f *os.File, off, n int64) (string, error) {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rand.Uint32())
	}
	rng := rand.NewChaCha8(seed)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for done := int64(0); done < n; {
		if err := ctx.Err(); err != nil {
			return "", fmt.Errorf("write source: %w", err)
		}
		b := buf
		if int64(len(b)) > n-done {
			b = b[:n-done]
		}
		_, _ = rng.Read(b)
		h.Write(b)
		if _, err := f.WriteAt(b, off+done); err != nil {
			return "", fmt.Errorf("write source %s: %w", f.Name(), err)
		}
		done += int64(len(b))
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("fsync %s: %w", f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
