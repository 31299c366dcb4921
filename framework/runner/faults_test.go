package runner

import (
	"context"
	"errors"
	"io"
	"path"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/scenario"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

func readaheadChange(run string) fault.Change {
	name := "pvreboot-" + run + "-data"
	return fault.Change{Fault: scenario.FaultReadahead, Node: "n1", Name: name + "-readahead", Detail: map[string]string{
		fault.DetailUnit: fault.ReadaheadUnitName(name), fault.DetailPath: nodeRoot + "/" + name, fault.DetailRoot: nodeRoot,
		fault.DetailBacking: "filesystem", fault.DetailReadAheadKB: "2560"}}
}

// A fault's change is a valid ledger item and comes back from it unchanged.
func TestFaultChangeInTheLedger(t *testing.T) {
	t.Parallel()
	c := readaheadChange("1a2b")
	it := faultItem(c)
	if err := it.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := ChangeOfItem(it); !reflect.DeepEqual(got, c) {
		t.Errorf("ChangeOfItem(faultItem(c)) = %+v, want %+v", got, c)
	}
	it.Node = ""
	if err := it.Validate(); err == nil {
		t.Error("a fault item without its node validates")
	}
}

// nodeScript is a node that answers the sweep's listings with files and
// units (a readahead unit gone once undone or removed), fails the commands
// fail says, and records every command.
type nodeScript struct {
	mu           sync.Mutex
	cmds         [][]string
	files, units string
	fail         func(argv []string) error
}

func (n *nodeScript) NodeExec(_ context.Context, _ string, _ io.Reader, argv ...string) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.cmds = append(n.cmds, slices.Clone(argv))
	if n.fail != nil {
		if err := n.fail(argv); err != nil {
			return nil, err
		}
	}
	switch {
	case len(argv) > 5 && argv[3] == "readahead" && (argv[4] == "undo" || argv[4] == "remove-unit"):
		// The unit is gone from the listing, as on a node.
		n.units = strings.ReplaceAll(n.units, path.Base(argv[5])+"-readahead.service\n", "")
	case len(argv) > 3 && argv[3] == "list-backings":
		return []byte(n.files), nil
	case argv[0] == "ls":
		return []byte(n.units), nil
	}
	return nil, nil
}

// index is the position of the first command whose script (argv[3:]) starts
// with prefix, -1 when none ran.
func (n *nodeScript) index(prefix ...string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.IndexFunc(n.cmds, func(argv []string) bool {
		return len(argv) >= 3+len(prefix) && slices.Equal(argv[3:3+len(prefix)], prefix)
	})
}

// deadRunWithReadahead is a dead run's ledger and cluster: its PV, its
// filesystem backing and its readahead change, on node n1.
func deadRunWithReadahead(t *testing.T, run string) (*fake.Clientset, *localpv.Volume, fault.Change) {
	t.Helper()
	ctx := context.Background()
	v := localpv.Planned(localpv.Spec{Run: run, Name: "data", Node: "n1", Backing: localpv.Filesystem, FSType: "ext4", Root: nodeRoot})
	fs := corev1.PersistentVolumeFilesystem
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: v.PVName, Labels: map[string]string{localpv.LabelOwned: "true", localpv.LabelRun: run}},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: "pvreboot-local", VolumeMode: &fs,
			PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: v.Path}},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{"n1"}}}}}}}},
	}
	c := fake.NewClientset(pv)
	l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: run, Cluster: "lab", Scenario: "s", Holder: "test:1", LeaseDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ch := readaheadChange(run)
	// As a run records them: the volume first, the fault's change later.
	if err := l.Add(ctx, append(volumeItems(v), faultItem(ch))...); err != nil {
		t.Fatal(err)
	}
	lease, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName(run), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	return c, v, ch
}

// A dead run's fault change is undone by the sweep on its node (the
// readahead unit removed, the device's value restored) before its volume's
// node side goes (the undo needs the device), and then forgotten.
func TestSweepUndoesADeadRunsFault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, v, ch := deadRunWithReadahead(t, "dead0003")
	// Without the node, nothing is undone and the items stay.
	if _, err := Sweep(ctx, SweepOptions{Client: c, Run: "dead0003"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0003"), metav1.GetOptions{}); err != nil {
		t.Fatalf("the ledger of a run whose fault is not undone is gone: %v", err)
	}
	node := &nodeScript{files: v.PVName + "\n" + v.PVName + ".img\n", units: v.Unit + "\n" + ch.Detail[fault.DetailUnit] + "\n"}
	if _, err := Sweep(ctx, SweepOptions{Client: c, Nodes: node, NodeNames: []string{"n1"}, Run: "dead0003"}); err != nil {
		t.Fatal(err)
	}
	undo := node.index("readahead", "undo", ch.Detail[fault.DetailPath], "filesystem", "2560")
	teardown := node.index("teardown")
	switch {
	case undo < 0:
		t.Errorf("the sweep did not undo the readahead fault: %q", node.cmds)
	case teardown < 0:
		t.Errorf("the sweep did not remove the volume's node side: %q", node.cmds)
	case undo > teardown:
		t.Errorf("the fault was undone (command %d) after the volume's node side went (command %d): its device was gone", undo, teardown)
	}
	if i := node.index("readahead", "remove-unit"); i >= 0 {
		t.Errorf("the unit a ledger names was removed without restoring the value: %q", node.cmds[i][3:])
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0003"), metav1.GetOptions{}); err == nil {
		t.Error("the ledger of a run with nothing left is still there")
	}
}

// A dead run's fault change whose undo fails keeps its volume's node side
// (the next undo needs the device) and both stay in the ledger; the PV
// object, which no undo needs, goes.
func TestSweepKeepsTheVolumeOfAFaultNotUndone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, v, ch := deadRunWithReadahead(t, "dead0004")
	node := &nodeScript{files: v.PVName + "\n" + v.PVName + ".img\n", units: v.Unit + "\n" + ch.Detail[fault.DetailUnit] + "\n",
		fail: func(argv []string) error {
			if len(argv) > 4 && argv[3] == "readahead" && argv[4] == "undo" {
				return errors.New("exit status 3: no block device now")
			}
			return nil
		}}
	if _, err := Sweep(ctx, SweepOptions{Client: c, Nodes: node, NodeNames: []string{"n1"}, Run: "dead0004"}); err == nil {
		t.Error("the sweep succeeded with a fault not undone")
	}
	if i := node.index("teardown"); i >= 0 {
		t.Errorf("the volume's node side was torn down with its fault not undone: %q", node.cmds[i][3:])
	}
	if n := len(slices.DeleteFunc(slices.Clone(node.cmds), func(argv []string) bool { return !(len(argv) > 4 && argv[4] == "undo") })); n != 1 {
		t.Errorf("the undo ran %d times, want once a sweep", n)
	}
	l, err := ledger.Load(ctx, c, "", "dead0004")
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range l.Items() {
		kinds = append(kinds, it.Kind)
	}
	slices.Sort(kinds)
	if want := []string{ledger.KindBacking, ledger.KindFault}; !slices.Equal(kinds, want) {
		t.Errorf("ledger items %q, want %q", kinds, want)
	}
	if _, err := c.CoreV1().PersistentVolumes().Get(ctx, v.PVName, metav1.GetOptions{}); err == nil {
		t.Error("the PV object is still there")
	}
}

// A readahead unit no ledger names (the run's Lease and local copy are
// lost) is found on the node and removed with the volume: it would set the
// device's readahead at every boot.
func TestSweepRemovesAReadaheadUnitNoLedgerNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	c := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "pvreboot-dead0005",
		Labels: map[string]string{localpv.LabelOwned: "true", localpv.LabelRun: "dead0005"}, CreationTimestamp: old}})
	pv := "pvreboot-dead0005-data"
	node := &nodeScript{files: pv + "\n" + pv + ".img\n", units: "mnt-pvreboot-pvreboot\\x2ddead0005\\x2ddata.mount\n" + pv + "-readahead.service\n"}
	swept, err := Sweep(ctx, SweepOptions{Client: c, Nodes: node, NodeNames: []string{"n1"}, OlderThan: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	remove := node.index("readahead", "remove-unit", nodeRoot+"/"+pv)
	teardown := node.index("teardown")
	if remove < 0 || teardown < 0 {
		t.Fatalf("unit removed at %d, volume torn down at %d: %q", remove, teardown, node.cmds)
	}
	if !slices.ContainsFunc(swept, func(s Swept) bool { return s.What == "readahead unit" && s.Name == pv+"-readahead.service" }) {
		t.Errorf("the sweep does not report the unit: %v", swept)
	}
}

// A run's cleanup whose fault undo fails keeps the volume's node side and
// its ledger items (for `pvreboot cleanup --run`), and reports both as left.
func TestCleanupKeepsTheVolumeOfAFaultNotUndone(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := &scenario.Scenario{Metadata: scenario.Metadata{Name: "held"}}
	s.Spec.Cluster.Nodes.Names = []string{"n1"}
	c := fake.NewClientset(&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}})
	node := &nodeScript{fail: func(argv []string) error {
		if len(argv) > 4 && argv[3] == "readahead" && argv[4] == "undo" {
			return errors.New("exit status 3: no block device now")
		}
		return nil
	}}
	r, err := New(Config{Scenario: s, Client: c, RESTConfig: &rest.Config{}, Nodes: node, Rebooter: &countingRebooter{}, ProbeImage: "probe:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.openLedger(ctx); err != nil {
		t.Fatal(err)
	}
	v := localpv.Planned(localpv.Spec{Run: r.id, Name: "data", Node: "n1", Backing: localpv.Filesystem, FSType: "ext4", Root: nodeRoot})
	if err := r.record(ctx, volumeItems(v)...); err != nil {
		t.Fatal(err)
	}
	r.volumes = []*localpv.Volume{v}
	if err := r.recordChange(ctx, readaheadChange(r.id)); err != nil {
		t.Fatal(err)
	}
	err = r.Cleanup(ctx)
	var lb *LeftBehindError
	if !errors.As(err, &lb) {
		t.Fatalf("Cleanup: %v, want a LeftBehindError", err)
	}
	if i := node.index("teardown"); i >= 0 {
		t.Errorf("the volume's node side was torn down with its fault not undone: %q", node.cmds[i][3:])
	}
	text := strings.Join(lb.Items, "; ")
	for _, want := range []string{"fault " + readaheadChange(r.id).Name, "PV " + v.PVName + " and its filesystem backing"} {
		if !strings.Contains(text, want) {
			t.Errorf("left %q, want it to name %q", text, want)
		}
	}
	l, err := ledger.Load(ctx, c, "", r.id)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, it := range l.Items() {
		kinds = append(kinds, it.Kind)
	}
	slices.Sort(kinds)
	if want := []string{ledger.KindBacking, ledger.KindFault}; !slices.Equal(kinds, want) {
		t.Errorf("ledger items %q, want %q", kinds, want)
	}
}

// The faults' hooks run late-mount first whatever the scenario's order:
// io-throttle resolves the device under the mount point, which must be the
// volume's own disk by then, not the node's root disk underneath it.
func TestFaultHooksRunInKindsOrder(t *testing.T) {
	t.Parallel()
	s := &scenario.Scenario{Metadata: scenario.Metadata{Name: "order"}}
	s.Spec.Cluster.Nodes.Names = []string{"n1"}
	s.Spec.Faults = []scenario.Fault{{Type: scenario.FaultIOThrottle, ReadBPS: &scenario.Throughput{BytesPerSecond: 20 << 20}}, {Type: scenario.FaultLateMount}}
	rec := &argvRecorder{}
	r, err := New(Config{Scenario: s, Client: fake.NewClientset(), RESTConfig: &rest.Config{}, Nodes: rec, Rebooter: &countingRebooter{}, ProbeImage: "probe:1"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Result.Faults, []string{scenario.FaultIOThrottle, scenario.FaultLateMount}; !slices.Equal(got, want) {
		t.Errorf("the report's faults %q, want the scenario's order %q", got, want)
	}
	r.volumes = []*localpv.Volume{localpv.Planned(localpv.Spec{Run: r.id, Name: "data", Node: "n1", Backing: localpv.Filesystem, FSType: "ext4",
		SizeBytes: 1 << 30, StorageClass: "sc", Namespace: "pvreboot-" + r.id, Root: nodeRoot})}
	r.pod = &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{ContainerID: "containerd://0123456789abcdef0123"}}}}
	// The recorder answers findmnt with nothing: io-throttle fails there,
	// after what ran before it.
	_ = r.injectFaults(context.Background(), fault.Fault.AfterPodBack)
	mount := slices.IndexFunc(rec.cmds, func(argv []string) bool { return slices.Equal(argv[:3], []string{"systemctl", "enable", "--now"}) })
	device := slices.IndexFunc(rec.cmds, func(argv []string) bool { return argv[0] == "findmnt" })
	if mount < 0 || device < 0 || mount > device {
		t.Errorf("io-throttle looked up the device (%d) before late-mount mounted the volume (%d): %q", device, mount, rec.cmds)
	}
}
