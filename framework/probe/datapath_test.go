package probe

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"
)

func TestFiemapLayout(t *testing.T) {
	t.Parallel()
	// struct fiemap and struct fiemap_extent of linux/fiemap.h.
	if h, e := unsafe.Sizeof(fiemapHeader{}), unsafe.Sizeof(fiemapExtent{}); h != 32 || e != 56 {
		t.Errorf("sizeof fiemap %d, fiemap_extent %d; want 32, 56", h, e)
	}
	if off := unsafe.Offsetof(fiemapRequest{}.Extents); off != 32 {
		t.Errorf("extents at offset %d, want 32", off)
	}
}

func TestSummarizeDataPath(t *testing.T) {
	t.Parallel()
	copied := Iteration{Bytes: 100, DataPath: DataPathCopied, DataPathCheck: DataCheckFiemap}
	blocks := Iteration{Bytes: 100, DataPath: DataPathCopied, DataPathCheck: DataCheckBlocks, DataPathNote: "FIEMAP unsupported (operation not supported)"}
	shared := Iteration{Bytes: 100, DataPath: DataPathSharedExtents, DataPathCheck: DataCheckFiemap, SharedBytes: 100}
	unknown := Iteration{Bytes: 100, DataPath: DataPathUnknown, DataPathCheck: DataCheckBlocks, DataPathNote: "40B allocated of 100B"}
	for _, tt := range []struct {
		name              string
		its               []Iteration
		path              DataPath
		check, noteSubstr string
	}{
		{name: "not checked", its: []Iteration{{Bytes: 100}}},
		{name: "copied", its: []Iteration{copied, copied}, path: DataPathCopied, check: "fiemap"},
		{name: "copied by blocks says why", its: []Iteration{blocks}, path: DataPathCopied, check: "blocks", noteSubstr: "FIEMAP unsupported"},
		{name: "one shared is shared", its: []Iteration{copied, shared}, path: DataPathSharedExtents, check: "fiemap",
			noteSubstr: "1 of 2 copies shared extents (reflink), 100B of 100B: no data was read or written"},
		{name: "unknown", its: []Iteration{copied, unknown}, path: DataPathUnknown, check: "fiemap+blocks", noteSubstr: "1 of 2 copies not known to have moved data: 40B allocated"},
		{name: "shared beats unknown", its: []Iteration{unknown, shared}, path: DataPathSharedExtents, check: "blocks+fiemap"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Summarize(tt.its)
			if s.DataPath != tt.path || s.DataPathCheck != tt.check || !strings.Contains(s.DataPathNote, tt.noteSubstr) {
				t.Errorf("data path %q by %q (%q); want %q by %q with %q", s.DataPath, s.DataPathCheck, s.DataPathNote, tt.path, tt.check, tt.noteSubstr)
			}
			got, why := (&Report{Method: MethodCopyFileRange, Iterations: tt.its}).SharedExtents()
			if got != (tt.path == DataPathSharedExtents) || got != strings.HasPrefix(why, "copy_file_range shared extents (reflink) in ") {
				t.Errorf("SharedExtents() = %v, %q", got, why)
			}
		})
	}
}

func TestResidentBytes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	const size = 3<<20 + 123 // the last page is partly past the end
	must(t, os.WriteFile(path, make([]byte, size), 0o644))
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	if _, err := f.ReadAt(make([]byte, size), 0); err != nil {
		t.Fatal(err)
	}
	// Just read: every page is in the page cache, on any filesystem.
	if got, err := residentBytes(f, size); err != nil || got != size {
		t.Errorf("residentBytes after reading = %d, %v; want %d", got, err, size)
	}
	if got, err := residentBytes(f, 0); err != nil || got != 0 {
		t.Errorf("residentBytes of 0 bytes = %d, %v", got, err)
	}
}

func TestSourceResidency(t *testing.T) {
	t.Parallel()
	b := func(n int64) *int64 { return &n }
	r := &Report{Iterations: []Iteration{{Bytes: 100}, {Bytes: 100, SourceResidentBytes: b(0)}, {Bytes: 100, SourceResidentBytes: b(100)}}}
	lo, hi, ok := r.SourceResidency()
	if !ok || lo != 0 || hi != 1 || FormatResidency(lo, hi) != "0-100%" {
		t.Errorf("SourceResidency = %v %v %v (%s)", lo, hi, ok, FormatResidency(lo, hi))
	}
	if _, _, ok := (&Report{Iterations: []Iteration{{Bytes: 100}}}).SourceResidency(); ok {
		t.Error("residency of iterations that did not measure it is ok")
	}
	if got := FormatResidency(0.004, 0.004); got != "0%" {
		t.Errorf("FormatResidency = %q", got)
	}
}

// TestRunRecordsDataPathAndResidency runs where the test's temp dir is: the
// filesystem is unknown (it may clone on copy_file_range), so it checks what
// holds everywhere: sendfile moves data, every iteration is checked, and a
// warm source just written is in page cache before the first call.
func TestRunRecordsDataPathAndResidency(t *testing.T) {
	t.Parallel()
	for _, m := range []Method{MethodSendfile, MethodCopyFileRange, MethodReadWrite} {
		t.Run(string(m), func(t *testing.T) {
			t.Parallel()
			opts := Options{Dir: t.TempDir(), Method: m, FileBytes: 2<<20 + 5, ChunkBytes: 1 << 20, Iterations: 2, Cache: CacheWarm}
			rep, err := Run(context.Background(), opts, nil)
			must(t, err)
			for _, it := range rep.Iterations {
				if it.DataPathCheck != DataCheckFiemap && it.DataPathCheck != DataCheckBlocks {
					t.Errorf("iteration %d checked by %q", it.Index, it.DataPathCheck)
				}
				want := DataPathCopied
				if m == MethodCopyFileRange && it.SharedBytes > 0 {
					want = DataPathSharedExtents // this filesystem clones (xfs, btrfs)
				}
				if it.DataPath != want {
					t.Errorf("iteration %d: data path %q (%s), want %q", it.Index, it.DataPath, it.DataPathNote, want)
				}
				if f, ok := it.ResidentFraction(); !ok || f < 0.99 {
					t.Errorf("iteration %d: warm source resident %v (measured %v), want all of it", it.Index, f, ok)
				}
			}
			if rep.Summary.DataPath == "" {
				t.Error("summary has no data path")
			}
		})
	}
}

// TestDataPathOnRealFilesystems makes xfs (reflink=1, the mkfs default),
// ext4 and tmpfs for real and checks what each copy did: copy_file_range on
// xfs clones extents (nothing read or written), on ext4 copies; sendfile
// copies on both; tmpfs has no FIEMAP and is checked by allocated blocks.
// A cold source is evicted before the first call on ext4 and xfs, and is
// not on tmpfs (its pages are the file).
func TestDataPathOnRealFilesystems(t *testing.T) {
	needRoot(t, "makes loop-device filesystems and mounts them", "losetup", "mkfs.xfs", "mkfs.ext4", "mount", "umount")
	ctx := context.Background()
	xfs := loopFilesystem(t, "xfs", "mkfs.xfs", "-q", "-f", "-m", "reflink=1")
	ext4 := loopFilesystem(t, "ext4", "mkfs.ext4", "-q", "-F")
	tmpfs := filepath.Join(t.TempDir(), "tmpfs")
	must(t, os.Mkdir(tmpfs, 0o755))
	run(t, "mount", "-t", "tmpfs", "-o", "size=64m", "pvreboot-test", tmpfs)
	t.Cleanup(func() { runQuiet(t, "umount", tmpfs) })

	for _, tt := range []struct {
		fs, dir      string
		method       Method
		cache        CacheMode
		path         DataPath
		check        string
		residentCold bool // a cold source stays resident
	}{
		{fs: "xfs", dir: xfs, method: MethodCopyFileRange, cache: CacheCold, path: DataPathSharedExtents, check: DataCheckFiemap},
		{fs: "xfs", dir: xfs, method: MethodSendfile, cache: CacheCold, path: DataPathCopied, check: DataCheckFiemap},
		{fs: "ext4", dir: ext4, method: MethodCopyFileRange, cache: CacheCold, path: DataPathCopied, check: DataCheckFiemap},
		{fs: "ext4", dir: ext4, method: MethodSendfile, cache: CacheCold, path: DataPathCopied, check: DataCheckFiemap},
		{fs: "ext4", dir: ext4, method: MethodSendfile, cache: CacheWarm, path: DataPathCopied, check: DataCheckFiemap},
		{fs: "tmpfs", dir: tmpfs, method: MethodCopyFileRange, cache: CacheCold, path: DataPathCopied, check: DataCheckBlocks, residentCold: true},
	} {
		name := tt.fs + "/" + string(tt.method) + "/" + string(tt.cache)
		opts := Options{Dir: tt.dir, Method: tt.method, FileBytes: 16<<20 + 12345, ChunkBytes: 4 << 20, Iterations: 3, Cache: tt.cache}
		rep, err := Run(ctx, opts, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		lo, hi, _ := rep.SourceResidency()
		t.Logf("%s: p50 %.1fµs per call, %.0f MB/s, data path %s by %s (%s), shared %s of the destination, source resident %s before the first call",
			name, float64(rep.Summary.P50Ns)/1e3, rep.Summary.BytesPerSecond/1e6, rep.Summary.DataPath, rep.Summary.DataPathCheck,
			rep.Summary.DataPathNote, FormatBytes(rep.Iterations[0].SharedBytes), FormatResidency(lo, hi))
		if rep.Env.StatfsType != tt.fs {
			t.Errorf("%s: probed %s", name, rep.Env.StatfsType)
		}
		if rep.Summary.DataPath != tt.path || rep.Summary.DataPathCheck != tt.check {
			t.Errorf("%s: data path %q by %q (%s), want %q by %q", name, rep.Summary.DataPath, rep.Summary.DataPathCheck, rep.Summary.DataPathNote, tt.path, tt.check)
		}
		shared, why := rep.SharedExtents()
		if shared != (tt.path == DataPathSharedExtents) {
			t.Errorf("%s: SharedExtents() = %v, %q", name, shared, why)
		}
		for _, it := range rep.Iterations {
			switch {
			case tt.path == DataPathSharedExtents && (it.SharedBytes < opts.FileBytes/2 || it.SourceSharedBytes == 0):
				t.Errorf("%s: iteration %d: %d of %d destination bytes shared, %d of the source", name, it.Index, it.SharedBytes, opts.FileBytes, it.SourceSharedBytes)
			case tt.path == DataPathCopied && (it.SharedBytes != 0 || it.AllocatedBytes < opts.FileBytes):
				t.Errorf("%s: iteration %d: %d bytes shared, %d allocated", name, it.Index, it.SharedBytes, it.AllocatedBytes)
			}
			f, ok := it.ResidentFraction()
			switch {
			case !ok:
				t.Errorf("%s: iteration %d: source residency not measured (notes %q)", name, it.Index, rep.Env.Notes)
			case tt.cache == CacheWarm && f < 0.99, tt.residentCold && f < 0.99:
				t.Errorf("%s: iteration %d: source %.0f%% resident, want all of it", name, it.Index, 100*f)
			case tt.cache == CacheCold && !tt.residentCold && f > 0.01:
				t.Errorf("%s: iteration %d: cold source %.0f%% resident after eviction", name, it.Index, 100*f)
			}
		}
	}
	if got := ext4Entries(t, ext4); got != "lost+found" {
		t.Errorf("ext4 left %q", got)
	}
}

func ext4Entries(t *testing.T, dir string) string {
	t.Helper()
	es, err := os.ReadDir(dir)
	must(t, err)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// needRoot skips the test on a machine where it cannot run (not root), and
// fails it where it should (root, as in CI) but a tool is missing: as root
// it never passes without having run. ci/test.sh installs the tools.
func needRoot(t *testing.T, why string, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: " + why)
	}
	pkg := map[string]string{"mkfs.xfs": "xfsprogs", "mkfs.ext4": "e2fsprogs"}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			p := pkg[tool]
			if p == "" {
				p = "util-linux"
			}
			t.Fatalf("running as root but %s is missing (package %s; ci/test.sh installs it): %v", tool, p, err)
		}
	}
}

// loopFilesystem makes a 512 MiB sparse image (xfs wants at least 300 MiB),
// attaches it to a loop device, runs mkfs on it and mounts it; all undone
// at cleanup. As root, no loop device is a failure, not a skip.
func loopFilesystem(t *testing.T, fstype string, mkfs ...string) string {
	t.Helper()
	work := t.TempDir()
	img := filepath.Join(work, fstype+".img")
	mnt := filepath.Join(work, "mnt")
	must(t, os.Mkdir(mnt, 0o755))
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(512<<20))
	must(t, f.Close())
	out, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		t.Fatalf("running as root but no loop device: %v: %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { runQuiet(t, "losetup", "--detach", loop) })
	run(t, append(mkfs, loop)...)
	run(t, "mount", "-t", fstype, loop, mnt)
	t.Cleanup(func() { runQuiet(t, "umount", mnt) })
	return mnt
}
