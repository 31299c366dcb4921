package runner

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/scenario"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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

// A dead run's fault change is undone by the sweep on its node (the
// readahead unit removed, the device's value restored) and then forgotten.
func TestSweepUndoesADeadRunsFault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := fake.NewClientset()
	l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: "dead0003", Cluster: "lab", Scenario: "s", Holder: "test:1", LeaseDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ch := readaheadChange("dead0003")
	if err := l.Add(ctx, faultItem(ch)); err != nil {
		t.Fatal(err)
	}
	lease, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0003"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Without the node, nothing is undone and the item stays.
	if _, err := Sweep(ctx, SweepOptions{Client: c, Run: "dead0003"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0003"), metav1.GetOptions{}); err != nil {
		t.Fatalf("the ledger of a run whose fault is not undone is gone: %v", err)
	}
	rec := &argvRecorder{}
	if _, err := Sweep(ctx, SweepOptions{Client: c, Nodes: rec, NodeNames: []string{"n1"}, Run: "dead0003"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"readahead", "undo", ch.Detail[fault.DetailPath], "filesystem", "2560", ch.Detail[fault.DetailUnit]}
	if !slices.ContainsFunc(rec.cmds, func(argv []string) bool { return len(argv) > 3 && slices.Equal(argv[3:], want) }) {
		t.Errorf("the sweep did not undo the readahead fault: %q", rec.cmds)
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0003"), metav1.GetOptions{}); err == nil {
		t.Error("the ledger of a run with nothing left is still there")
	}
}
