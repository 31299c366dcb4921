// Package kindconfig holds no code: its test strict-decodes every kind config here.
package kindconfig

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

// localPVRoot is the node path of pvreboot's Local PVs (kind.LocalPVRoot).
const localPVRoot = "/mnt/pvreboot"

func TestEveryConfigStrictDecodes(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var c v1alpha4.Cluster
			if err := yaml.UnmarshalStrict(b, &c); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
				t.Errorf("%s: kind %q apiVersion %q", f, c.Kind, c.APIVersion)
			}
			workers := 0
			localPVNode := map[string]int{} // clean hostPath -> node index
			for i, n := range c.Nodes {
				// Each node its own Local PV host directory: never one
				// shared by two nodes, nor one inside another's.
				for _, m := range n.ExtraMounts {
					if path.Clean(m.ContainerPath) != localPVRoot {
						continue
					}
					hp := filepath.Clean(m.HostPath)
					for other, j := range localPVNode {
						if other == hp || strings.HasPrefix(hp, other+"/") || strings.HasPrefix(other, hp+"/") {
							t.Errorf("%s: nodes[%d] and nodes[%d]: %s hostPaths %q and %q overlap", f, j, i, localPVRoot, other, hp)
						}
					}
					localPVNode[hp] = i
				}
				if n.Role != v1alpha4.WorkerRole {
					continue
				}
				workers++
				if !slices.ContainsFunc(n.ExtraMounts, func(m v1alpha4.Mount) bool { return path.Clean(m.ContainerPath) == localPVRoot }) {
					t.Errorf("%s: nodes[%d]: a worker without an extraMount at %s for Local PVs", f, i, localPVRoot)
				}
				for _, m := range n.ExtraMounts {
					if strings.HasPrefix(m.ContainerPath, "/tmp") || strings.HasPrefix(m.ContainerPath, "/run") {
						t.Errorf("%s: nodes[%d]: Local PV root %s is on tmpfs inside the node", f, i, m.ContainerPath)
					}
					if !filepath.IsAbs(m.HostPath) {
						t.Errorf("%s: nodes[%d]: hostPath %q is not absolute", f, i, m.HostPath)
					}
				}
			}
			if workers == 0 {
				t.Errorf("%s: no worker", f)
			}
			if !strings.Contains(strings.Join(c.KubeadmConfigPatches, "\n"), "failCgroupV1: false") {
				t.Errorf("%s: no failCgroupV1: false patch (kubelet refuses cgroup v1 hosts)", f)
			}
		})
	}
}
