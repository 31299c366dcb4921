package runner

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/ledger"
	"github.com/pvreboot/pvreboot/framework/localpv"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
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
pvreboot-1a2b-raw-readahead.service
pvreboot-77-lost-readahead.service
pvreboot-1a2b-$(reboot)-readahead.service
mnt-pvreboot-pvreboot\x2d9999\x2dgone.mount
multi-user.target.wants
mnt-data.mount
`
	got := ParseNodeLeftovers(files, units)
	want := []NodeLeftover{
		{Run: "1a2b", PVName: "pvreboot-1a2b-raw", Image: true, LoopUnit: true, Directory: true, ReadaheadUnit: true},
		{Run: "64d391fd", PVName: "pvreboot-64d391fd-data", Image: true, MountUnit: true, Directory: true},
		{Run: "77", PVName: "pvreboot-77-lost", ReadaheadUnit: true},
		{Run: "9999", PVName: "pvreboot-9999-gone", MountUnit: true},
		{Run: "cafe", PVName: "pvreboot-cafe-data-0", Directory: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseNodeLeftovers =\n %+v\nwant\n %+v", got, want)
	}
}

func TestSweepNeverTouchesALiveRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	old := metav1.NewTime(time.Now().Add(-2 * time.Hour))
	ns := func(name, run string, created metav1.Time) *corev1.Namespace {
		l := map[string]string{localpv.LabelOwned: "true"}
		if run != "" {
			l[localpv.LabelRun] = run
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, CreationTimestamp: created}}
	}
	pv := func(run string) *corev1.PersistentVolume {
		return &corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{Name: "pvreboot-" + run + "-data", Labels: map[string]string{localpv.LabelOwned: "true", localpv.LabelRun: run}},
			Spec: corev1.PersistentVolumeSpec{StorageClassName: "pvreboot-local",
				PersistentVolumeSource: corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: "/mnt/pvreboot/pvreboot-" + run + "-data"}}},
		}
	}
	c := fake.NewClientset(
		ns("pvreboot-a1", "a1", metav1.Now()), pv("a1"), // live: young namespace
		ns("pvreboot-d1", "d1", old), pv("d1"), // dead: old namespace
		pv("d2"), // dead: namespace gone
		ns("pvreboot-nodeexec-9", "", old),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", CreationTimestamp: old}}, // not pvreboot's
		&storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "pvreboot-local", Labels: map[string]string{localpv.LabelOwned: "true"}}},
	)
	dry, err := Sweep(ctx, SweepOptions{Client: c, OlderThan: 30 * time.Minute, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range dry {
		names = append(names, s.What+" "+s.Name)
	}
	want := "namespace pvreboot-d1, namespace pvreboot-nodeexec-9, PV pvreboot-d1-data, PV pvreboot-d2-data"
	if got := strings.Join(names, ", "); got != want {
		t.Errorf("dry run lists %q, want %q", got, want)
	}
	if pvs, _ := c.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{}); len(pvs.Items) != 3 {
		t.Errorf("dry run removed PVs: %d left", len(pvs.Items))
	}
	if _, err := Sweep(ctx, SweepOptions{Client: c, OlderThan: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	pvs, _ := c.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if len(pvs.Items) != 1 || pvs.Items[0].Name != "pvreboot-a1-data" {
		t.Errorf("PVs left: %+v, want only the live run's", pvs.Items)
	}
	for _, n := range []string{"pvreboot-a1", "kube-system"} {
		if _, err := c.CoreV1().Namespaces().Get(ctx, n, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s removed: %v", n, err)
		}
	}
	if _, err := c.StorageV1().StorageClasses().Get(ctx, "pvreboot-local", metav1.GetOptions{}); err != nil {
		t.Errorf("the StorageClass a live run's PV uses was removed: %v", err)
	}
}

// Liveness is the heartbeat, not the age: a run hours old whose Lease is
// fresh stays; a run minutes old whose heartbeat stopped is swept, and
// what its ledger names beyond the labelled objects (its helper namespace)
// goes too, then the ledger itself.
func TestSweepJudgesRunsByHeartbeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ns := func(name, run string, age time.Duration) *corev1.Namespace {
		l := map[string]string{localpv.LabelOwned: "true"}
		if run != "" {
			l[localpv.LabelRun] = run
		}
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, CreationTimestamp: metav1.NewTime(time.Now().Add(-age))}}
	}
	cordoned := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Spec: corev1.NodeSpec{Unschedulable: true}}
	c := fake.NewClientset(ns("pvreboot-aaaa", "aaaa", 3*time.Hour), ns("pvreboot-dddd", "dddd", time.Minute), ns("pvreboot-nodeexec-7", "", time.Minute), cordoned)
	open := func(run string, items ...ledger.Item) *ledger.Ledger {
		l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: run, Cluster: "lab", Scenario: "s", Holder: "test:1", LeaseDuration: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Add(ctx, items...); err != nil {
			t.Fatal(err)
		}
		return l
	}
	open("aaaa", ledger.Item{Kind: ledger.KindNamespace, Name: "pvreboot-aaaa"}) // live: just renewed
	open("dddd", ledger.Item{Kind: ledger.KindNamespace, Name: "pvreboot-dddd"}, ledger.Item{Kind: ledger.KindHelperNamespace, Name: "pvreboot-nodeexec-7"},
		ledger.Item{Kind: ledger.KindCordon, Name: "n1"})
	// dddd's heartbeat stopped a minute ago.
	lease, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dddd"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Minute)}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	swept, err := Sweep(ctx, SweepOptions{Client: c, OlderThan: 30 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range swept {
		got = append(got, s.String())
	}
	text := strings.Join(got, "\n")
	for _, want := range []string{"namespace pvreboot-dddd: run dddd stopped its heartbeat", "ledger run-dddd: run dddd has nothing left"} {
		if !strings.Contains(text, want) {
			t.Errorf("swept lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "aaaa") {
		t.Errorf("a live run (fresh heartbeat, 3 h old) was swept:\n%s", text)
	}
	for name, want := range map[string]bool{"pvreboot-aaaa": true, "pvreboot-dddd": false, "pvreboot-nodeexec-7": false, ledger.Namespace: true} {
		_, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
		if (err == nil) != want {
			t.Errorf("namespace %s exists=%v, want %v", name, err == nil, want)
		}
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dddd"), metav1.GetOptions{}); err == nil {
		t.Error("the dead run's ledger is still there with nothing left")
	}
	if n, err := c.CoreV1().Nodes().Get(ctx, "n1", metav1.GetOptions{}); err != nil || n.Spec.Unschedulable {
		t.Errorf("the node the dead run cordoned is still cordoned: %v", err)
	}
}

// A dead run's backing the node listing no longer shows is gone: the ledger
// pass forgets it without running the teardown on the node again.
func TestSweepTrustsTheNodeListing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := fake.NewClientset()
	l, err := ledger.Open(ctx, ledger.Options{Client: c, Run: "dead0002", Cluster: "lab", Scenario: "s", Holder: "test:1", LeaseDuration: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	v := localpv.Planned(localpv.Spec{Run: "dead0002", Name: "data", Node: "n1", Backing: localpv.Filesystem, FSType: "ext4", Root: nodeRoot})
	if err := l.Add(ctx, volumeItems(v)[1]); err != nil {
		t.Fatal(err)
	}
	lease, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0002"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	lease.Spec.RenewTime = &metav1.MicroTime{Time: time.Now().Add(-time.Hour)}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	rec := &argvRecorder{} // lists only another run's backing
	if _, err := Sweep(ctx, SweepOptions{Client: c, Nodes: rec, NodeNames: []string{"n1"}, Run: "dead0002"}); err != nil {
		t.Fatal(err)
	}
	for _, argv := range rec.cmds {
		if len(argv) > 3 && argv[3] == "teardown" {
			t.Errorf("the node was asked again to tear down what its listing showed gone: %q", argv[4:])
		}
	}
	if _, err := c.CoordinationV1().Leases(ledger.Namespace).Get(ctx, ledger.LeaseName("dead0002"), metav1.GetOptions{}); err == nil {
		t.Error("the ledger of a run with nothing left is still there")
	}
}
