//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/pvreboot/pvreboot/framework/runner"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// suiteConfig is turned from the environment into explicit configuration
// here, so that the framework never reads the environment itself.
type suiteConfig struct {
	NodeImage   string // PVREBOOT_NODE_IMAGE: kind node image (built by ci/images.sh)
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

// shippedScenario prepares a spec that runs a scenario of scenarios/ on the
// suite's kind cluster: it skips the spec when the images are not set and
// returns the suite config, the loaded scenario (edit it before runner.Kind),
// its file and the setup runner.Kind takes.
func shippedScenario(name string) (suiteConfig, *scenario.Scenario, string, runner.KindSetup) {
	GinkgoHelper()
	cfg := loadSuiteConfig()
	if cfg.NodeImage == "" || cfg.ProbeImage == "" {
		Skip("PVREBOOT_NODE_IMAGE and PVREBOOT_PROBE_IMAGE are not set: run through ci/e2e-kind.sh")
	}
	root, _ := filepath.Abs("..")
	file := filepath.Join(root, "scenarios", name)
	s, err := scenario.Load(file)
	Expect(err).NotTo(HaveOccurred())
	return cfg, s, file, runner.KindSetup{NodeImage: cfg.NodeImage, ProbeImage: cfg.ProbeImage, BaseDir: root, Progress: GinkgoWriter}
}

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "pvreboot e2e")
}
