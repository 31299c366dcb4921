package localpv

import (
	"strings"
	"testing"
)

func TestHexMajorMinor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"7:0": "7:0", "103:1a": "259:26", "fd:10": "253:16"} {
		got, err := hexMajorMinor(in)
		if err != nil || got != want {
			t.Errorf("hexMajorMinor(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "7", "x:1", "7:"} {
		if _, err := hexMajorMinor(bad); err == nil {
			t.Errorf("hexMajorMinor(%q): no error", bad)
		}
	}
}

func TestMountUnitName(t *testing.T) {
	t.Parallel()
	if got, want := MountUnitName("/mnt/pvreboot/pvreboot-1a2b-data"), `mnt-pvreboot-pvreboot\x2d1a2b\x2ddata.mount`; got != want {
		t.Errorf("MountUnitName = %q, want %q", got, want)
	}
}

// The loop unit's shell must reach sh with single dollars: systemd turns "$$"
// into "$", and would expand a single "$name" itself.
func TestLoopUnitEscapesDollars(t *testing.T) {
	t.Parallel()
	u := LoopUnit("/mnt/pvreboot/x.img", "/mnt/pvreboot/x")
	for _, line := range strings.Split(u, "\n") {
		if !strings.HasPrefix(line, "ExecSt") {
			continue
		}
		if strings.Contains(strings.ReplaceAll(line, "$$", ""), "$") {
			t.Errorf("unescaped $ in %q", line)
		}
	}
	for _, want := range []string{"Type=oneshot", "RemainAfterExit=yes", "Before=containerd.service kubelet.service", "RequiredBy=kubelet.service",
		`ln -sfn "$$dev" "$$1"' /mnt/pvreboot/x.img /mnt/pvreboot/x`} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
}

func TestParseKubeletLoops(t *testing.T) {
	t.Parallel()
	list := `/dev/loop1 0:64 18 /var/lib/kubelet/plugins/kubernetes.io~local-volume/volumeDevices/pvreboot-1a-data/6f2c4e1a-0b7e-4d7b-9d51-0f0b3b7e2a10
/dev/loop2 254:0 1155085 /mnt/pvreboot/pvreboot-1a-data.img
/dev/loop3 0:65 20 /var/lib/kubelet/plugins/kubernetes.io~local-volume/volumeDevices/pvreboot-1a-data-2/0c1d
/dev/loop4 0:66 7 /
`
	got := ParseKubeletLoops(list, "pvreboot-1a-data")
	want := []LoopID{{Name: "/dev/loop1", BackMajMin: "0:64", BackInode: "18",
		BackingFile: "/var/lib/kubelet/plugins/kubernetes.io~local-volume/volumeDevices/pvreboot-1a-data/6f2c4e1a-0b7e-4d7b-9d51-0f0b3b7e2a10"}}
	if len(got) != 1 || got[0] != want[0] {
		t.Errorf("ParseKubeletLoops = %+v, want %+v (another PV's loop, the volume's own and an unknown one excluded)", got, want)
	}
}
