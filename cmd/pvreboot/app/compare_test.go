package app

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// compare refuses two runs of different workloads (exit 2, naming what
// differs) unless told otherwise; runs of the same workload compare.
func TestCompareRefusesDifferentWorkloads(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	probeTo := func(name string, args ...string) string {
		t.Helper()
		code, out, stderr := run(t, append([]string{"probe", "--dir", dir, "--file-size", "1Mi", "--chunk-size", "256Ki", "--iterations", "5", "-o", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("probe %v: exit %d: %s", args, code, stderr)
		}
		f := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(f, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	a := probeTo("a.json", "--method", "sendfile")
	b := probeTo("b.json", "--method", "sendfile")
	c := probeTo("c.json", "--method", "readwrite", "--chunk-size", "128Ki")

	code, _, stderr := run(t, "compare", a, c)
	if code != 2 || !strings.Contains(stderr, "measured different workloads (method: sendfile vs readwrite; chunk size: 256Ki vs 128Ki)") {
		t.Errorf("different workloads: exit %d, stderr %q", code, stderr)
	}
	code, out, stderr := run(t, "compare", "--allow-different-workloads", "--max-slowdown", "1000", a, c)
	if code != 0 || !strings.Contains(out, "warning: different workloads (method: sendfile vs readwrite") {
		t.Errorf("--allow-different-workloads: exit %d, out %q, stderr %q", code, out, stderr)
	}
	if code, out, stderr := run(t, "compare", "--max-slowdown", "1000", a, b); code != 0 || strings.Contains(out, "different workloads") {
		t.Errorf("same workload: exit %d, out %q, stderr %q", code, out, stderr)
	}
}
