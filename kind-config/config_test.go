// Package kindconfig holds no code: its test strict-decodes every kind config here.
package kindconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"
)

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
			for i, n := range c.Nodes {
				if n.Role != v1alpha4.WorkerRole {
					continue
				}
				workers++
				if len(n.ExtraMounts) == 0 {
					t.Errorf("%s: nodes[%d]: a worker without an extraMount for Local PVs", f, i)
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
