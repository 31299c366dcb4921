package localpv

import (
	"fmt"
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

// The loop unit's arguments must reach sh as they were: systemd turns "$$"
// into "$" and reads C escapes inside double quotes; a single "$name" it
// would expand itself.
func TestLoopUnitQuoting(t *testing.T) {
	t.Parallel()
	u, err := LoopUnit("/mnt/pvreboot/x.img", "/mnt/pvreboot/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(u, "\n") {
		key, val, ok := strings.Cut(line, "=")
		if !ok || !strings.HasPrefix(key, "ExecSt") {
			continue
		}
		if strings.Contains(strings.ReplaceAll(val, "$$", ""), "$") {
			t.Errorf("unescaped $ in %q", line)
		}
		args, err := unquoteExec(val)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		name, want := scriptLoopAttach, "-ec"
		if key == "ExecStop" {
			name, want = scriptLoopDetach, "-c"
		}
		if len(args) != 6 || args[0] != "/bin/sh" || args[1] != want || args[2] != script(name) || args[3] != name ||
			args[4] != "/mnt/pvreboot/x.img" || args[5] != "/mnt/pvreboot/x" {
			t.Errorf("%s reads back as %q", key, args)
		}
	}
	for _, want := range []string{"Type=oneshot", "RemainAfterExit=yes", "Before=containerd.service kubelet.service", "RequiredBy=kubelet.service"} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
}

// unquoteExec reads an Exec line's double-quoted arguments back the way
// systemd does (the escapes execArg writes).
func unquoteExec(s string) ([]string, error) {
	var out []string
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimSpace(s) {
		if s[0] != '"' {
			return nil, fmt.Errorf("unquoted argument at %q", s)
		}
		var b strings.Builder
		i := 1
		for ; i < len(s) && s[i] != '"'; i++ {
			switch {
			case s[i] == '\\' && i+1 < len(s):
				i++
				b.WriteByte(map[byte]byte{'n': '\n', 't': '\t', '\\': '\\', '"': '"'}[s[i]])
			case (s[i] == '$' || s[i] == '%') && i+1 < len(s) && s[i+1] == s[i]:
				b.WriteByte(s[i])
				i++
			case s[i] == '$' || s[i] == '%':
				return nil, fmt.Errorf("lone %c at %q", s[i], s[i:])
			default:
				b.WriteByte(s[i])
			}
		}
		if i >= len(s) {
			return nil, fmt.Errorf("unterminated quote")
		}
		out = append(out, b.String())
		s = s[i+1:]
	}
	return out, nil
}

func TestExecArgRefusesControlCharacters(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"a\x00b", "a\rb", "a\x1bb"} {
		if _, err := execArg(v); err == nil {
			t.Errorf("execArg(%q) accepted", v)
		}
	}
	for _, v := range []string{"/mnt/pvreboot/a\nb", " x", "x ", ""} {
		if _, err := unitValue(v); err == nil {
			t.Errorf("unitValue(%q) accepted", v)
		}
	}
	if got, _ := unitValue("/mnt/100%"); got != "/mnt/100%%" {
		t.Errorf("unitValue doubles %%: got %q", got)
	}
}

func TestParseKubeletLoops(t *testing.T) {
	t.Parallel()
	list := `/dev/loop1 \x20\x20\x20\x20\x20\x20\x200:64\x20 18 /var/lib/kubelet/plugins/kubernetes.io~local-volume/volumeDevices/pvreboot-1a-data/6f2c4e1a-0b7e-4d7b-9d51-0f0b3b7e2a10
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
