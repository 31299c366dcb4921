package probe

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunEveryMethodCopiesCorrectly(t *testing.T) {
	t.Parallel()
	cpPath, err := exec.LookPath("cp")
	if err != nil {
		t.Skipf("cp not found: %v", err)
	}
	tests := []struct {
		name   string
		method Method
		exec   []string
		chunk  int64
		cache  CacheMode
	}{
		{name: "sendfile 1Mi cold", method: MethodSendfile, chunk: 1 << 20, cache: CacheCold},
		{name: "sendfile odd chunk warm", method: MethodSendfile, chunk: 300_001, cache: CacheWarm},
		{name: "copy_file_range", method: MethodCopyFileRange, chunk: 1 << 20, cache: CacheCold},
		{name: "readwrite", method: MethodReadWrite, chunk: 64 << 10, cache: CacheCold},
		{name: "exec cp", method: MethodExec, exec: []string{cpPath, "{src}", "{dst}"}, chunk: 1 << 20, cache: CacheCold},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			const size = 5<<20 + 12345 // not a multiple of any chunk
			opts := Options{Dir: dir, Method: tt.method, FileBytes: size, ChunkBytes: tt.chunk,
				Iterations: 3, Cache: tt.cache, ExecCommand: tt.exec}
			rep, err := Run(context.Background(), opts, nil)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if rep.Schema != Schema || rep.Method != tt.method || rep.FileBytes != size {
				t.Errorf("header = %s %s %d", rep.Schema, rep.Method, rep.FileBytes)
			}
			if len(rep.Iterations) != 3 {
				t.Fatalf("iterations = %d, want 3", len(rep.Iterations))
			}
			calls := 0
			for _, it := range rep.Iterations {
				if it.SHA256 != rep.SourceSHA256 || len(it.SHA256) != 64 {
					t.Errorf("iteration %d sha256 %q, source %q", it.Index, it.SHA256, rep.SourceSHA256)
				}
				var sum int64
				for _, c := range it.Calls {
					sum += c.Bytes
					if c.Bytes > tt.chunk && tt.method != MethodExec {
						t.Errorf("call of %d bytes exceeds chunk %d", c.Bytes, tt.chunk)
					}
					if c.Ns <= 0 {
						t.Errorf("call with %d ns", c.Ns)
					}
				}
				if sum != size || it.Bytes != size {
					t.Errorf("iteration %d: calls sum to %d (Bytes %d), want %d", it.Index, sum, it.Bytes, size)
				}
				if it.BytesPerSecond <= 0 {
					t.Errorf("iteration %d: bytesPerSecond %v", it.Index, it.BytesPerSecond)
				}
				calls += len(it.Calls)
			}
			if rep.Summary.Calls != calls {
				t.Errorf("summary calls = %d, want %d", rep.Summary.Calls, calls)
			}
			if tt.method == MethodSendfile && tt.chunk == 1<<20 && calls < 3*6 {
				t.Errorf("sendfile made %d calls, want at least 18 for 5Mi in 1Mi chunks", calls)
			}
			s := rep.Summary
			if !(s.MinNs <= s.P50Ns && s.P50Ns <= s.P90Ns && s.P90Ns <= s.P99Ns && s.P99Ns <= s.MaxNs) {
				t.Errorf("percentiles out of order: %+v", s)
			}
			left, _ := os.ReadDir(dir)
			if len(left) != 0 {
				t.Errorf("files left behind: %v", left)
			}
		})
	}
}

func TestRunKeep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := Options{Dir: dir, Method: MethodSendfile, FileBytes: 1 << 20, ChunkBytes: 1 << 18, Iterations: 2, Cache: CacheWarm, Keep: true}
	rep, err := Run(context.Background(), opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range rep.Iterations {
		if _, err := os.Stat(it.Destination); err != nil {
			t.Errorf("kept copy missing: %v", err)
		}
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := Options{Method: MethodSendfile, FileBytes: 1 << 20, ChunkBytes: 1 << 20, Iterations: 1, Cache: CacheCold}
	tests := []struct {
		name   string
		mutate func(o *Options)
		want   string
		is     error
	}{
		{name: "missing dir", mutate: func(o *Options) { o.Dir = "/nonexistent/pvreboot" }, want: `dir "/nonexistent/pvreboot"`},
		{name: "not a directory", mutate: func(o *Options) { o.Dir = file }, want: "not a directory"},
		{name: "no space", mutate: func(o *Options) { o.FileBytes = 1 << 60 }, is: ErrNoSpace},
		{name: "zero chunk", mutate: func(o *Options) { o.ChunkBytes = 0 }, want: "chunk-size: 0 is not a positive size"},
		{name: "unknown method", mutate: func(o *Options) { o.Method = "splice" }, want: `method: unknown method "splice"`},
		{name: "exec without placeholders", mutate: func(o *Options) { o.Method = MethodExec; o.ExecCommand = []string{"cp", "a", "b"} }, want: "must contain {src} and {dst}"},
		{name: "failing exec", mutate: func(o *Options) { o.Method = MethodExec; o.ExecCommand = []string{"false", "{src}", "{dst}"} }, want: "exec"},
		{name: "exec not copying", mutate: func(o *Options) { o.Method = MethodExec; o.ExecCommand = []string{"touch", "{src}", "{dst}"} }, want: "destination has 0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o := base
			o.Dir = t.TempDir()
			tt.mutate(&o)
			_, err := Run(context.Background(), o, nil)
			if err == nil {
				t.Fatal("Run succeeded, want an error")
			}
			if tt.want != "" && !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if o.Dir != file && !strings.HasPrefix(o.Dir, "/nonexistent") {
				if left, _ := os.ReadDir(o.Dir); len(left) != 0 {
					t.Errorf("files left behind after error: %v", left)
				}
			}
		})
	}
}

func TestRunChecksumMismatch(t *testing.T) {
	t.Parallel()
	// An "exec copy" that corrupts the destination must be caught.
	dir := t.TempDir()
	o := Options{Dir: dir, Method: MethodExec, FileBytes: 1 << 16, ChunkBytes: 1 << 16, Iterations: 1, Cache: CacheWarm,
		ExecCommand: []string{"sh", "-c", "cp \"$0\" \"$1\" && printf X | dd of=\"$1\" bs=1 seek=100 conv=notrunc 2>/dev/null", "{src}", "{dst}"}}
	_, err := Run(context.Background(), o, nil)
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("err = %v, want ErrChecksumMismatch", err)
	}
}

func TestRunCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	_, err := Run(ctx, Options{Dir: dir, Method: MethodSendfile, FileBytes: 4 << 20, ChunkBytes: 1 << 20, Iterations: 2, Cache: CacheCold}, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left behind: %v", left)
	}
}

func TestPercentileKnownSamples(t *testing.T) {
	t.Parallel()
	oneTo100 := make([]float64, 100)
	for i := range oneTo100 {
		oneTo100[i] = float64(i + 1)
	}
	tests := []struct {
		name    string
		samples []float64
		p       float64
		want    float64
	}{
		{name: "p50 of 1..100", samples: oneTo100, p: 0.50, want: 50},
		{name: "p90 of 1..100", samples: oneTo100, p: 0.90, want: 90},
		{name: "p99 of 1..100", samples: oneTo100, p: 0.99, want: 99},
		{name: "p100 of 1..100", samples: oneTo100, p: 1, want: 100},
		{name: "p50 of 5 (nearest rank 3)", samples: []float64{10, 20, 30, 40, 50}, p: 0.5, want: 30},
		{name: "p90 of 5 (nearest rank 5)", samples: []float64{10, 20, 30, 40, 50}, p: 0.9, want: 50},
		{name: "p50 of 4 (nearest rank 2)", samples: []float64{1, 2, 3, 4}, p: 0.5, want: 2},
		{name: "single", samples: []float64{7}, p: 0.99, want: 7},
		{name: "empty", samples: nil, p: 0.5, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tt.samples, tt.p); got != tt.want {
				t.Errorf("Percentile(%v) = %v, want %v", tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t.Parallel()
	its := []Iteration{
		{Calls: []Call{{Bytes: 10, Ns: 100}, {Bytes: 10, Ns: 300}}, Bytes: 20, Ns: 400, BytesPerSecond: 5e7},
		{Calls: []Call{{Bytes: 10, Ns: 200}, {Bytes: 10, Ns: 400}}, Bytes: 20, Ns: 600, BytesPerSecond: 3.33e7},
	}
	s := Summarize(its)
	want := Summary{Calls: 4, P50Ns: 200, P90Ns: 400, P99Ns: 400, MaxNs: 400, MinNs: 100, MeanNs: 250, BytesPerSecond: 40 / 1e-6}
	if s.Calls != want.Calls || s.P50Ns != want.P50Ns || s.P90Ns != want.P90Ns || s.P99Ns != want.P99Ns ||
		s.MaxNs != want.MaxNs || s.MinNs != want.MinNs || s.MeanNs != want.MeanNs || s.BytesPerSecond != want.BytesPerSecond {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
	if len(s.IterationBytesPerSecond) != 2 {
		t.Errorf("iteration throughputs = %v", s.IterationBytesPerSecond)
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "16Mi", want: 16 << 20},
		{in: "256Mi", want: 256 << 20},
		{in: "1Gi", want: 1 << 30},
		{in: "64Ki", want: 64 << 10},
		{in: "4096", want: 4096},
		{in: "2MB", want: 2e6},
		{in: "0", wantErr: "0 is not a positive size"},
		{in: "0Mi", wantErr: "0Mi is not a positive size"},
		{in: "-1", wantErr: "not a size"},
		{in: "12Qi", wantErr: `unknown unit "Qi"`},
		{in: "", wantErr: "not a size"},
		{in: "99999999999Ti", wantErr: "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSize(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
			if back, _ := ParseSize(FormatSize(got)); back != got {
				t.Errorf("FormatSize(%d) = %q does not round-trip", got, FormatSize(got))
			}
		})
	}
}

func TestParseMountInfoLine(t *testing.T) {
	t.Parallel()
	line := `36 35 7:0 /pv\0401 /var/lib/kubelet/pods/x/volumes/kubernetes.io~local-volume/pv rw,noatime shared:1 master:2 - ext4 /dev/loop0 rw,data=ordered`
	m, err := ParseMountInfoLine(line)
	if err != nil {
		t.Fatal(err)
	}
	want := Mount{MountID: 36, MajorMinor: "7:0", Root: "/pv 1",
		MountPoint: "/var/lib/kubelet/pods/x/volumes/kubernetes.io~local-volume/pv", MountOptions: "rw,noatime",
		FSType: "ext4", Source: "/dev/loop0", SuperOptions: "rw,data=ordered"}
	if m != want {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	if _, err := ParseMountInfoLine("garbage"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestFindMountLongestPrefix(t *testing.T) {
	t.Parallel()
	info := strings.Join([]string{
		`1 0 0:45 / / rw - overlay overlay rw`,
		`2 1 7:0 / /data rw - ext4 /dev/loop0 rw`,
		`3 1 0:50 / /database rw - tmpfs tmpfs rw`,
		`4 2 7:1 / /data/inner rw - xfs /dev/loop1 rw`,
	}, "\n")
	tests := []struct{ path, want string }{
		{"/data/x", "7:0"}, {"/data", "7:0"}, {"/database/y", "0:50"}, {"/data/inner/z", "7:1"}, {"/etc", "0:45"},
	}
	for _, tt := range tests {
		m, err := findMount(bufio.NewScanner(strings.NewReader(info)), tt.path)
		if err != nil || m.MajorMinor != tt.want {
			t.Errorf("findMount(%s) = %s, %v; want %s", tt.path, m.MajorMinor, err, tt.want)
		}
	}
}

func TestCollectEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	env, err := CollectEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	if env.KernelRelease == "" || env.BootID == "" {
		t.Errorf("kernel %q bootID %q", env.KernelRelease, env.BootID)
	}
	if env.Mount.MountPoint == "" || env.Mount.FSType == "" || !strings.Contains(env.Mount.MajorMinor, ":") {
		t.Errorf("mount = %+v", env.Mount)
	}
	if env.StatfsType == "" || env.Cgroup.Version == "" {
		t.Errorf("statfs %q cgroup %q", env.StatfsType, env.Cgroup.Version)
	}
	if _, ok := env.Sysctls["vm.dirty_ratio"]; !ok {
		t.Errorf("sysctls = %v", env.Sysctls)
	}
	if _, err := CollectEnv("/nonexistent/pvreboot"); err == nil {
		t.Error("CollectEnv of a missing dir succeeded")
	}
}

// FuzzParseSize: the probe's size flags never panic and never overflow.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"16Mi", "256Mi", "1", "4611686018427387904", "9223372036854775807Ti", "-1", "1.5Gi", " 2 GB "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && (n <= 0 || n > 1<<62) {
			t.Fatalf("ParseSize(%q) = %d, outside (0, 2^62]", s, n)
		}
	})
}
