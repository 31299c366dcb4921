package app

import (
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
