package kind

import (
	"archive/tar"
	"bytes"
	"testing"
)

func TestHasOwnerFile(t *testing.T) {
	t.Parallel()
	archive := func(entries ...tar.Header) *bytes.Buffer {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range entries {
			h := h
			if h.Typeflag == tar.TypeReg {
				h.Size = 1
			}
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
			if h.Typeflag == tar.TypeReg {
				_, _ = tw.Write([]byte("x"))
			}
		}
		_ = tw.Close()
		return &b
	}
	dir := tar.Header{Name: "kind/", Typeflag: tar.TypeDir, Mode: 0o755}
	tests := []struct {
		name string
		in   *bytes.Buffer
		want bool
	}{
		{"marked", archive(dir, tar.Header{Name: "kind/version", Typeflag: tar.TypeReg}, tar.Header{Name: "kind/pvreboot-owner", Typeflag: tar.TypeReg}), true},
		{"not marked", archive(dir, tar.Header{Name: "kind/version", Typeflag: tar.TypeReg}), false},
		{"a directory of that name is no mark", archive(dir, tar.Header{Name: "kind/pvreboot-owner/", Typeflag: tar.TypeDir}), false},
		{"a symlink of that name is no mark", archive(dir, tar.Header{Name: "kind/pvreboot-owner", Typeflag: tar.TypeSymlink, Linkname: "/etc/hostname"}), false},
		{"elsewhere is no mark", archive(dir, tar.Header{Name: "other/pvreboot-owner", Typeflag: tar.TypeReg}), false},
	}
	for _, tt := range tests {
		got, err := hasOwnerFile(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("%s: got %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := hasOwnerFile(bytes.NewBufferString("not a tar archive, but long enough to be read as a header block......................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................")); err == nil {
		t.Error("garbage read as a tar stream")
	}
}

func TestCheckConfigReach(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, config string
		ok           bool
	}{
		{"shipped layout", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  extraMounts:\n  - {hostPath: /var/lib/pvreboot/localpv/worker, containerPath: /mnt/pvreboot}\n", true},
		{"the host's root", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  extraMounts:\n  - {hostPath: /, containerPath: /host}\n", false},
		{"the PV root from elsewhere", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  extraMounts:\n  - {hostPath: /etc, containerPath: /mnt/pvreboot}\n", false},
		{"escaping with ..", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: worker\n  extraMounts:\n  - {hostPath: /var/lib/pvreboot/../../etc, containerPath: /mnt/pvreboot}\n", false},
		{"containerd patches", "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\ncontainerdConfigPatches:\n- |\n  [plugins]\n", false},
	} {
		cfg, err := ParseConfig([]byte(tc.config))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if err := CheckConfigReach(cfg); (err == nil) != tc.ok {
			t.Errorf("%s: CheckConfigReach = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
