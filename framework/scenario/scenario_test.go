package scenario

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestValidFixtures(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/valid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no valid fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			if _, err := Load(f); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

// Every invalid fixture lists the errors it must produce in "# want:" lines.
func TestInvalidFixtures(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/invalid-*.yaml")
	if len(files) == 0 {
		t.Fatal("no invalid fixtures")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var wants []string
			for _, line := range strings.Split(string(b), "\n") {
				if w, ok := strings.CutPrefix(line, "# want: "); ok {
					wants = append(wants, w)
				}
			}
			if len(wants) == 0 {
				t.Fatal("fixture has no # want: lines")
			}
			_, err = Load(f)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error is not ErrInvalid: %v", err)
			}
			for _, w := range wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q; got:\n%v", w, err)
				}
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	s, err := Load("testdata/valid-minimal.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Spec
	checks := []struct {
		name      string
		got, want any
	}{
		{"cluster.kind.name", sp.Cluster.Kind.Name, "pvreboot"},
		{"cluster.kind.config", sp.Cluster.Kind.Config, "kind-config/two-workers.yaml"},
		{"cluster.nodes.names", strings.Join(sp.Cluster.Nodes.Names, ","), "pvreboot-worker"},
		{"volumes[0].backing", sp.Volumes[0].Backing, BackingDirectory},
		{"volumes[0].size", sp.Volumes[0].Size, "2Gi"},
		{"volumes[0].count", sp.Volumes[0].Instances(), 1},
		{"volumes[0].storageClass", sp.Volumes[0].StorageClass, "pvreboot-local"},
		{"workload.method", sp.Workload.Method, "sendfile"},
		{"workload.fileSize", sp.Workload.FileSize, "256Mi"},
		{"workload.chunkSize", sp.Workload.ChunkSize, "16Mi"},
		{"workload.iterations", sp.Workload.Copies(), 5},
		{"workload.cache", sp.Workload.Cache, "cold"},
		{"reboot.method", sp.Reboot.Method, RebootKindRestart},
		{"reboot.count", sp.Reboot.Times(), 1},
		{"reboot.timeout", sp.Reboot.Timeout.Duration, 5 * time.Minute},
		{"phases", strings.Join(sp.Phases, ","), "baseline,after-reboot,after-recreate"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	full, err := Load("testdata/valid-full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if full.Spec.Budgets[2].Statistical.Alpha != 0.01 || full.Spec.Faults[0].ReadBPS.BytesPerSecond != 20<<20 {
		t.Errorf("budget/fault defaults: %+v %+v", full.Spec.Budgets[2].Statistical, full.Spec.Faults[0].ReadBPS)
	}
	if full.Spec.Budgets[3].Min.BytesPerSecond != 200e6 || full.Spec.Budgets[0].Max.Duration != 120*time.Millisecond {
		t.Errorf("budget units: %+v %+v", full.Spec.Budgets[3].Min, full.Spec.Budgets[0].Max)
	}
}

// Every shipped scenario loads.
func TestShippedScenarios(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) == 0 {
		t.Fatal("no scenarios shipped")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if KindOf(b) == KindQualification {
			read := func(name string) ([]byte, string, error) {
				p := filepath.Join(filepath.Dir(f), name)
				b, err := os.ReadFile(p)
				return b, p, err
			}
			if _, err := ParseQualification(b, read); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestParseThroughput(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"200MB/s": 200e6, "20MiB/s": 20 << 20, "1.5GB/s": 1.5e9, "512B/s": 512} {
		got, err := ParseThroughput(in)
		if err != nil || got != want {
			t.Errorf("ParseThroughput(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"200MB", "fastMB/s", "3furlongs/s"} {
		if _, err := ParseThroughput(in); err == nil {
			t.Errorf("ParseThroughput(%q) succeeded", in)
		}
	}
}

// FuzzParse: decoding and validation never panic, and whatever validates
// yields only valid Kubernetes names, paths under pvreboot's root and sizes
// that cannot overflow.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	shipped, _ := filepath.Glob("../../scenarios/*.yaml")
	for _, file := range append(files, shipped...) {
		b, _ := os.ReadFile(file)
		f.Add(b)
	}
	f.Add([]byte("spec: {budgets: [{statistical: {}}]}"))
	f.Add([]byte("a: &a [*a, *a]\nb: &b [*a, *a]\nc: [*b, *b]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error is not ErrInvalid: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario that does not validate: %v", err)
		}
		checkDerived(t, s)
	})
}

// checkDerived checks every name and path a run derives from a valid scenario.
func checkDerived(t *testing.T, s *Scenario) {
	t.Helper()
	bad := func(what, v string, msgs []string) {
		if len(msgs) > 0 {
			t.Fatalf("%s %q is invalid: %v", what, v, msgs)
		}
	}
	bad("label value", s.Metadata.Name, validation.IsValidLabelValue(s.Metadata.Name))
	const root = "/mnt/pvreboot"
	for _, v := range s.Spec.Volumes {
		for i := 0; i < v.Instances(); i++ {
			name := v.InstanceName(i)
			bad("PVC name", name, validation.IsDNS1123Label(name))
			pv := "pvreboot-ffffffff-" + name
			bad("PV name", pv, validation.IsDNS1123Subdomain(pv))
			p := path.Join(root, pv)
			if path.Dir(p) != root || strings.ContainsAny(name, "/.$`\\'\" ") {
				t.Fatalf("volume %q leaves the root: %s", name, p)
			}
			if unit := strings.ReplaceAll(strings.TrimPrefix(p, "/"), "-", `\x2d`); len(unit)+len(".mount") > 255 {
				t.Fatalf("mount unit of %q is %d characters", name, len(unit)+6)
			}
		}
		bad("StorageClass", v.StorageClass, validation.IsDNS1123Subdomain(v.StorageClass))
		if n := v.Bytes(); n < MinVolumeBytes || n > MaxVolumeBytes {
			t.Fatalf("volume size %d out of bounds", n)
		}
	}
	w := s.Spec.Workload
	if f, c := w.FileBytes(), w.ChunkBytes(); f < MinCopyBytes || c < MinCopyBytes || c > MaxChunkBytes || (f+c-1)/c*int64(w.Copies()) > MaxCalls {
		t.Fatalf("workload out of bounds: file %d chunk %d copies %d", f, c, w.Copies())
	}
	if k := s.Spec.Cluster.Kind; k != nil {
		bad("kind node name", k.Name+"-control-plane", validation.IsDNS1123Label(k.Name+"-control-plane"))
	}
	for _, n := range s.Spec.Cluster.Nodes.Names {
		bad("node name", n, validation.IsDNS1123Subdomain(n))
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"2Gi", "16M", "1.5Gi", "4611686018427387904", "1e3", "100m", "-1", "NaN", "0x10", "64Ti", "65Ti"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err == nil && (n <= 0 || n > MaxVolumeBytes) {
			t.Fatalf("ParseBytes(%q) = %d, outside (0, 64Ti]", s, n)
		}
	})
}

// A field reported for its shape is not reported again for its zero value,
// and a file whose values have no JSON form reports only that.
func TestShapeErrorsAreReportedOnce(t *testing.T) {
	t.Parallel()
	for file, want := range map[string]int{"testdata/invalid-hostile-string-iterations.yaml": 1, "testdata/invalid-hostile-infinite-ratio.yaml": 1} {
		_, err := Load(file)
		es, ok := AsInvalid(err)
		if !ok || len(es) != want {
			t.Errorf("%s: %d problems, want %d:\n%v", file, len(es), want, err)
		}
	}
}
