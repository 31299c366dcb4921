package capfix

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMissing(t *testing.T) {
	t.Parallel()
	// This VM's CapBnd: everything up to 40 but CAP_SYS_RESOURCE (24).
	got := Missing(0x000001fffeffffff, 40)
	if !reflect.DeepEqual(got, []string{"CAP_SYS_RESOURCE"}) {
		t.Errorf("Missing = %v", got)
	}
	if got := Missing(0x000001ffffffffff, 40); len(got) != 0 {
		t.Errorf("full set: Missing = %v", got)
	}
	if got := Missing(0, 1); !reflect.DeepEqual(got, []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE"}) {
		t.Errorf("empty set: %v", got)
	}
}

func TestFilterConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		fixture     string
		process     bool
		drop        []string
		wantChanged bool
		wantErr     string
	}{
		{name: "privileged config", fixture: "valid-privileged-config.json", drop: []string{"CAP_SYS_RESOURCE"}, wantChanged: true},
		{name: "drop two", fixture: "valid-privileged-config.json", drop: []string{"CAP_SYS_RESOURCE", "CAP_SYS_MODULE"}, wantChanged: true},
		{name: "nothing to drop", fixture: "valid-privileged-config.json", drop: nil},
		{name: "exec process", fixture: "valid-exec-process.json", process: true, drop: []string{"CAP_SYS_RESOURCE"}, wantChanged: true},
		{name: "no capabilities", fixture: "valid-no-capabilities-config.json", drop: []string{"CAP_SYS_RESOURCE"}},
		{name: "malformed capabilities", fixture: "invalid-capabilities-config.json", drop: []string{"CAP_SYS_RESOURCE"}, wantErr: "process.capabilities.bounding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := copyFixture(t, tt.fixture)
			before, _ := os.ReadFile(p)
			var changed bool
			var err error
			if tt.process {
				changed, err = FilterProcessFile(p, tt.drop)
			} else {
				changed, err = FilterConfig(p, tt.drop)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if changed != tt.wantChanged {
				t.Fatalf("changed = %v, want %v", changed, tt.wantChanged)
			}
			after, _ := os.ReadFile(p)
			if !changed {
				if string(after) != string(before) {
					t.Error("file rewritten although nothing changed")
				}
				return
			}
			var doc, orig map[string]any
			if err := json.Unmarshal(after, &doc); err != nil {
				t.Fatal(err)
			}
			_ = json.Unmarshal(before, &orig)
			proc := doc
			origProc := orig
			if !tt.process {
				proc = doc["process"].(map[string]any)
				origProc = orig["process"].(map[string]any)
				if !reflect.DeepEqual(doc["root"], orig["root"]) || !reflect.DeepEqual(doc["linux"], orig["linux"]) {
					t.Error("fields outside process.capabilities changed")
				}
			}
			if !reflect.DeepEqual(proc["args"], origProc["args"]) {
				t.Error("process.args changed")
			}
			for set, v := range proc["capabilities"].(map[string]any) {
				caps := v.([]any)
				origCaps := origProc["capabilities"].(map[string]any)[set].([]any)
				for _, c := range caps {
					if slices.Contains(tt.drop, c.(string)) {
						t.Errorf("%s still holds %s", set, c)
					}
				}
				if len(origCaps) > 0 && len(caps) != len(origCaps)-len(tt.drop) {
					t.Errorf("%s: %d caps left of %d, dropping %d", set, len(caps), len(origCaps), len(tt.drop))
				}
			}
		})
	}
}

func TestSpecFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		configs   []string
		processes []string
	}{
		{name: "docker create", args: []string{"--root", "/run/runc", "--log", "/x/log.json", "create", "--bundle", "/b", "--pid-file", "/b/pid", "id"}, configs: []string{"/b/config.json"}},
		{name: "bundle equals", args: []string{"run", "--bundle=/c", "id"}, configs: []string{"/c/config.json"}},
		{name: "default bundle", args: []string{"create", "id"}, configs: []string{"/cwd/config.json"}},
		{name: "exec process", args: []string{"--root", "/r", "exec", "--process", "/tmp/p.json", "--detach", "id"}, processes: []string{"/tmp/p.json"}},
		{name: "state", args: []string{"state", "id"}},
		{name: "delete", args: []string{"--root", "/r", "delete", "--force", "id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, p := SpecFiles(tt.args, "/cwd")
			if !reflect.DeepEqual(c, tt.configs) || !reflect.DeepEqual(p, tt.processes) {
				t.Errorf("SpecFiles = %v %v, want %v %v", c, p, tt.configs, tt.processes)
			}
		})
	}
}

func TestHostMissing(t *testing.T) {
	t.Parallel()
	if _, err := HostMissing(); err != nil {
		t.Fatal(err)
	}
}
