package workload

import (
	"testing"
)

// Every further claim of the workload pod is where VolumePath says: a
// directory, or a device for a block claim; the first stays at DataDir.
func TestNewPodMountsEveryClaim(t *testing.T) {
	t.Parallel()
	p := NewPod(PodSpec{Namespace: "ns", Name: "w", Image: "img", ClaimName: "data",
		Extra: []Claim{{Name: "data-1"}, {Name: "raw", Block: true}}})
	c := p.Spec.Containers[0]
	if len(p.Spec.Volumes) != 3 {
		t.Fatalf("volumes %+v", p.Spec.Volumes)
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	if mounts["data"] != DataDir || mounts["data-2"] != "/data-data-1" {
		t.Errorf("mounts %v", mounts)
	}
	if len(c.VolumeDevices) != 1 || c.VolumeDevices[0].DevicePath != "/dev/pvreboot-data-raw" || c.VolumeDevices[0].Name != "data-3" {
		t.Errorf("devices %+v", c.VolumeDevices)
	}
	for i, want := range []string{"data", "data-1", "raw"} {
		if got := p.Spec.Volumes[i].PersistentVolumeClaim.ClaimName; got != want {
			t.Errorf("volume %d claims %q, want %q", i, got, want)
		}
	}
}
