package probe

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestMincoreSeesCache(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name        string
		owner, euid uint32
		writable    bool
		want        bool
	}{
		{name: "owner", owner: 1000, euid: 1000, want: true},
		{name: "owner of a read-only file", owner: 0, euid: 0, want: true},
		{name: "may write", owner: 0, euid: 1000, writable: true, want: true},
		{name: "stranger", owner: 0, euid: 65534, want: false},
		{name: "root reading another user's file it may not write", owner: 1000, euid: 0, want: false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := mincoreSeesCache(tt.owner, tt.euid, tt.writable); got != tt.want {
				t.Errorf("mincoreSeesCache(owner %d, euid %d, writable %v) = %v, want %v", tt.owner, tt.euid, tt.writable, got, tt.want)
			}
		})
	}
}

// residencyHelperEnv names the file TestResidencyHelperProcess measures; it
// is set only in the helper subprocess.
const residencyHelperEnv = "PVREBOOT_TEST_RESIDENCY_FILE"

// residencyOutcome is what the helper subprocess prints on one line after
// residencyMarker.
type residencyOutcome struct {
	Measured bool     `json:"measured"`
	Notes    []string `json:"notes"`
}

const residencyMarker = "residency-outcome: "

// TestResidencyHelperProcess is not a test: run by TestResidencyAsAnotherUser
// under another uid, it measures the file it is given as the probe does.
func TestResidencyHelperProcess(t *testing.T) {
	path := os.Getenv(residencyHelperEnv)
	if path == "" {
		t.Skip("helper subprocess of TestResidencyAsAnotherUser")
	}
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	st, err := f.Stat()
	must(t, err)
	var (
		it    Iteration
		notes []string
	)
	sourceResidency(&it, f, st.Size(), &notes)
	b, err := json.Marshal(residencyOutcome{Measured: it.SourceResidentBytes != nil, Notes: notes})
	must(t, err)
	os.Stdout.Write(append([]byte(residencyMarker), append(b, '\n')...))
}

// TestResidencyAsAnotherUser runs the measurement as uid 65534 (nobody) on a
// file it neither owns nor may write, where Linux 5.2 and later report every
// page resident: it must be recorded as not measured, with the reason. A
// file the uid may write, or owns, is measured. Needs root to switch uid.
func TestResidencyAsAnotherUser(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the helper subprocess as uid 65534")
	}
	const nobody = 65534
	// A directory uid 65534 may enter, holding a copy of this test binary.
	dir, err := os.MkdirTemp("", "residency-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	must(t, os.Chmod(dir, 0o755))
	self, err := os.Executable()
	must(t, err)
	bin := filepath.Join(dir, "probe.test")
	must(t, copyFile(self, bin, 0o755))

	for _, tt := range []struct {
		name     string
		mode     os.FileMode
		owner    int // -1: root's
		measured bool
	}{
		{name: "neither owner nor writer", mode: 0o644, owner: -1},
		{name: "writer", mode: 0o666, owner: -1, measured: true},
		{name: "owner", mode: 0o444, owner: nobody, measured: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			must(t, os.WriteFile(path, make([]byte, 1<<20), 0o600))
			must(t, os.Chmod(path, tt.mode)) // not filtered by the umask
			if tt.owner >= 0 {
				must(t, os.Chown(path, tt.owner, tt.owner))
			}
			cmd := exec.CommandContext(t.Context(), bin, "-test.run=^TestResidencyHelperProcess$")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), residencyHelperEnv+"="+path)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("helper as uid %d: %v\n%s", nobody, err, out)
			}
			_, line, ok := strings.Cut(string(out), residencyMarker)
			if !ok {
				t.Fatalf("helper printed no outcome:\n%s", out)
			}
			var got residencyOutcome
			line, _, _ = strings.Cut(line, "\n")
			must(t, json.Unmarshal([]byte(line), &got))
			if got.Measured != tt.measured {
				t.Errorf("measured = %v, want %v (notes %q)", got.Measured, tt.measured, got.Notes)
			}
			wantNote := !tt.measured
			if hasNote := len(got.Notes) == 1 && strings.Contains(got.Notes[0], "neither owns it (uid 0) nor may write it"); hasNote != wantNote {
				t.Errorf("notes %q, want the reason: %v", got.Notes, wantNote)
			}
		})
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
