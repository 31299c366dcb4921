package probeimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

var (
	staticOnce sync.Map // arch -> *staticBin
)

type staticBin struct {
	once sync.Once
	path string
	err  error
}

// staticBinary builds (once per test binary) a tiny static Linux program
// for arch.
func staticBinary(t *testing.T, arch string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("needs the go command to build a static test binary: %v", err)
	}
	v, _ := staticOnce.LoadOrStore(arch, &staticBin{})
	b := v.(*staticBin)
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "probeimage-test-")
		if err != nil {
			b.err = err
			return
		}
		src := filepath.Join(dir, "main.go")
		if err := os.WriteFile(src, []byte("package main\n\nfunc main() { println(\"static\") }\n"), 0o644); err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(dir, "static-"+arch)
		cmd := exec.Command("go", "build", "-o", b.path, src)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off", "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = errors.New(string(out))
		}
	})
	if b.err != nil {
		t.Fatalf("build static test binary for %s: %v", arch, b.err)
	}
	return b.path
}

func hostVariant(t *testing.T) Variant {
	t.Helper()
	bin := staticBinary(t, runtime.GOARCH)
	return Variant{Platform: HostPlatform(), Copyprobe: Binary{Path: bin, From: "test"}, Busybox: Binary{Path: bin, From: "test"}}
}

func TestParsePlatform(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, err string
	}{
		{in: "linux/amd64", want: "linux/amd64"},
		{in: "linux/arm64", want: "linux/arm64/v8"},
		{in: "linux/arm64/v8", want: "linux/arm64/v8"},
		{in: "windows/amd64", err: "want linux/ARCH"},
		{in: "linux", err: "want linux/ARCH"},
		{in: "linux/mips", err: "unsupported architecture"},
		{in: "linux/amd64/v2/x", err: "want linux/ARCH"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePlatform(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParsePlatform(%q) = %v, %v; want error containing %q", tt.in, p, err, tt.err)
				}
				return
			}
			if err != nil || PlatformString(p) != tt.want {
				t.Fatalf("ParsePlatform(%q) = %s, %v; want %s", tt.in, PlatformString(p), err, tt.want)
			}
		})
	}
}

func TestCheckStatic(t *testing.T) {
	static := staticBinary(t, runtime.GOARCH)
	text := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(text, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	otherPlatform, _ := ParsePlatform("linux/" + other)
	if err := CheckStatic(static, HostPlatform()); err != nil {
		t.Errorf("static binary: %v", err)
	}
	if err := CheckStatic(static, otherPlatform); err == nil || !strings.Contains(err.Error(), "built for") {
		t.Errorf("static binary for another platform: %v, want an error saying what it is built for", err)
	}
	if err := CheckStatic(text, HostPlatform()); err == nil {
		t.Error("shell script: no error")
	}
	// /bin/sh is dynamically linked on every usual distribution.
	if err := CheckStatic("/bin/sh", HostPlatform()); err != nil && !errors.Is(err, ErrNotStatic) && !strings.Contains(err.Error(), "not an executable") {
		t.Logf("/bin/sh: %v", err)
	} else if err == nil {
		t.Log("/bin/sh is static here")
	}
}

// TestImage checks the layer, the config and that assembly is reproducible.
func TestImage(t *testing.T) {
	v := hostVariant(t)
	img, err := Image(v)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Image(v)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("same binaries, different digests: %s, %s", d1, d2)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || !slices.Equal(cf.Config.Entrypoint, []string{"/copyprobe"}) ||
		!slices.Equal(cf.Config.Cmd, []string{"serve"}) || cf.Config.Labels[LabelImage] != "probe" {
		t.Errorf("config: %+v", cf)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	want := map[string]string{"copyprobe": "-rwxr-xr-x", "bin/busybox": "-rwxr-xr-x", "bin/sh": "L busybox", "bin/cp": "L busybox",
		"data/": "drwxr-xr-x", "tmp/": "dtrwxrwxrwx", "etc/passwd": "-rw-r--r--"}
	got := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeSymlink:
			got[h.Name] = "L " + h.Linkname
		default:
			got[h.Name] = h.FileInfo().Mode().String()
		}
		if h.Name == "copyprobe" {
			fi, _ := os.Stat(v.Copyprobe.Path)
			if h.Size != fi.Size() {
				t.Errorf("copyprobe: %d bytes in the layer, %d on disk", h.Size, fi.Size())
			}
		}
	}
	for p, m := range want {
		if got[p] != m {
			t.Errorf("%s: %q in the layer, want %q", p, got[p], m)
		}
	}

	// The Docker archive reads back as the same image.
	tag, err := LocalTag(img)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tag.String(), Repository+":"+d1.Hex[:12]) {
		t.Errorf("tag %s, want %s:%s", tag, Repository, d1.Hex[:12])
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, tag, img); err != nil {
		t.Fatal(err)
	}
	back, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf.Bytes())), nil }, &tag)
	if err != nil {
		t.Fatal(err)
	}
	// A Docker archive has no manifest of its own: compare config and layers.
	c1, _ := img.ConfigName()
	c2, err := back.ConfigName()
	if err != nil || c1 != c2 {
		t.Errorf("archive config %s (%v), want %s", c2, err, c1)
	}
	l1, _ := layers[0].DiffID()
	bl, err := back.Layers()
	if err != nil || len(bl) != 1 {
		t.Fatalf("archive layers: %d, %v", len(bl), err)
	}
	if l2, _ := bl[0].DiffID(); l2 != l1 {
		t.Errorf("archive layer %s, want %s", l2, l1)
	}
}

func TestImageRefusesDynamicOrForeign(t *testing.T) {
	v := hostVariant(t)
	v.Busybox.Path = filepath.Join(t.TempDir(), "missing")
	if _, err := Image(v); err == nil || !strings.Contains(err.Error(), "busybox for") {
		t.Errorf("missing busybox: %v", err)
	}
}

// TestPushIndex pushes a two-platform index to an in-process registry and
// reads it back.
func TestPushIndex(t *testing.T) {
	variants := []Variant{hostVariant(t)}
	if !testing.Short() {
		other := "arm64"
		if runtime.GOARCH == "arm64" {
			other = "amd64"
		}
		p, _ := ParsePlatform("linux/" + other)
		bin := staticBinary(t, other)
		variants = append(variants, Variant{Platform: p, Copyprobe: Binary{Path: bin}, Busybox: Binary{Path: bin}})
	}
	idx, err := Index(variants)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	ref, err := name.ParseReference(u.Host + "/pvreboot/copyprobe:test")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d, err := Push(ctx, ref, idx, authn.NewMultiKeychain())
	if err != nil {
		t.Fatal(err)
	}
	want, _ := idx.Digest()
	if d.DigestStr() != want.String() {
		t.Errorf("pushed %s, want digest %s", d, want)
	}
	got, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	im, err := got.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var plats []string
	for _, m := range im.Manifests {
		plats = append(plats, PlatformString(*m.Platform))
		img, err := remote.Image(ref.Context().Digest(m.Digest.String()))
		if err != nil {
			t.Fatalf("pull %s: %v", m.Digest, err)
		}
		cf, err := img.ConfigFile()
		if err != nil || cf.Architecture != m.Platform.Architecture {
			t.Errorf("%s: config %+v, %v", m.Digest, cf, err)
		}
	}
	if len(plats) != len(variants) {
		t.Errorf("index platforms %v, want %d", plats, len(variants))
	}
}

func TestSources(t *testing.T) {
	static := staticBinary(t, runtime.GOARCH)
	host := HostPlatform()
	hs := PlatformString(host)
	arm64, _ := ParsePlatform("linux/arm64")
	noApt := filepath.Join(t.TempDir(), "no-apt-get")
	ctx := context.Background()
	tests := []struct {
		name     string
		src      Sources
		p        v1.Platform
		wantCP   string // From prefix
		wantBB   string
		wantErrs []string
	}{
		{name: "given paths win", src: Sources{Copyprobe: map[string]string{hs: static}, Busybox: map[string]string{hs: static}, Self: static, HostBusybox: static},
			p: host, wantCP: "given ", wantBB: "given "},
		{name: "self when static", src: Sources{Self: static, HostBusybox: static, AptGet: noApt}, p: host, wantCP: "this executable", wantBB: static},
		{name: "nothing for another platform", src: Sources{Self: static, HostBusybox: static, AptGet: noApt, CacheDir: t.TempDir(), Module: "example.com/x", Version: "(devel)"},
			p: arm64, wantErrs: []string{"copyprobe for linux/arm64/v8", "--copyprobe linux/arm64/v8=PATH", "busybox for linux/arm64/v8", "--busybox linux/arm64/v8=PATH"}},
	}
	if runtime.GOARCH != "amd64" {
		tests = tests[:2]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs, err := tt.src.Variants(ctx, []v1.Platform{tt.p})
			if len(tt.wantErrs) > 0 {
				if err == nil {
					t.Fatalf("no error, variants %+v", vs)
				}
				for _, w := range tt.wantErrs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil || len(vs) != 1 {
				t.Fatalf("%v, %+v", err, vs)
			}
			if !strings.HasPrefix(vs[0].Copyprobe.From, tt.wantCP) || !strings.HasPrefix(vs[0].Busybox.From, tt.wantBB) {
				t.Errorf("copyprobe from %q (want %q...), busybox from %q (want %q...)", vs[0].Copyprobe.From, tt.wantCP, vs[0].Busybox.From, tt.wantBB)
			}
		})
	}
}
