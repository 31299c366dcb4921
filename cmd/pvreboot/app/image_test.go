package app

import (
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/probeimage"
)

func TestImageProbeBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"empty push", []string{"--push", ""}, "--push: empty"},
		{"push reference that is an option", []string{"--push", "-rf"}, `--push: "-rf" is not an image reference`},
		{"push reference with spaces", []string{"--push", "a b:c"}, "is not an image reference"},
		{"push and load", []string{"--push", "registry.example.com/p:v1", "--load"}, "--push and --load: choose one"},
		{"foreign os", []string{"--platform", "windows/amd64"}, "--platform: platform \"windows/amd64\": want linux/ARCH"},
		{"unknown arch", []string{"--push", "r.example.com/p:v1", "--platform", "linux/mips"}, "unsupported architecture"},
		{"platform twice", []string{"--push", "r.example.com/p:v1", "--platform", "linux/amd64,linux/amd64"}, "given twice"},
		{"load another platform", []string{"--platform", "linux/s390x"}, "can be loaded on this host (use --push for others)"},
		{"busybox of unknown platform", []string{"--busybox", "linux/mips=/bin/busybox"}, "--busybox linux/mips=/bin/busybox"},
		{"missing copyprobe", []string{"--copyprobe", "/nonexistent/copyprobe"}, "--copyprobe: stat /nonexistent/copyprobe"},
		{"empty busybox path", []string{"--busybox", "linux/amd64="}, "empty path"},
		{"empty source dir", []string{"--source-dir", ""}, "--source-dir: empty"},
		{"not a source dir", []string{"--source-dir", "/"}, "is not the pvreboot source tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"image", "probe", "--cache-dir", t.TempDir()}, tt.args...)
			code, out, stderr := run(t, args...)
			if code != 2 || out != "" || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 saying %q", code, out, stderr, tt.want)
			}
		})
	}
}

func TestImageNodeBadInput(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--pull-image", ""}, "--pull-image: empty"},
		{[]string{"--kubernetes-version", ""}, "--kubernetes-version: empty"},
		{[]string{"--pull-image", "--build-node-image"}, `--pull-image: "--build-node-image" is not an image reference`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, append([]string{"image", "node"}, tt.args...)...)
			if code != 2 || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 saying %q", code, stderr, tt.want)
			}
		})
	}
}

// TestImageBuildPauseNoderoutesFrom: where a node image build takes pause
// and noderoutes from. The static executable case runs in
// cmd/pvreboot's TestStaticBinaryServesAsPauseAndNoderoutes.
func TestImageBuildPauseNoderoutesFrom(t *testing.T) {
	t.Parallel()
	tree, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	notTree := t.TempDir()
	text := filepath.Join(t.TempDir(), "pvreboot")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	is := func(path string) func() (string, error) { return func() (string, error) { return path, nil } }
	for _, tt := range []struct {
		name      string
		sourceDir string
		explicit  bool
		self      func() (string, error)
		wantSrc   string
		wantErr   []string
	}{
		{name: "given source tree", sourceDir: tree, explicit: true, wantSrc: tree},
		{name: "given folder that is no source tree", sourceDir: notTree, explicit: true,
			wantErr: []string{"--source-dir: " + notTree + " is not the pvreboot source tree (no cmd/copyprobe)"}},
		{name: "default folder is a source tree", sourceDir: tree, wantSrc: tree},
		{name: "neither source tree nor ELF executable", sourceDir: notTree, self: is(text),
			wantErr: []string{"--source-dir not given: " + notTree + " is not the pvreboot source tree (no cmd/copyprobe), " +
				"and this executable cannot stand in for pause and noderoutes (" + text + ": ", "build it with CGO_ENABLED=0 or pass --source-dir"}},
		{name: "executable unknown", sourceDir: notTree, self: func() (string, error) { return "", errors.New("no /proc") },
			wantErr: []string{"(no /proc): build it with CGO_ENABLED=0 or pass --source-dir"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			self := tt.self
			if self == nil {
				self = func() (string, error) {
					t.Error("looked at this executable with a source tree at hand")
					return "", errors.New("not looked at")
				}
			}
			f := imageFlags{sourceDir: tt.sourceDir}
			src, exe, err := f.ownBinaries(tt.explicit, self)
			if len(tt.wantErr) == 0 {
				if err != nil || src != tt.wantSrc || exe != "" {
					t.Errorf("ownBinaries = %q, %q, %v; want source tree %q", src, exe, err, tt.wantSrc)
				}
				return
			}
			if exitcode.Of(err) != exitcode.Usage {
				t.Errorf("ownBinaries: %v (exit %d), want a usage error (exit 2)", err, exitcode.Of(err))
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("ownBinaries: %v, want it to say %q", err, want)
				}
			}
		})
	}
}

// TestImageBuildRefusesDynamicExecutable: outside a source tree, a
// dynamically linked pvreboot says so and how to fix it.
func TestImageBuildRefusesDynamicExecutable(t *testing.T) {
	t.Parallel()
	var dynamic string
	for _, name := range []string{"env", "sh", "ls"} {
		if p, err := exec.LookPath(name); err == nil && errors.Is(probeimage.CheckStatic(p, probeimage.HostPlatform()), probeimage.ErrNotStatic) {
			dynamic = p
			break
		}
	}
	if dynamic == "" {
		t.Skip("no dynamically linked executable on this host (env, sh, ls)")
	}
	f := imageFlags{sourceDir: t.TempDir()}
	_, _, err := f.ownBinaries(false, func() (string, error) { return dynamic, nil })
	want := "(" + dynamic + " is not static): build it with CGO_ENABLED=0 or pass --source-dir"
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), want) {
		t.Errorf("ownBinaries: %v, want a usage error saying %q", err, want)
	}
}

func TestImageBuildEmptySourceDir(t *testing.T) {
	t.Parallel()
	code, _, stderr := run(t, "image", "build", "--cache-dir", t.TempDir(), "--source-dir", "")
	if code != 2 || !strings.Contains(stderr, "--source-dir: empty") {
		t.Errorf("exit %d, stderr %q; want exit 2 saying --source-dir: empty", code, stderr)
	}
}

// TestImageProbePush assembles a two-platform index from given static
// binaries and pushes it to an in-process registry.
func TestImageProbePush(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds static test binaries for two architectures")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go command: %v", err)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, arch := range []string{"amd64", "arm64"} {
		bin := filepath.Join(dir, arch)
		cmd := exec.Command("go", "build", "-o", bin, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v: %s", arch, err, out)
		}
		args = append(args, "--copyprobe", "linux/"+arch+"="+bin, "--busybox", "linux/"+arch+"="+bin)
	}
	host := startRegistry(t)
	ref := host + "/pvreboot/copyprobe:test"
	code, out, stderr := run(t, append([]string{"image", "probe", "--push", ref, "--cache-dir", t.TempDir()}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	d, err := name.NewDigest(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("stdout %q is not a reference by digest: %v", out, err)
	}
	idx, err := remote.Index(d)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) != 2 {
		t.Fatalf("index %+v, %v; want 2 platforms", im, err)
	}
	for _, want := range []string{"linux/amd64:", "linux/arm64/v8:", "index sha256:", "pushed " + host} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr)
		}
	}
}

// startRegistry serves an in-process registry on 127.0.0.1 for the test
// and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}
