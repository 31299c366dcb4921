package runner

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/report"
	"github.com/pvreboot/pvreboot/framework/scenario"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// exportingNodes is a node runner that can export the cluster's logs (as
// a kind cluster can): it writes one file, or fails with err.
type exportingNodes struct {
	argvRecorder
	err error
	// partial: the export writes some files, then fails with err (as
	// kind's does when one node command fails).
	partial bool
}

func (e *exportingNodes) ExportLogs(_ context.Context, dir string) error {
	if e.err != nil && !e.partial {
		return e.err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "kind-version.txt"), []byte("kind v0.31.0\n"), 0o644); err != nil {
		return err
	}
	return e.err
}

func artifactScenario(node string) *scenario.Scenario {
	s := &scenario.Scenario{Metadata: scenario.Metadata{Name: "art"}}
	s.Spec.Cluster.Nodes.Names = []string{node}
	s.Spec.Reboot.Method = scenario.RebootKindRestart
	return s
}

// readResultFiles checks that the outputs a pipeline reads exist, and
// returns result.json and junit.xml decoded.
func readResultFiles(t *testing.T, dir string) (*report.Result, string) {
	t.Helper()
	for _, f := range []string{"result.json", "junit.xml", "summary.md", "summary.txt", "report.html", "metrics.prom"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("output %s: %v", f, err)
		}
	}
	res, err := report.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	j, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{}
	if err := xml.Unmarshal(j, &doc); err != nil {
		t.Errorf("junit.xml: %v", err)
	}
	return res, string(j)
}

// A run whose prepare fails (its node does not exist) still leaves its
// outputs, with the step and the error, the events, and the cluster's logs;
// what could not be saved (the node's conditions) is named.
func TestExecuteFailureLeavesArtifacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := artifactScenario("no-such-node")
	r, err := New(Config{Scenario: s, Client: fake.NewClientset(kindNode("pvreboot-worker", false)), RESTConfig: &rest.Config{},
		Nodes: &exportingNodes{}, Rebooter: &countingRebooter{}, ProbeImage: "probe:1", Provider: "kind"})
	if err != nil {
		t.Fatal(err)
	}
	runErr := r.Execute(context.Background(), ArtifactsIn(dir))
	if runErr == nil {
		t.Fatal("a run on a node that does not exist succeeded")
	}
	if err := WriteOutputs(dir, r.Result); err != nil {
		t.Fatal(err)
	}
	res, junit := readResultFiles(t, dir)
	f := res.Failure
	if f == nil || f.Step != StepPrepare || f.Interrupted || !strings.Contains(f.Error, "no-such-node") {
		t.Fatalf("failure %+v", f)
	}
	if strings.Join(f.Artifacts, ",") != "events.txt,events.json,cluster-logs/" {
		t.Errorf("artifacts %v", f.Artifacts)
	}
	if len(f.ArtifactErrors) != 1 || !strings.Contains(f.ArtifactErrors[0], "node-conditions.json: get node no-such-node") {
		t.Errorf("artifact errors %v", f.ArtifactErrors)
	}
	if !strings.Contains(junit, `<testcase name="step prepare" classname="pvreboot.run.prepare">`) {
		t.Errorf("junit.xml has no errored testcase for the step:\n%s", junit)
	}
	for _, p := range []string{EventsText, EventsJSON, filepath.Join(ClusterLogsDir, "kind-version.txt")} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// An interrupted run says so; a log export that fails is named, and the
// rest is still saved.
func TestExecuteInterruptedLeavesArtifacts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := New(Config{Scenario: artifactScenario("pvreboot-worker"), Client: fake.NewClientset(kindNode("pvreboot-worker", false)), RESTConfig: &rest.Config{},
		Nodes: &exportingNodes{err: errors.New("docker: no such container")}, Rebooter: &countingRebooter{}, ProbeImage: "probe:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Execute(ctx, ArtifactsIn(dir)); err == nil {
		t.Fatal("an interrupted run succeeded")
	}
	if err := WriteOutputs(dir, r.Result); err != nil {
		t.Fatal(err)
	}
	res, junit := readResultFiles(t, dir)
	f := res.Failure
	if f == nil || f.Step != StepPrepare || !f.Interrupted {
		t.Fatalf("failure %+v", f)
	}
	if len(f.ArtifactErrors) != 1 || !strings.Contains(f.ArtifactErrors[0], "cluster-logs/: docker: no such container") {
		t.Errorf("artifact errors %v", f.ArtifactErrors)
	}
	if strings.Contains(strings.Join(f.Artifacts, ","), "cluster-logs") {
		t.Errorf("an export that wrote nothing is listed: %v", f.Artifacts)
	}
	if !strings.Contains(junit, `type="interrupted"`) {
		t.Errorf("junit.xml does not say interrupted:\n%s", junit)
	}
	var nc nodeConditions
	b, err := os.ReadFile(filepath.Join(dir, NodeConditionsJSON))
	if err != nil || json.Unmarshal(b, &nc) != nil || nc.Node != "pvreboot-worker" || len(nc.Conditions) != 1 || nc.Conditions[0].Type != corev1.NodeReady {
		t.Errorf("node-conditions.json: %v %s", err, b)
	}
}

// An export that wrote some logs before it failed keeps them, listed, and
// the error says what is missing.
func TestPartialLogExportIsKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r, err := New(Config{Scenario: artifactScenario("pvreboot-worker"), Client: fake.NewClientset(kindNode("pvreboot-worker", false)), RESTConfig: &rest.Config{},
		Nodes:    &exportingNodes{err: errors.New(`command "docker exec --privileged pvreboot-worker crictl images" failed`), partial: true},
		Rebooter: &countingRebooter{}, ProbeImage: "probe:1"})
	if err != nil {
		t.Fatal(err)
	}
	r.Result.Failure = &report.Failure{Step: StepReboot, Error: "node lost"}
	if err := r.SaveArtifacts(context.Background(), dir, true); err == nil {
		t.Error("a partial export is no error")
	}
	f := r.Result.Failure
	if strings.Join(f.Artifacts, ",") != "events.txt,events.json,node-conditions.json,cluster-logs/" || len(f.ArtifactErrors) != 1 ||
		!strings.Contains(f.ArtifactErrors[0], "cluster-logs/: command") {
		t.Errorf("%+v", f)
	}
}

// The namespace's events and the node's are saved oldest first, each once,
// as a table and as an EventList; a run without a namespace saves the
// node's alone.
func TestSaveEvents(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	ev := func(ns, name, kind, obj, reason string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, InvolvedObject: corev1.ObjectReference{Kind: kind, Name: obj, Namespace: ns},
			Reason: reason, Type: corev1.EventTypeNormal, Message: reason + " happened\nover two lines", LastTimestamp: metav1.NewTime(at), Count: 2}
	}
	c := fake.NewClientset(
		ev("pvreboot-1", "b", "Pod", "pvreboot-workload", "Started", t0.Add(2*time.Second)),
		ev("pvreboot-1", "a", "Pod", "pvreboot-workload", "Scheduled", t0),
		ev("default", "n", "Node", "pvreboot-worker", "Rebooted", t0.Add(time.Second)),
	)
	dir := t.TempDir()
	if err := saveEvents(context.Background(), c, "pvreboot-1", "pvreboot-worker", dir); err != nil {
		t.Fatal(err)
	}
	txt, err := os.ReadFile(filepath.Join(dir, EventsText))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(txt)), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "LAST SEEN (UTC)") || !strings.Contains(lines[1], "Scheduled") ||
		!strings.Contains(lines[2], "default/node/pvreboot-worker") || !strings.Contains(lines[3], "pvreboot-1/pod/pvreboot-workload") ||
		!strings.Contains(lines[3], "Started happened over two lines") {
		t.Errorf("events.txt:\n%s", txt)
	}
	var list corev1.EventList
	b, _ := os.ReadFile(filepath.Join(dir, EventsJSON))
	if err := json.Unmarshal(b, &list); err != nil || len(list.Items) != 3 || list.Kind != "EventList" {
		t.Errorf("events.json: %v, %d items", err, len(list.Items))
	}
}

// A run that never got a cluster still has a Result naming the step.
func TestSetupFailure(t *testing.T) {
	t.Parallel()
	s := artifactScenario("pvreboot-worker")
	s.Spec.Cluster.Kind = &scenario.KindCluster{Name: "pvreboot"}
	res := SetupFailure(s, report.Build{Version: "v1"}, "kind", time.Now(), errors.New("load image: no such image\n"), true)
	if f := res.Failure; f == nil || f.Step != StepClusterSetup || f.Error != "load image: no such image" || !f.Interrupted ||
		res.Cluster.Name != "pvreboot" || res.Node.Name != "pvreboot-worker" || len(res.Errors) != 1 || res.Provenance.Scenario != s {
		t.Errorf("%+v %+v", res, res.Failure)
	}
	var buf strings.Builder
	if err := report.Render(&buf, res, "junit"); err != nil || !strings.Contains(buf.String(), `name="step cluster-setup"`) {
		t.Errorf("junit: %v\n%s", err, buf.String())
	}
}
