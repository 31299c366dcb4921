//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// suiteConfig is turned from the environment into explicit configuration
// here, so that the framework never reads the environment itself.
type suiteConfig struct {
	NodeImage   string // PVREBOOT_NODE_IMAGE: kind node image (built by ci/node-image.sh)
	ProbeImage  string // PVREBOOT_PROBE_IMAGE: the copyprobe workload image
	ClusterName string // PVREBOOT_CLUSTER
	KindConfig  string // PVREBOOT_KIND_CONFIG
	Artifacts   string // PVREBOOT_ARTIFACTS: JUnit, results and cluster logs
}

func loadSuiteConfig() suiteConfig {
	get := func(k, def string) string {
		if v := os.Getenv(k); v != "" {
			return v
		}
		return def
	}
	root, _ := filepath.Abs("..")
	return suiteConfig{
		NodeImage:   get("PVREBOOT_NODE_IMAGE", ""),
		ProbeImage:  get("PVREBOOT_PROBE_IMAGE", ""),
		ClusterName: get("PVREBOOT_CLUSTER", "pvreboot-e2e"),
		KindConfig:  get("PVREBOOT_KIND_CONFIG", filepath.Join(root, "kind-config", "two-workers.yaml")),
		Artifacts:   get("PVREBOOT_ARTIFACTS", filepath.Join(root, "_artifacts")),
	}
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "pvreboot e2e")
}
