package pvreboot

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestFilesAreTheRepositorysFiles: the binary carries every shipped
// scenario and kind config and the RBAC manifest, byte for byte, and nothing
// else (a scenario saved as .yml would be missed by the embed pattern).
func TestFilesAreTheRepositorysFiles(t *testing.T) {
	t.Parallel()
	var onDisk []string
	for _, dir := range []string{ScenarioDir, KindConfigDir} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() || e.Name() == "README.md" || filepath.Ext(e.Name()) == ".go" {
				continue
			}
			onDisk = append(onDisk, dir+"/"+e.Name())
		}
	}
	onDisk = append(onDisk, RBACManifest)
	var embedded []string
	err := fs.WalkDir(Files(), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			embedded = append(embedded, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(onDisk)
	if !slices.Equal(embedded, onDisk) {
		t.Fatalf("embedded %v, want the repository's %v", embedded, onDisk)
	}
	for _, p := range embedded {
		want, err := os.ReadFile(filepath.FromSlash(p))
		if err != nil {
			t.Fatal(err)
		}
		got, err := fs.ReadFile(Files(), p)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: embedded copy differs from the file (err %v)", p, err)
		}
	}
}
