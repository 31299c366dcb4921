package nodeimage

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pvreboot/pvreboot/framework/probeimage"
)

// elfExecutable writes a minimal ELF executable header for this host's
// machine (read from the test binary): with a PT_INTERP program header (it
// needs a dynamic loader) when dynamic, else static. Nothing runs it.
func elfExecutable(t *testing.T, dynamic bool) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(self)
	if err != nil {
		t.Skipf("the test binary is not ELF: %v", err)
	}
	machine, class, order := f.Machine, f.Class, f.ByteOrder
	f.Close()
	if class != elf.ELFCLASS64 {
		t.Skipf("writes 64-bit ELF only; this host is %s", class)
	}
	progs := []elf.Prog64{{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X)}}
	if dynamic {
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Flags: uint32(elf.PF_R)})
	}
	data := elf.ELFDATA2LSB
	if order == binary.BigEndian {
		data = elf.ELFDATA2MSB
	}
	h := elf.Header64{
		Type: uint16(elf.ET_EXEC), Machine: uint16(machine), Version: uint32(elf.EV_CURRENT),
		Phoff: uint64(binary.Size(elf.Header64{})), Ehsize: uint16(binary.Size(elf.Header64{})),
		Phentsize: uint16(binary.Size(elf.Prog64{})), Phnum: uint16(len(progs)),
	}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS], h.Ident[elf.EI_DATA], h.Ident[elf.EI_VERSION] = byte(elf.ELFCLASS64), byte(data), byte(elf.EV_CURRENT)
	var b bytes.Buffer
	if err := binary.Write(&b, order, h); err != nil {
		t.Fatal(err)
	}
	if err := binary.Write(&b, order, progs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pvreboot")
	if err := os.WriteFile(path, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigPauseNoderoutesFrom(t *testing.T) {
	t.Parallel()
	static, dynamic := elfExecutable(t, false), elfExecutable(t, true)
	base := Config{Versions: DefaultVersions(), CacheDir: "/var/cache/pvreboot"}
	for _, tt := range []struct {
		name                  string
		sourceDir, executable string
		want                  string // "" for valid
		wantNotStatic         bool
	}{
		{name: "source tree", sourceDir: "/src/pvreboot"},
		{name: "static executable", executable: static},
		{name: "neither", want: "source dir: must be set to the pvreboot module root, or executable to a static pvreboot"},
		{name: "both", sourceDir: "/src/pvreboot", executable: static, want: "source dir and executable: set only one"},
		{name: "dynamic executable", executable: dynamic, want: "executable: " + dynamic + ": not statically linked (build it with CGO_ENABLED=0)", wantNotStatic: true},
		{name: "missing executable", executable: "/nonexistent/pvreboot", want: "executable: /nonexistent/pvreboot: open"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := base
			c.SourceDir, c.Executable = tt.sourceDir, tt.executable
			err := c.Validate()
			if tt.want == "" {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Validate() = %v, want it to say %q", err, tt.want)
			}
			if got := errors.Is(err, probeimage.ErrNotStatic); got != tt.wantNotStatic {
				t.Errorf("errors.Is(%v, ErrNotStatic) = %v, want %v", err, got, tt.wantNotStatic)
			}
		})
	}
}

// TestOwnBuildCopiesExecutable: with Executable, pause and noderoutes are
// copies of it (what ownBuild makes is hashed downstream), and the step
// says it copies rather than builds.
func TestOwnBuildCopiesExecutable(t *testing.T) {
	t.Parallel()
	exe := elfExecutable(t, false)
	cfg := Config{CacheDir: t.TempDir(), Executable: exe, Go: "/nonexistent/go"}.withDefaults()
	stale := filepath.Join(cfg.CacheDir, "bin", "pvreboot-own", "copyprobe")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("left by an older build"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := runner{cfg: cfg}.ownBuild(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := fileSHA256(exe)
	if err != nil {
		t.Fatal(err)
	}
	got, err := fileHashes(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["pause"] != want || got["noderoutes"] != want {
		t.Errorf("%s holds %v, want exactly pause and noderoutes with the executable's sha256 %s", out, got, want)
	}
	for _, n := range []string{"pause", "noderoutes"} {
		if fi, err := os.Stat(filepath.Join(out, n)); err != nil || fi.Mode().Perm() != 0o755 {
			t.Errorf("%s: %v, %v; want mode 0755", n, fi, err)
		}
	}
	if s := cfg.ownStep(); s != "pause, noderoutes: copy the static pvreboot executable" {
		t.Errorf("step %q does not say it copies the executable", s)
	}
	cfg.Executable, cfg.SourceDir = "", "/src/pvreboot"
	if s := cfg.ownStep(); s != "go build pause, noderoutes" {
		t.Errorf("step %q does not say it builds", s)
	}
}
