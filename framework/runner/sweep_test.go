package runner

import (
	"reflect"
	"testing"
)

func TestParseNodeLeftovers(t *testing.T) {
	t.Parallel()
	files := `pvreboot-64d391fd-data
pvreboot-64d391fd-data.img
pvreboot-1a2b-raw
pvreboot-1a2b-raw.img
pvreboot-cafe-data-0
lost+found
somebody-elses-disk.img
pvreboot-nodeexec-abc
`
	units := `kubelet.service.d
mnt-pvreboot-pvreboot\x2d64d391fd\x2ddata.mount
pvreboot-1a2b-raw-loop.service
mnt-pvreboot-pvreboot\x2d9999\x2dgone.mount
multi-user.target.wants
mnt-data.mount
`
	got := ParseNodeLeftovers(files, units)
	want := []NodeLeftover{
		{Run: "1a2b", PVName: "pvreboot-1a2b-raw", Image: true, LoopUnit: true, Directory: true},
		{Run: "64d391fd", PVName: "pvreboot-64d391fd-data", Image: true, MountUnit: true, Directory: true},
		{Run: "9999", PVName: "pvreboot-9999-gone", MountUnit: true},
		{Run: "cafe", PVName: "pvreboot-cafe-data-0", Directory: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNodeLeftovers =\n %+v\nwant\n %+v", got, want)
	}
}
