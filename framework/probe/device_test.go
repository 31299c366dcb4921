package probe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDeviceOptionsValidate(t *testing.T) {
	t.Parallel()
	base := Options{Method: MethodSendfile, FileBytes: 1 << 20, ChunkBytes: 1 << 20, Iterations: 1, Cache: CacheCold}
	for _, tc := range []struct {
		name string
		edit func(*Options)
		want string // "" means valid
	}{
		{"device", func(o *Options) { o.Device = "/dev/x" }, ""},
		{"readwrite", func(o *Options) { o.Device, o.Method = "/dev/x", MethodReadWrite }, ""},
		{"neither", func(o *Options) {}, "dir: must be set (or device, for a block device)"},
		{"both", func(o *Options) { o.Device, o.Dir = "/dev/x", "/data" }, `device: "/dev/x" and dir "/data" are exclusive`},
		{"copy_file_range", func(o *Options) { o.Device, o.Method = "/dev/x", MethodCopyFileRange }, "method: copy_file_range copies only between regular files"},
		{"exec", func(o *Options) {
			o.Device, o.Method, o.ExecCommand = "/dev/x", MethodExec, []string{"cp", "{src}", "{dst}"}
		}, "method: exec needs files, not a block device"},
		{"keep", func(o *Options) { o.Device, o.Keep = "/dev/x", true }, "keep: only for dir"},
	} {
		o := base
		tc.edit(&o)
		err := o.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestDeviceBytesNeeded(t *testing.T) {
	t.Parallel()
	for fb, want := range map[int64]int64{1: 2 << 20, 1 << 20: 2 << 20, 1<<20 + 1: 4 << 20, 256 << 20: 512 << 20} {
		if got := DeviceBytesNeeded(fb); got != want {
			t.Errorf("DeviceBytesNeeded(%d) = %d, want %d", fb, got, want)
		}
	}
}

func TestDeviceRefusesWhatIsNotABlockDevice(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(f, make([]byte, 4<<20), 0o644))
	_, err := Run(context.Background(), Options{Device: f, Method: MethodSendfile, FileBytes: 1 << 20, ChunkBytes: 1 << 20, Iterations: 1, Cache: CacheWarm}, nil)
	if err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Errorf("regular file as device: err = %v", err)
	}
}

// TestDeviceProbeOnLoop measures copies between two regions of a real loop
// device: checksums match, every call is timed, the env names the device, its
// size and its backing file, and bytes past the probe's regions are untouched.
func TestDeviceProbeOnLoop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a loop device")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skipf("needs losetup (util-linux): %v", err)
	}
	ctx := context.Background()
	img := filepath.Join(t.TempDir(), "disk.img")
	const size = 40 << 20
	marker := []byte("pvreboot canary: must survive the probe")
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(size))
	_, err = f.WriteAt(marker, size-(1<<20))
	must(t, err)
	must(t, f.Close())
	loop := attachLoop(t, img)

	for _, m := range []Method{MethodSendfile, MethodReadWrite} {
		opts := Options{Device: loop, Method: m, FileBytes: 16<<20 + 4096, ChunkBytes: 4 << 20, Iterations: 2, Cache: CacheCold}
		rep, err := Run(ctx, opts, nil)
		if err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		if rep.Device != loop || rep.Dir != "" || len(rep.Iterations) != 2 {
			t.Fatalf("%s: report device %q dir %q iterations %d", m, rep.Device, rep.Dir, len(rep.Iterations))
		}
		for _, it := range rep.Iterations {
			if it.Bytes != opts.FileBytes || it.SHA256 != rep.SourceSHA256 || len(it.Calls) != 5 {
				t.Errorf("%s: iteration %d: %d bytes in %d calls, sha %s vs %s", m, it.Index, it.Bytes, len(it.Calls), it.SHA256, rep.SourceSHA256)
			}
			if it.DataPath != DataPathCopied || it.DataPathCheck != DataCheckDevice {
				t.Errorf("%s: iteration %d: data path %q by %q, want copied by device", m, it.Index, it.DataPath, it.DataPathCheck)
			}
			if f, ok := it.ResidentFraction(); !ok || f > 0.01 {
				t.Errorf("%s: iteration %d: cold source region resident %v (measured %v; notes %q)", m, it.Index, f, ok, rep.Env.Notes)
			}
		}
		d := rep.Env.Device
		if d == nil || d.SizeBytes != size || d.BackingFile != img || "/dev/"+d.Name != loop {
			t.Errorf("%s: env device = %+v, want %s of %d bytes backed by %s", m, d, loop, size, img)
		}
	}
	got := make([]byte, len(marker))
	f, err = os.Open(img)
	must(t, err)
	defer f.Close()
	_, err = f.ReadAt(got, size-(1<<20))
	must(t, err)
	if string(got) != string(marker) {
		t.Errorf("bytes past the probe's regions changed: %q", got)
	}

	_, err = Run(ctx, Options{Device: loop, Method: MethodSendfile, FileBytes: 32 << 20, ChunkBytes: 16 << 20, Iterations: 1, Cache: CacheCold}, nil)
	if !errors.Is(err, ErrNoSpace) || !strings.Contains(err.Error(), "needs 64Mi, the device has 40Mi") {
		t.Errorf("too small a device: err = %v", err)
	}
}
