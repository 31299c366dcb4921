package probeimage

import (
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pvreboot/pvreboot/framework/exec"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// ErrNotStatic is returned for a binary that needs a dynamic loader.
var ErrNotStatic = errors.New("not statically linked")

// platformInfo is what this package knows of a platform: its ELF machine
// and Debian's name for the architecture.
type platformInfo struct {
	machine elf.Machine
	debian  string
}

func platforms() map[string]platformInfo {
	return map[string]platformInfo{
		"amd64":   {elf.EM_X86_64, "amd64"},
		"arm64":   {elf.EM_AARCH64, "arm64"},
		"ppc64le": {elf.EM_PPC64, "ppc64el"},
		"s390x":   {elf.EM_S390, "s390x"},
		"riscv64": {elf.EM_RISCV, "riscv64"},
	}
}

// SupportedArchitectures are the GOARCH values a probe image can be made for.
func SupportedArchitectures() []string { return slices.Sorted(maps.Keys(platforms())) }

func debianArch(p v1.Platform) (string, bool) {
	i, ok := platforms()[p.Architecture]
	return i.debian, ok && p.OS == "linux"
}

// HostPlatform is the platform this program runs on (the one kind nodes
// on this host have).
func HostPlatform() v1.Platform {
	p, err := ParsePlatform(runtime.GOOS + "/" + runtime.GOARCH)
	if err != nil {
		return v1.Platform{OS: runtime.GOOS, Architecture: runtime.GOARCH}
	}
	return p
}

// CheckStatic returns an error unless path is a Linux ELF executable for p
// that needs no dynamic loader (the image has no libc).
func CheckStatic(path string, p v1.Platform) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	info, ok := platforms()[p.Architecture]
	if !ok || p.OS != "linux" {
		return fmt.Errorf("%s: platform %s unsupported", path, PlatformString(p))
	}
	if f.Machine != info.machine {
		return fmt.Errorf("%s: built for %s, not %s", path, f.Machine, PlatformString(p))
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s: not an executable (%s)", path, f.Type)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("%s: %w (build it with CGO_ENABLED=0)", path, ErrNotStatic)
		}
	}
	return nil
}

// Sources finds, for each platform, the two static binaries the image needs.
// The zero value looks only at given paths; cmd/ fills in this executable,
// source trees and the module version it was built from.
type Sources struct {
	// CacheDir keeps built and downloaded binaries (absolute).
	CacheDir string
	// Copyprobe and Busybox name a binary per platform ("linux/arm64"),
	// used instead of any search.
	Copyprobe, Busybox map[string]string
	// Self is the running executable, used as /copyprobe for its own
	// platform when it is static: it must run copyprobe when invoked as
	// "copyprobe" (argv[0] dispatch).
	Self string
	// HostBusybox is a BusyBox to try first for every platform (it is used
	// where it is static and of that platform), e.g. /bin/busybox.
	HostBusybox string
	// SourceDirs are pvreboot module roots to build cmd/copyprobe from,
	// tried in order; a folder that is not one is skipped.
	SourceDirs []string
	// Module and Version: the module whose cmd/copyprobe is built, fetched
	// with `go mod download` when no source dir has it (Version must be a
	// release or pseudo-version).
	Module, Version string
	// Go is the go command (default "go"); AptGet and DpkgDeb fetch
	// Debian's busybox-static for other architectures (default apt-get,
	// dpkg-deb).
	Go, AptGet, DpkgDeb string
	// Progress gets a line when a slow step (a build, a download) starts.
	Progress io.Writer
	Log      *slog.Logger
}

func (s Sources) withDefaults() Sources {
	if s.Go == "" {
		s.Go = "go"
	}
	if s.AptGet == "" {
		s.AptGet = "apt-get"
	}
	if s.DpkgDeb == "" {
		s.DpkgDeb = "dpkg-deb"
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	if s.Progress == nil {
		s.Progress = io.Discard
	}
	return s
}

// Variants gathers the binaries of each platform; the error lists every
// platform that has none and says how to give one.
func (s Sources) Variants(ctx context.Context, ps []v1.Platform) ([]Variant, error) {
	s = s.withDefaults()
	var vs []Variant
	var errs []error
	for _, p := range ps {
		cp, err := s.copyprobe(ctx, p)
		if err != nil {
			errs = append(errs, err)
		}
		bb, berr := s.busybox(ctx, p)
		if berr != nil {
			errs = append(errs, berr)
		}
		if err == nil && berr == nil {
			vs = append(vs, Variant{Platform: p, Copyprobe: cp, Busybox: bb})
		}
	}
	return vs, errors.Join(errs...)
}

func given(m map[string]string, p v1.Platform) (string, bool) {
	for k, v := range m {
		if q, err := ParsePlatform(k); err == nil && q.Equals(p) {
			return v, true
		}
	}
	return "", false
}

func (s Sources) copyprobe(ctx context.Context, p v1.Platform) (Binary, error) {
	ps := PlatformString(p)
	if path, ok := given(s.Copyprobe, p); ok {
		if err := CheckStatic(path, p); err != nil {
			return Binary{}, fmt.Errorf("copyprobe for %s: %w", ps, err)
		}
		return Binary{Path: path, From: "given " + path}, nil
	}
	var why []string
	if s.Self != "" {
		err := CheckStatic(s.Self, p)
		if err == nil {
			return Binary{Path: s.Self, From: "this executable (" + s.Self + ")"}, nil
		}
		why = append(why, "this executable: "+err.Error())
	}
	dir, err := s.moduleDir(ctx)
	if err != nil {
		why = append(why, err.Error())
		return Binary{}, fmt.Errorf("copyprobe for %s: no static binary (%s); pass --copyprobe %s=PATH (CGO_ENABLED=0 GOOS=linux GOARCH=%s go build ./cmd/copyprobe) or --source-dir",
			ps, strings.Join(why, "; "), ps, p.Architecture)
	}
	bin, err := s.build(ctx, dir, p)
	if err != nil {
		return Binary{}, fmt.Errorf("copyprobe for %s: %w", ps, err)
	}
	return Binary{Path: bin, From: "built from " + dir}, nil
}

// moduleDir returns a pvreboot module root: the first source dir that is
// one, else the module cache copy of Module@Version.
func (s Sources) moduleDir(ctx context.Context) (string, error) {
	var why []string
	for _, d := range s.SourceDirs {
		err := isModuleRoot(d, s.Module)
		if err == nil {
			return d, nil
		}
		why = append(why, err.Error())
	}
	if s.Module == "" || s.Version == "" || s.Version == "(devel)" || strings.Contains(s.Version, "+") || module.Check(s.Module, s.Version) != nil {
		why = append(why, fmt.Sprintf("module %s version %q cannot be downloaded", s.Module, s.Version))
		return "", errors.New(strings.Join(why, "; "))
	}
	out, err := exec.Output(ctx, exec.Cmd{Argv: []string{s.Go, "mod", "download", "-json", s.Module + "@" + s.Version}, Env: []string{"GOWORK=off"}})
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		err = errors.New(info.Error)
	}
	if err != nil || info.Dir == "" {
		return "", fmt.Errorf("go mod download %s@%s: %v", s.Module, s.Version, err)
	}
	return info.Dir, nil
}

// isModuleRoot checks that dir holds the go.mod of module (any module when
// empty) and cmd/copyprobe.
func isModuleRoot(dir, mod string) error {
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return fmt.Errorf("source dir %s: %w", dir, err)
	}
	if got := modfile.ModulePath(b); mod != "" && got != mod {
		return fmt.Errorf("source dir %s: module %q, not %q", dir, got, mod)
	}
	if _, err := os.Stat(filepath.Join(dir, "cmd", "copyprobe", "main.go")); err != nil {
		return fmt.Errorf("source dir %s: no cmd/copyprobe", dir)
	}
	return nil
}

// build cross-compiles cmd/copyprobe of the module at dir for p, static and
// stripped, into the cache (Go's build cache makes a rebuild cheap).
func (s Sources) build(ctx context.Context, dir string, p v1.Platform) (string, error) {
	if s.CacheDir == "" {
		return "", errors.New("build: no cache dir")
	}
	outDir := filepath.Join(s.CacheDir, "probe")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(outDir, "copyprobe-"+strings.ReplaceAll(PlatformString(p), "/", "-"))
	tmp := out + ".tmp"
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Architecture, "GOWORK=off", "GOFLAGS=-mod=readonly"}
	if p.Architecture == "arm" && p.Variant != "" {
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	}
	s.Log.Info("build copyprobe", "platform", PlatformString(p), "dir", dir)
	fmt.Fprintf(s.Progress, "building copyprobe for %s from %s (static, Go build cache reused)\n", PlatformString(p), dir)
	if _, err := exec.Run(ctx, exec.Cmd{Dir: dir, Env: env,
		Argv: []string{s.Go, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", tmp, "./cmd/copyprobe"}}); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, CheckStatic(out, p)
}

func (s Sources) busybox(ctx context.Context, p v1.Platform) (Binary, error) {
	ps := PlatformString(p)
	if path, ok := given(s.Busybox, p); ok {
		if err := CheckStatic(path, p); err != nil {
			return Binary{}, fmt.Errorf("busybox for %s: %w", ps, err)
		}
		return Binary{Path: path, From: "given " + path}, nil
	}
	var why []string
	if s.HostBusybox != "" {
		err := CheckStatic(s.HostBusybox, p)
		if err == nil {
			return Binary{Path: s.HostBusybox, From: s.HostBusybox}, nil
		}
		why = append(why, err.Error())
	}
	path, err := s.debianBusybox(ctx, p)
	if err != nil {
		why = append(why, err.Error())
		return Binary{}, fmt.Errorf("busybox for %s: no static BusyBox (%s); pass --busybox %s=PATH (Debian's busybox-static for %s: /bin/busybox)",
			ps, strings.Join(why, "; "), ps, p.Architecture)
	}
	return Binary{Path: path, From: "Debian busybox-static (apt-get download)"}, nil
}

// debianBusybox downloads Debian's busybox-static for p's architecture with
// apt-get, using this host's sources and keyring (apt checks the signatures)
// but a private package list, so the host's dpkg architectures stay as they
// are, and keeps /bin/busybox from it in the cache.
func (s Sources) debianBusybox(ctx context.Context, p v1.Platform) (string, error) {
	arch, ok := debianArch(p)
	if !ok {
		return "", fmt.Errorf("no Debian architecture for %s", PlatformString(p))
	}
	if s.CacheDir == "" {
		return "", errors.New("Debian busybox-static: no cache dir")
	}
	dir := filepath.Join(s.CacheDir, "probe", "busybox-debian-"+arch)
	bin := filepath.Join(dir, "busybox")
	if CheckStatic(bin, p) == nil {
		return bin, nil
	}
	if _, err := exec.LookPath(s.AptGet); err != nil {
		return "", fmt.Errorf("Debian busybox-static for %s: %w", arch, err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "apt-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	_ = os.Chmod(tmp, 0o755) // apt's _apt sandbox user writes downloads here
	for _, d := range []string{"lists/partial", "cache/archives/partial", "deb"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o755); err != nil {
			return "", err
		}
	}
	opts := []string{"-q", "-o", "APT::Architecture=" + arch, "-o", "APT::Architectures::=" + arch,
		"-o", "Dir::State::Lists=" + filepath.Join(tmp, "lists"), "-o", "Dir::Cache=" + filepath.Join(tmp, "cache"),
		"-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1", "-o", "Acquire::Languages=none"}
	s.Log.Info("download Debian busybox-static", "arch", arch)
	fmt.Fprintf(s.Progress, "downloading Debian's busybox-static for %s with apt-get (this host's sources and keyring)\n", arch)
	if _, err := exec.Run(ctx, exec.Cmd{Argv: append(append([]string{s.AptGet}, opts...), "update")}); err != nil {
		return "", err
	}
	debDir := filepath.Join(tmp, "deb")
	_ = os.Chmod(debDir, 0o777)
	if _, err := exec.Run(ctx, exec.Cmd{Dir: debDir, Argv: append(append([]string{s.AptGet}, opts...), "download", "busybox-static")}); err != nil {
		return "", err
	}
	debs, _ := filepath.Glob(filepath.Join(debDir, "busybox-static_*_"+arch+".deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("apt-get download busybox-static (%s): %d packages downloaded", arch, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if _, err := exec.Run(ctx, exec.Cmd{Argv: []string{s.DpkgDeb, "-x", debs[0], root}}); err != nil {
		return "", err
	}
	got := filepath.Join(root, "bin", "busybox")
	if err := CheckStatic(got, p); err != nil {
		return "", fmt.Errorf("busybox-static (%s): %w", filepath.Base(debs[0]), err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(got, bin); err != nil {
		return "", err
	}
	return bin, nil
}
