package nodeimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	good := Config{Versions: DefaultVersions(), CacheDir: "/var/cache/pvreboot", SourceDir: "."}
	if err := good.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	bad := good
	bad.CacheDir = "relative"
	bad.Versions.Kubernetes = "1.37"
	bad.Versions.Etcd = "latest"
	err := bad.Validate()
	for _, want := range []string{"cache dir", "versions.kubernetes", "versions.etcd"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to name %s", err, want)
		}
	}
}

func TestVersionHelpers(t *testing.T) {
	t.Parallel()
	if got := stagingVersion("v1.37.2"); got != "v0.37.2" {
		t.Errorf("stagingVersion = %s", got)
	}
	if got := minor("v1.37.2"); got != "37" {
		t.Errorf("minor = %s", got)
	}
	ld := k8sLDFlags("v1.37.2")
	for _, want := range []string{"k8s.io/component-base/version.gitVersion=v1.37.2", "gitMinor=37", "-s -w"} {
		if !strings.Contains(ld, want) {
			t.Errorf("ldflags lack %q: %s", want, ld)
		}
	}
}

func TestKeyIsStableAndSensitive(t *testing.T) {
	t.Parallel()
	mustKey := func(parts ...any) string {
		t.Helper()
		k, err := key(64, parts...)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a := mustKey("x", map[string]string{"b": "2", "a": "1"})
	b := mustKey("x", map[string]string{"a": "1", "b": "2"})
	c := mustKey("x", map[string]string{"a": "1", "b": "3"})
	if a != b {
		t.Error("key depends on map order")
	}
	if a == c {
		t.Error("key ignores a changed input")
	}
	builds := extBuilds(DefaultVersions())
	v := DefaultVersions()
	v.Etcd = "v3.7.1"
	if mustKey(builds[2]) == mustKey(extBuilds(v)[2]) {
		t.Error("etcd build key ignores its version")
	}
	if _, err := key(16, make(chan int)); err == nil {
		t.Error("an unhashable input gave no error")
	}
}

func TestWriteTar(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("#!binary"), 0o600); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	err := writeTar(&buf, []scratchFile{
		{Path: "/usr/local/bin/tool", Src: src, Mode: 0o755},
		{Path: "/bin/sh", Link: "/bin/busybox"},
		{Path: "/data", IsDir: true, Mode: 0o755},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	seen := map[string]*tar.Header{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
		order = append(order, h.Name)
	}
	for _, want := range []string{"etc/", "tmp/", "etc/passwd", "etc/group", "usr/", "usr/local/", "usr/local/bin/", "usr/local/bin/tool", "bin/", "bin/sh", "data/"} {
		if seen[want] == nil {
			t.Errorf("tar lacks %s; has %v", want, order)
		}
	}
	if h := seen["usr/local/bin/tool"]; h != nil && (h.Mode != 0o755 || h.Size != 8) {
		t.Errorf("tool header = mode %o size %d", h.Mode, h.Size)
	}
	if h := seen["bin/sh"]; h != nil && h.Linkname != "/bin/busybox" {
		t.Errorf("bin/sh -> %q", h.Linkname)
	}
	if h := seen["tmp/"]; h != nil && h.Mode != 0o1777 {
		t.Errorf("tmp mode %o", h.Mode)
	}
	idx := func(n string) int {
		for i, o := range order {
			if o == n {
				return i
			}
		}
		return -1
	}
	if idx("usr/local/bin/") > idx("usr/local/bin/tool") {
		t.Error("parent directory after its file")
	}
}

func TestCRIBaseSpec(t *testing.T) {
	t.Parallel()
	in := `{"process":{"args":["sh"],"rlimits":[{"type":"RLIMIT_NOFILE","hard":1024,"soft":1024}]},"hooks":{"createContainer":[{"path":"/x"}]}}`
	out, err := criBaseSpec([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Process map[string]any
		Hooks   struct{ CreateContainer []struct{ Path string } }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Process["rlimits"]; ok {
		t.Error("rlimits kept")
	}
	hooks := doc.Hooks.CreateContainer
	if len(hooks) != 2 || hooks[1].Path != "/kind/bin/mount-product-files.sh" {
		t.Errorf("hooks = %+v", hooks)
	}
	if _, err := criBaseSpec([]byte("not json")); err == nil {
		t.Error("bad spec accepted")
	}
}

func TestCNIManifestNamesImage(t *testing.T) {
	t.Parallel()
	m := renderCNIManifest("pvreboot.dev/noderoutes:abc")
	if !strings.Contains(m, "image: pvreboot.dev/noderoutes:abc") || strings.Contains(m, "IMAGE") {
		t.Errorf("manifest:\n%s", m)
	}
}
