package runner

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestKindConfigFile(t *testing.T) {
	t.Parallel()
	shipped := fstest.MapFS{"kind-config/two-workers.yaml": {Data: []byte("shipped\n")}}
	repo := t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "kind-config"), 0o755); err != nil {
		t.Fatal(err)
	}
	onDisk := filepath.Join(repo, "kind-config", "two-workers.yaml")
	if err := os.WriteFile(onDisk, []byte("on disk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	tests := []struct {
		name, config, base string
		configs            fs.FS
		wantFile           string // "" with wantShipped
		wantShipped        bool
	}{
		{name: "none", config: "", base: repo, configs: shipped, wantFile: ""},
		{name: "absolute path wins", config: onDisk, base: empty, configs: shipped, wantFile: onDisk},
		{name: "absolute missing stays a path", config: filepath.Join(empty, "kind-config/two-workers.yaml"), base: repo, configs: shipped, wantFile: filepath.Join(empty, "kind-config/two-workers.yaml")},
		{name: "file under base wins", config: "kind-config/two-workers.yaml", base: repo, configs: shipped, wantFile: onDisk},
		{name: "shipped copy when no file", config: "kind-config/two-workers.yaml", base: empty, configs: shipped, wantShipped: true},
		{name: "shipped copy, relative to the working directory", config: "kind-config/two-workers.yaml", base: "", configs: shipped, wantShipped: true},
		{name: "shipped copy, dot path", config: "./kind-config/two-workers.yaml", base: empty, configs: shipped, wantShipped: true},
		{name: "nowhere: the path, for Create to report", config: "kind-config/three.yaml", base: empty, configs: shipped, wantFile: filepath.Join(empty, "kind-config/three.yaml")},
		{name: "no shipped configs", config: "kind-config/two-workers.yaml", base: empty, configs: nil, wantFile: filepath.Join(empty, "kind-config/two-workers.yaml")},
		{name: "outside the shipped tree", config: "../kind-config/two-workers.yaml", base: empty, configs: shipped, wantFile: filepath.Join(empty, "../kind-config/two-workers.yaml")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file, remove, err := KindConfigFile(tt.config, tt.base, tt.configs)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantShipped {
				remove()
				if file != tt.wantFile {
					t.Errorf("file = %q, want %q", file, tt.wantFile)
				}
				if _, err := os.Stat(onDisk); err != nil {
					t.Errorf("remove touched a file path: %v", err)
				}
				return
			}
			b, err := os.ReadFile(file)
			if err != nil || string(b) != "shipped\n" {
				t.Fatalf("file %q holds %q (%v), want the shipped copy", file, b, err)
			}
			if filepath.Base(file) != "two-workers.yaml" {
				t.Errorf("file %q is not named as the config", file)
			}
			remove()
			if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
				t.Errorf("remove left %s: %v", filepath.Dir(file), err)
			}
		})
	}
}
