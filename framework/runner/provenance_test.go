package runner

import (
	"encoding/json"
	"runtime"
	"testing"

	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// A run's result says what made it: the build, the run ID, the host and
// the scenario as run, and the scenario comes back from result.json.
func TestResultProvenance(t *testing.T) {
	t.Parallel()
	s, err := scenario.Parse([]byte(`apiVersion: pvreboot.dev/v1alpha1
kind: Scenario
metadata: {name: prov}
spec:
  cluster:
    kind: {name: pvreboot}
    nodes: {names: [pvreboot-worker]}
  volumes: [{name: data, backing: filesystem, size: 1Gi}]
`))
	if err != nil {
		t.Fatal(err)
	}
	b := report.Build{Version: "v0.1.0", Revision: "abc123", GoVersion: runtime.Version()}
	r, err := New(Config{Scenario: s, Client: fake.NewClientset(), RESTConfig: &rest.Config{}, Nodes: &argvRecorder{},
		Rebooter: &countingRebooter{}, ProbeImage: "probe:1", Build: b})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Result.Provenance
	if p == nil || p.Build != b || p.RunID != r.ID() || p.Host.OS != runtime.GOOS || p.Host.Arch != runtime.GOARCH || p.Scenario != s {
		t.Fatalf("provenance %+v", p)
	}
	raw, err := json.Marshal(r.Result)
	if err != nil {
		t.Fatal(err)
	}
	back, err := report.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	bp := back.Provenance
	if bp == nil || bp.RunID != r.ID() || bp.Scenario == nil || bp.Scenario.Metadata.Name != "prov" ||
		bp.Scenario.Spec.Workload.FileBytes() != s.Spec.Workload.FileBytes() || bp.Scenario.Spec.Reboot.Method != s.Spec.Reboot.Method {
		t.Errorf("provenance after result.json: %+v (scenario %+v)", bp, bp.Scenario)
	}
}
