package ledger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	pvwait "github.com/pvreboot/pvreboot/framework/wait"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// testTimeout bounds each test's waits on the fake clientset (watch events,
// heartbeats); they take milliseconds, so reaching it means a hang.
const testTimeout = 10 * time.Second

// fastBackoff keeps retry tests quick: 4 tries, 1ms apart.
func fastBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 4}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func open(t *testing.T, ctx context.Context, c *fake.Clientset, dir, run string) *Ledger {
	t.Helper()
	l, err := Open(ctx, Options{Client: c, Run: run, Cluster: "kind-pvreboot", Scenario: "smoke", Holder: "test:1", StateDir: dir, backoff: fastBackoff()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

func getLeaseT(t *testing.T, ctx context.Context, c *fake.Clientset, run string) *coordv1.Lease {
	t.Helper()
	lease, err := c.CoordinationV1().Leases(Namespace).Get(ctx, LeaseName(run), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get lease: %v", err)
	}
	return lease
}

// leaseItems reads the items back from the Lease annotation.
func leaseItems(t *testing.T, ctx context.Context, c *fake.Clientset, run string) []Item {
	t.Helper()
	var items []Item
	if err := json.Unmarshal([]byte(getLeaseT(t, ctx, c, run).Annotations[AnnotationLedger]), &items); err != nil {
		t.Fatalf("decode lease annotation: %v", err)
	}
	return items
}

// fileItems reads the items back from the local copy.
func fileItems(t *testing.T, dir, run string) []Item {
	t.Helper()
	rec, err := LoadLocal(dir, run)
	if err != nil {
		t.Fatalf("LoadLocal: %v", err)
	}
	return rec.Items
}

func sameItems(a, b []Item) bool {
	return slices.EqualFunc(a, b, func(x, y Item) bool {
		return x.key() == y.key() && fmt.Sprint(x.Detail) == fmt.Sprint(y.Detail)
	})
}

// wantEverywhere checks the ledger, its Lease and its local copy all hold want.
func wantEverywhere(t *testing.T, ctx context.Context, c *fake.Clientset, l *Ledger, dir string, want []Item) {
	t.Helper()
	run := l.Record().Run
	if got := l.Items(); !sameItems(got, want) {
		t.Errorf("Items() = %v, want %v", got, want)
	}
	if got := leaseItems(t, ctx, c, run); !sameItems(got, want) {
		t.Errorf("lease items = %v, want %v", got, want)
	}
	if got := fileItems(t, dir, run); !sameItems(got, want) {
		t.Errorf("local items = %v, want %v", got, want)
	}
}

func backing(name, node string) Item {
	return Item{Kind: KindBacking, Name: name, Node: node, Detail: map[string]string{
		DetailBacking: "filesystem",
		DetailRoot:    "/mnt/pvreboot",
		DetailPath:    "/mnt/pvreboot/" + name,
		DetailImage:   "/mnt/pvreboot/" + name + ".img",
		DetailUnit:    "mnt-pvreboot-" + name + ".mount",
	}}
}

func ns(name string) Item { return Item{Kind: KindNamespace, Name: name} }
func pv(name string) Item { return Item{Kind: KindPV, Name: name} }

// failing returns a reactor that answers the first n calls with err (n < 0:
// every call) and counts all calls in calls.
func failing(n int32, err error, calls *atomic.Int32) k8stesting.ReactionFunc {
	return func(k8stesting.Action) (bool, runtime.Object, error) {
		c := calls.Add(1)
		if n < 0 || c <= n {
			return true, nil, err
		}
		return false, nil, nil
	}
}

func conflict() error {
	return apierrors.NewConflict(schemaLeases(), "run-1a2b", errors.New("the object has been modified"))
}

func internal() error { return apierrors.NewInternalError(errors.New("etcdserver: leader changed")) }

func TestOpen(t *testing.T) {
	t.Parallel()
	other := func(run string) runtime.Object {
		lease, err := leaseFor(Record{Run: run, Holder: "elsewhere:9", LeaseSeconds: 30, Started: now(), Renewed: now()})
		if err != nil {
			t.Fatal(err)
		}
		return lease
	}
	tests := []struct {
		name     string
		objects  []runtime.Object
		stateDir bool
		localPre bool // a local copy exists already
		wantErr  error
	}{
		{name: "creates namespace, lease and file", stateDir: true},
		{name: "without a state directory", stateDir: false},
		{name: "namespace exists already", stateDir: true, objects: []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace}}}},
		{name: "run ID held by another lease", stateDir: true, objects: []runtime.Object{other("1a2b")}, wantErr: ErrExists},
		{name: "run ID held by a local copy", stateDir: true, localPre: true, wantErr: ErrExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset(tt.objects...)
			dir := t.TempDir()
			stateDir := ""
			if tt.stateDir {
				stateDir = dir
			}
			if tt.localPre {
				if err := writeLocal(dir, Record{Run: "1a2b", LeaseSeconds: 30, Items: []Item{ns("pvreboot-1a2b")}}); err != nil {
					t.Fatal(err)
				}
			}
			l, err := Open(ctx, Options{Client: c, Run: "1a2b", Cluster: "kind-pvreboot", Scenario: "smoke", Holder: "test:1", StateDir: stateDir, LeaseDuration: 20 * time.Second, backoff: fastBackoff()})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Open: %v, want %v", err, tt.wantErr)
				}
				if tt.localPre {
					if _, err := c.CoordinationV1().Leases(Namespace).Get(ctx, LeaseName("1a2b"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
						t.Errorf("lease after a refused Open: %v, want not found", err)
					}
					if got := fileItems(t, dir, "1a2b"); len(got) != 1 {
						t.Errorf("the other run's local copy was changed: %v", got)
					}
				} else if _, err := os.Stat(localPath(dir, "1a2b")); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("local copy after a refused Open: %v, want none", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			nsObj, err := c.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("namespace: %v", err)
			}
			if len(tt.objects) == 0 && nsObj.Labels[LabelOwned] != "true" {
				t.Errorf("namespace labels = %v, want %s=true", nsObj.Labels, LabelOwned)
			}
			lease := getLeaseT(t, ctx, c, "1a2b")
			if lease.Labels[LabelOwned] != "true" || lease.Labels[LabelRun] != "1a2b" {
				t.Errorf("lease labels = %v", lease.Labels)
			}
			if lease.Annotations[AnnotationCluster] != "kind-pvreboot" || lease.Annotations[AnnotationScenario] != "smoke" || lease.Annotations[AnnotationLedger] != "[]" {
				t.Errorf("lease annotations = %v", lease.Annotations)
			}
			s := lease.Spec
			if s.HolderIdentity == nil || *s.HolderIdentity != "test:1" || s.LeaseDurationSeconds == nil || *s.LeaseDurationSeconds != 20 ||
				s.AcquireTime == nil || s.RenewTime == nil {
				t.Errorf("lease spec = %+v", s)
			}
			_, err = os.Stat(localPath(dir, "1a2b"))
			if !tt.stateDir {
				if !errors.Is(err, os.ErrNotExist) {
					t.Errorf("local copy without a state directory: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("local copy: %v", err)
			}
			fi, _ := os.Stat(localPath(dir, "1a2b"))
			if fi.Mode().Perm() != 0o600 {
				t.Errorf("local copy mode %v, want 0600", fi.Mode().Perm())
			}
			rec, err := LoadLocal(dir, "1a2b")
			if err != nil {
				t.Fatalf("LoadLocal: %v", err)
			}
			if rec.Run != "1a2b" || rec.Cluster != "kind-pvreboot" || rec.Scenario != "smoke" || rec.Holder != "test:1" || rec.LeaseSeconds != 20 || !rec.Started.Equal(s.AcquireTime.Time) {
				t.Errorf("local record = %+v", rec)
			}
			if l.Record().Holder != "test:1" {
				t.Errorf("Record().Holder = %q", l.Record().Holder)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("state directory holds %d entries, want only the copy (no temp files)", len(entries))
			}
		})
	}
}

func TestAddRemove(t *testing.T) {
	t.Parallel()
	moved := backing("pvreboot-1a2b-data", "kind-worker")
	moved.Detail[DetailUnit] = "other.mount"
	tests := []struct {
		name   string
		add    [][]Item
		remove [][]Item
		want   []Item
	}{
		{name: "add one", add: [][]Item{{ns("pvreboot-1a2b")}}, want: []Item{ns("pvreboot-1a2b")}},
		{name: "add several in order", add: [][]Item{{ns("pvreboot-1a2b"), pv("pvreboot-1a2b-data")}, {backing("pvreboot-1a2b-data", "kind-worker")}},
			want: []Item{ns("pvreboot-1a2b"), pv("pvreboot-1a2b-data"), backing("pvreboot-1a2b-data", "kind-worker")}},
		{name: "same kind, name and node is replaced", add: [][]Item{{backing("pvreboot-1a2b-data", "kind-worker")}, {moved}}, want: []Item{moved}},
		{name: "same name on another node is another item", add: [][]Item{{backing("pvreboot-1a2b-data", "kind-worker"), backing("pvreboot-1a2b-data", "kind-worker2")}},
			want: []Item{backing("pvreboot-1a2b-data", "kind-worker"), backing("pvreboot-1a2b-data", "kind-worker2")}},
		{name: "remove", add: [][]Item{{ns("pvreboot-1a2b"), pv("pvreboot-1a2b-data")}}, remove: [][]Item{{ns("pvreboot-1a2b")}}, want: []Item{pv("pvreboot-1a2b-data")}},
		{name: "remove ignores detail", add: [][]Item{{backing("pvreboot-1a2b-data", "kind-worker")}}, remove: [][]Item{{{Kind: KindBacking, Name: "pvreboot-1a2b-data", Node: "kind-worker"}}}, want: []Item{}},
		{name: "remove what is not there", add: [][]Item{{ns("pvreboot-1a2b")}}, remove: [][]Item{{pv("pvreboot-1a2b-data")}}, want: []Item{ns("pvreboot-1a2b")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			dir := t.TempDir()
			l := open(t, ctx, c, dir, "1a2b")
			for _, items := range tt.add {
				if err := l.Add(ctx, items...); err != nil {
					t.Fatalf("Add: %v", err)
				}
			}
			for _, items := range tt.remove {
				if err := l.Remove(ctx, items...); err != nil {
					t.Fatalf("Remove: %v", err)
				}
			}
			wantEverywhere(t, ctx, c, l, dir, tt.want)
		})
	}
}

func TestItemsIsACopy(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := fake.NewClientset()
	l := open(t, ctx, c, "", "1a2b")
	if err := l.Add(ctx, backing("pvreboot-1a2b-data", "kind-worker")); err != nil {
		t.Fatal(err)
	}
	got := l.Items()
	got[0].Detail[DetailPath] = "/etc"
	got[0].Name = "changed"
	if again := l.Items(); again[0].Name != "pvreboot-1a2b-data" || again[0].Detail[DetailPath] != "/mnt/pvreboot/pvreboot-1a2b-data" {
		t.Errorf("changing Items() changed the ledger: %v", again)
	}
}

func TestAPIRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		verb      string // the verb on leases that fails
		fail      int32  // how many calls fail; -1 all
		err       error
		wantErr   bool
		wantCalls int32
	}{
		{name: "conflict on update is retried", verb: "update", fail: 3, err: conflict(), wantCalls: 4},
		{name: "500 twice then success is retried", verb: "update", fail: 2, err: internal(), wantCalls: 3},
		{name: "429 is retried", verb: "update", fail: 1, err: apierrors.NewTooManyRequests("slow down", 0), wantCalls: 2},
		{name: "500 on every try gives up", verb: "update", fail: -1, err: internal(), wantErr: true, wantCalls: 4},
		{name: "forbidden is not retried", verb: "update", fail: -1, err: apierrors.NewForbidden(schemaLeases(), "run-1a2b", errors.New("rbac")), wantErr: true, wantCalls: 1},
		{name: "500 twice on get is retried", verb: "get", fail: 2, err: internal(), wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			dir := t.TempDir()
			l := open(t, ctx, c, dir, "1a2b")
			var calls atomic.Int32
			c.PrependReactor(tt.verb, "leases", failing(tt.fail, tt.err, &calls))
			item := ns("pvreboot-1a2b")
			err := l.Add(ctx, item)
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("%s calls = %d, want %d", tt.verb, got, tt.wantCalls)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("Add succeeded, want an error")
				}
				// Recording more than exists is safe: the local copy
				// and the ledger keep the item for the next write.
				if got := fileItems(t, dir, "1a2b"); !sameItems(got, []Item{item}) {
					t.Errorf("local items after a failed Lease write = %v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Add: %v", err)
			}
			wantEverywhere(t, ctx, c, l, dir, []Item{item})
		})
	}
}

func TestOpenRetriesCreate(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := fake.NewClientset()
	var calls atomic.Int32
	c.PrependReactor("create", "leases", failing(2, internal(), &calls))
	open(t, ctx, c, t.TempDir(), "1a2b")
	if got := calls.Load(); got != 3 {
		t.Errorf("create calls = %d, want 3", got)
	}
	getLeaseT(t, ctx, c, "1a2b")
}

// renewals waits on the watch for n Lease events whose renewTime is later
// than after, and returns the last renewTime seen.
func renewals(t *testing.T, ctx context.Context, w watch.Interface, n int, after time.Time) time.Time {
	t.Helper()
	last := after
	for seen := 0; seen < n; {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed after %d of %d renewals", seen, n)
			}
			lease, isLease := ev.Object.(*coordv1.Lease)
			if !isLease || lease.Spec.RenewTime == nil {
				continue
			}
			if rt := lease.Spec.RenewTime.Time; rt.After(last) {
				last = rt
				seen++
			}
		case <-ctx.Done():
			t.Fatalf("want %d renewals after %s, saw %d, last renewTime %s", n, after.Format(time.RFC3339Nano), seen, last.Format(time.RFC3339Nano))
		}
	}
	return last
}

func TestHeartbeat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		failFirst int32 // renewals (patches) that fail before one succeeds
		deleted   bool  // the Lease is deleted under the run
		wantWarns int32
	}{
		{name: "advances renewTime"},
		{name: "failed renewals are logged and retried", failFirst: 3, wantWarns: 3},
		// Recreating is worth a warning: someone deleted a live run's Lease.
		{name: "a deleted lease is recreated with the items", deleted: true, wantWarns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			var warns atomic.Int32
			// One try per renewal, so each failure is one failed tick.
			l, err := Open(ctx, Options{Client: c, Run: "1a2b", Holder: "test:1", Log: slog.New(warnCounter{&warns}), backoff: &wait.Backoff{Duration: time.Millisecond, Steps: 1}})
			if err != nil {
				t.Fatal(err)
			}
			if err := l.Add(ctx, ns("pvreboot-1a2b")); err != nil {
				t.Fatal(err)
			}
			start := getLeaseT(t, ctx, c, "1a2b").Spec.RenewTime.Time
			var calls atomic.Int32
			c.PrependReactor("patch", "leases", failing(tt.failFirst, internal(), &calls))
			if tt.deleted {
				if err := c.CoordinationV1().Leases(Namespace).Delete(ctx, LeaseName("1a2b"), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			w, err := c.CoordinationV1().Leases(Namespace).Watch(ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			stop := l.Heartbeat(ctx, 2*time.Millisecond)
			last := renewals(t, ctx, w, 3, start)
			stop()
			stop() // a second stop is harmless
			if got := l.Record().Renewed; got.Before(last) && !tt.deleted {
				t.Errorf("Record().Renewed = %s, want at least %s", got, last)
			}
			if got := warns.Load(); got != tt.wantWarns {
				t.Errorf("%d warnings logged, want %d", got, tt.wantWarns)
			}
			if got := leaseItems(t, ctx, c, "1a2b"); !sameItems(got, []Item{ns("pvreboot-1a2b")}) {
				t.Errorf("lease items after heartbeats = %v", got)
			}
		})
	}
}

// warnCounter is a slog.Handler that counts records at Warn and above.
type warnCounter struct{ n *atomic.Int32 }

func (h warnCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h warnCounter) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.n.Add(1)
	}
	return nil
}
func (h warnCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h warnCounter) WithGroup(string) slog.Handler      { return h }

func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		add, remove []Item
		failAdd     bool // the Lease write of Add fails; Close writes it
		wantKept    bool
	}{
		{name: "without items deletes lease and file"},
		{name: "with items keeps lease and file", add: []Item{ns("pvreboot-1a2b")}, wantKept: true},
		{name: "items all removed deletes both", add: []Item{ns("pvreboot-1a2b"), pv("pvreboot-1a2b-data")}, remove: []Item{pv("pvreboot-1a2b-data"), ns("pvreboot-1a2b")}},
		{name: "writes the lease a failed Add left behind", add: []Item{backing("pvreboot-1a2b-data", "kind-worker")}, failAdd: true, wantKept: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			dir := t.TempDir()
			l := open(t, ctx, c, dir, "1a2b")
			stop := l.Heartbeat(ctx, time.Hour)
			if tt.failAdd {
				var calls atomic.Int32
				c.PrependReactor("update", "leases", failing(int32(fastBackoff().Steps), internal(), &calls))
				if err := l.Add(ctx, tt.add...); err == nil {
					t.Fatal("Add succeeded through a failing API")
				}
				if got := leaseItems(t, ctx, c, "1a2b"); len(got) != 0 {
					t.Fatalf("lease items before Close = %v, want none", got)
				}
			} else if err := l.Add(ctx, tt.add...); err != nil {
				t.Fatal(err)
			}
			if err := l.Remove(ctx, tt.remove...); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			stop() // after Close: harmless
			if err := l.Close(ctx); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if err := l.Add(ctx, pv("pvreboot-1a2b-late")); !errors.Is(err, ErrClosed) {
				t.Errorf("Add after Close: %v, want ErrClosed", err)
			}
			_, lerr := c.CoordinationV1().Leases(Namespace).Get(ctx, LeaseName("1a2b"), metav1.GetOptions{})
			_, ferr := os.Stat(localPath(dir, "1a2b"))
			if !tt.wantKept {
				if !apierrors.IsNotFound(lerr) || !errors.Is(ferr, os.ErrNotExist) {
					t.Errorf("after Close without items: lease %v, file %v; want both gone", lerr, ferr)
				}
				if _, err := c.CoreV1().Namespaces().Get(ctx, Namespace, metav1.GetOptions{}); err != nil {
					t.Errorf("namespace %s after Close: %v, want it kept", Namespace, err)
				}
				return
			}
			if lerr != nil || ferr != nil {
				t.Fatalf("after Close with items: lease %v, file %v; want both kept", lerr, ferr)
			}
			want := tt.add
			if got := leaseItems(t, ctx, c, "1a2b"); !sameItems(got, want) {
				t.Errorf("lease items = %v, want %v", got, want)
			}
			if got := fileItems(t, dir, "1a2b"); !sameItems(got, want) {
				t.Errorf("local items = %v, want %v", got, want)
			}
		})
	}
}

func leaseObject(t *testing.T, rec Record) *coordv1.Lease {
	t.Helper()
	lease, err := leaseFor(rec)
	if err != nil {
		t.Fatal(err)
	}
	return lease
}

func TestList(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	fresh := Record{Run: "b2", Holder: "ci:7", Started: at.Add(-time.Minute), Renewed: at.Add(-5 * time.Second), LeaseSeconds: 30, Items: []Item{ns("pvreboot-b2")}}
	expired := Record{Run: "a1", Holder: "laptop:3", Started: at.Add(-time.Hour), Renewed: at.Add(-31 * time.Second), LeaseSeconds: 30, Items: []Item{backing("pvreboot-a1-data", "kind-worker")}}
	tampered := leaseObject(t, Record{Run: "c3", Started: at, Renewed: at, LeaseSeconds: 30})
	tampered.Annotations[AnnotationLedger] = `[{"kind":"backing","name":"x","node":"kind-worker","detail":{"path":"/mnt/pvreboot/../../etc"}}]`
	tests := []struct {
		name     string
		objects  []runtime.Object
		wantRuns []string
		wantLive []bool
		wantErr  error
	}{
		{name: "no namespace, no runs"},
		{name: "fresh and expired, sorted by start", objects: []runtime.Object{leaseObject(t, fresh), leaseObject(t, expired)}, wantRuns: []string{"a1", "b2"}, wantLive: []bool{false, true}},
		{name: "a tampered lease is left out and named", objects: []runtime.Object{leaseObject(t, fresh), tampered}, wantRuns: []string{"b2"}, wantLive: []bool{true}, wantErr: ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			recs, err := List(ctx, fake.NewClientset(tt.objects...))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("List: %v, want %v", err, tt.wantErr)
			}
			var runs []string
			var live []bool
			for _, r := range recs {
				runs = append(runs, r.Run)
				live = append(live, r.Live(at))
			}
			if !slices.Equal(runs, tt.wantRuns) || !slices.Equal(live, tt.wantLive) {
				t.Errorf("List runs %v live %v, want %v live %v", runs, live, tt.wantRuns, tt.wantLive)
			}
			for _, r := range recs {
				if r.Run == "a1" && !sameItems(r.Items, expired.Items) {
					t.Errorf("run a1 items = %v", r.Items)
				}
			}
		})
	}
}

func TestRecordLive(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		renewed time.Time
		seconds int32
		want    bool
	}{
		{name: "renewed just now", renewed: at, seconds: 30, want: true},
		{name: "within the lease", renewed: at.Add(-29 * time.Second), seconds: 30, want: true},
		{name: "exactly at expiry", renewed: at.Add(-30 * time.Second), seconds: 30, want: false},
		{name: "expired", renewed: at.Add(-time.Hour), seconds: 30, want: false},
		{name: "never renewed", seconds: 30, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := (Record{Renewed: tt.renewed, LeaseSeconds: tt.seconds}).Live(at); got != tt.want {
				t.Errorf("Live = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	old := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	a, b := ns("pvreboot-77"), backing("pvreboot-77-data", "kind-worker")
	rec := func(items ...Item) Record {
		return Record{Run: "77", Cluster: "kind-pvreboot", Scenario: "smoke", Holder: "gone:1", Started: old, Renewed: old, LeaseSeconds: 30, Items: items}
	}
	forbidden := apierrors.NewForbidden(schemaLeases(), "run-77", errors.New("rbac"))
	tests := []struct {
		name      string
		lease     *Record // in the cluster
		local     *Record // in the state directory
		getErr    error   // every get of the Lease fails so
		want      []Item
		wantErr   error
		wantLease bool // the Lease exists afterwards (recreated if it was not)
	}{
		{name: "from the lease", lease: new(rec(a, b)), want: []Item{a, b}, wantLease: true},
		{name: "from the local copy, lease recreated", local: new(rec(a, b)), want: []Item{a, b}, wantLease: true},
		{name: "lease and local copy merged", lease: new(rec(a)), local: new(rec(a, b)), want: []Item{a, b}, wantLease: true},
		{name: "neither", wantErr: ErrNotFound},
		{name: "API refuses, local copy", local: new(rec(a)), getErr: forbidden, want: []Item{a}},
		{name: "API refuses, no local copy", getErr: forbidden, wantErr: forbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			dir := t.TempDir()
			if tt.lease != nil {
				if _, err := c.CoordinationV1().Leases(Namespace).Create(ctx, leaseObject(t, *tt.lease), metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tt.local != nil {
				if err := writeLocal(dir, *tt.local); err != nil {
					t.Fatal(err)
				}
			}
			if tt.getErr != nil {
				var calls atomic.Int32
				c.PrependReactor("get", "leases", failing(-1, tt.getErr, &calls))
			}
			l, err := Load(ctx, c, dir, "77")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Load: %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr != ErrNotFound && errors.Is(err, ErrNotFound) {
					t.Errorf("Load: %v says not found though the API did not answer", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			r := l.Record()
			if !sameItems(r.Items, tt.want) || r.Holder != "gone:1" || r.Cluster != "kind-pvreboot" || !r.Started.Equal(old) {
				t.Errorf("Record() = %+v, want items %v of holder gone:1", r, tt.want)
			}
			if r.Live(time.Now()) {
				t.Error("a loaded dead run is live")
			}
			if !tt.wantLease {
				return
			}
			lease := getLeaseT(t, ctx, c, "77")
			if !lease.Spec.RenewTime.Time.Equal(old) {
				t.Errorf("lease renewTime %s, want the dead run's %s", lease.Spec.RenewTime.Time, old)
			}
			// Finishing the cleanup: remove what was made, then Close
			// deletes the Lease and the local copy.
			if err := l.Remove(ctx, l.Items()...); err != nil {
				t.Fatalf("Remove: %v", err)
			}
			if got := leaseItems(t, ctx, c, "77"); len(got) != 0 {
				t.Errorf("lease items after Remove = %v", got)
			}
			if err := l.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if _, err := Load(ctx, c, dir, "77"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Load after the cleanup: %v, want ErrNotFound", err)
			}
		})
	}
}

func TestHostileInputs(t *testing.T) {
	t.Parallel()
	withDetail := func(i Item, k, v string) Item {
		i = i.clone()
		i.Detail[k] = v
		return i
	}
	good := backing("pvreboot-1a2b-data", "kind-worker")
	tests := []struct {
		name  string
		run   string // Open with this run ID ("" = 1a2b)
		meta  string // Open with this scenario
		item  *Item  // then Add this item
		lease string // or: the Lease annotation says this, then Load
	}{
		{name: "run with shell", run: "1;rm"},
		{name: "run with a path", run: "../1a"},
		{name: "run upper case", run: "1A2B"},
		{name: "run too long", run: "123456789"},
		{name: "scenario with newline", meta: "smoke\nrm -rf /"},
		{name: "item name ../etc", item: &Item{Kind: KindPV, Name: "../etc"}},
		{name: "namespace with a dot", item: &Item{Kind: KindNamespace, Name: "a.b"}},
		{name: "unknown kind", item: &Item{Kind: "file", Name: "etc"}},
		{name: "backing without node", item: &Item{Kind: KindBacking, Name: "pvreboot-1a2b-data"}},
		{name: "reboot without node", item: &Item{Kind: KindReboot, Name: "kind-worker", Detail: map[string]string{DetailMethod: "kind-restart"}}},
		{name: "reboot of another node than its name", item: &Item{Kind: KindReboot, Name: "kind-worker", Node: "kind-worker2", Detail: map[string]string{DetailMethod: "kind-restart"}}},
		{name: "reboot without method", item: &Item{Kind: KindReboot, Name: "kind-worker", Node: "kind-worker"}},
		{name: "node with a space", item: &Item{Kind: KindBacking, Name: "pvreboot-1a2b-data", Node: "kind worker"}},
		{name: "detail with newline", item: new(withDetail(good, DetailUnit, "x.mount\nExecStart=/bin/sh"))},
		{name: "detail with NUL", item: new(withDetail(good, DetailUnit, "x\x00"))},
		{name: "detail key with space", item: new(withDetail(good, "a key", "v"))},
		{name: "path escaping root", item: new(withDetail(good, DetailPath, "/mnt/pvreboot/../../etc"))},
		{name: "image outside root", item: new(withDetail(good, DetailImage, "/etc/shadow"))},
		{name: "relative path", item: new(withDetail(good, DetailPath, "pvreboot-1a2b-data"))},
		{name: "root with dot-dot", item: new(withDetail(good, DetailRoot, "/mnt/../etc"))},
		{name: "tampered lease: path traversal", lease: `[{"kind":"backing","name":"x","node":"n","detail":{"root":"/mnt/pvreboot","path":"/mnt/pvreboot/../../etc"}}]`},
		{name: "tampered lease: control character", lease: `[{"kind":"pv","name":"x","detail":{"unit":"a\u001b[2J"}}]`},
		{name: "tampered lease: name ../etc", lease: `[{"kind":"pv","name":"../etc"}]`},
		{name: "tampered lease: not JSON", lease: `[{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := testContext(t)
			c := fake.NewClientset()
			dir := t.TempDir()
			run := "1a2b"
			if tt.run != "" {
				run = tt.run
			}
			l, err := Open(ctx, Options{Client: c, Run: run, Scenario: tt.meta, Holder: "test:1", StateDir: dir, backoff: fastBackoff()})
			if tt.run != "" || tt.meta != "" {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("Open: %v, want ErrInvalid", err)
				}
				if entries, _ := os.ReadDir(dir); len(entries) != 0 {
					t.Errorf("a refused Open wrote %d files", len(entries))
				}
				if tt.run == "" {
					return
				}
				if _, err := LoadLocal(dir, run); !errors.Is(err, ErrInvalid) {
					t.Errorf("LoadLocal(%q): %v, want ErrInvalid", run, err)
				}
				if _, err := Load(ctx, c, dir, run); !errors.Is(err, ErrInvalid) {
					t.Errorf("Load(%q): %v, want ErrInvalid", run, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if tt.item != nil {
				if err := l.Add(ctx, good, *tt.item); !errors.Is(err, ErrInvalid) {
					t.Fatalf("Add: %v, want ErrInvalid", err)
				}
				// Nothing of a refused Add is recorded, not even its
				// good item.
				wantEverywhere(t, ctx, c, l, dir, []Item{})
				return
			}
			lease := getLeaseT(t, ctx, c, run)
			lease.Annotations[AnnotationLedger] = tt.lease
			if _, err := c.CoordinationV1().Leases(Namespace).Update(ctx, lease, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := Load(ctx, c, "", run); !errors.Is(err, ErrInvalid) {
				t.Errorf("Load of a tampered lease: %v, want ErrInvalid", err)
			}
			if _, err := List(ctx, c); !errors.Is(err, ErrInvalid) {
				t.Errorf("List with a tampered lease: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestTamperedLocalCopy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, content string
	}{
		{name: "path traversal", content: `{"schema":"pvreboot.dev/ledger/v1","run":"1a2b","leaseSeconds":30,"items":[{"kind":"backing","name":"x","node":"n","detail":{"path":"/../etc"}}]}`},
		{name: "another run's", content: `{"schema":"pvreboot.dev/ledger/v1","run":"ff","leaseSeconds":30,"items":[]}`},
		{name: "unknown schema", content: `{"schema":"other/v9","run":"1a2b","leaseSeconds":30,"items":[]}`},
		{name: "not JSON", content: `{`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "1a2b.json"), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadLocal(dir, "1a2b"); !errors.Is(err, ErrInvalid) {
				t.Errorf("LoadLocal: %v, want ErrInvalid", err)
			}
			if _, err := Load(testContext(t), fake.NewClientset(), dir, "1a2b"); !errors.Is(err, ErrInvalid) {
				t.Errorf("Load: %v, want ErrInvalid", err)
			}
		})
	}
}

func TestMaxItems(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := fake.NewClientset()
	l := open(t, ctx, c, "", "1a2b")
	items := make([]Item, MaxItems)
	for n := range items {
		items[n] = backing(fmt.Sprintf("pvreboot-1a2b-v%03d", n), "kind-worker")
	}
	if err := l.Add(ctx, items...); err != nil {
		t.Fatalf("Add %d items: %v", MaxItems, err)
	}
	if got := len(leaseItems(t, ctx, c, "1a2b")); got != MaxItems {
		t.Errorf("lease holds %d items, want %d", got, MaxItems)
	}
	if err := l.Add(ctx, pv("pvreboot-1a2b-one-more")); err == nil {
		t.Errorf("Add of item %d succeeded", MaxItems+1)
	}
}

func TestConcurrentAdd(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	c := fake.NewClientset()
	dir := t.TempDir()
	l := open(t, ctx, c, dir, "1a2b")
	stop := l.Heartbeat(ctx, 5*time.Millisecond)
	defer stop()
	const workers, each = 8, 6
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for n := range each {
				if err := l.Add(ctx, backing(fmt.Sprintf("pvreboot-1a2b-w%d-v%d", w, n), fmt.Sprintf("kind-worker%d", w))); err != nil {
					errs <- err
				}
				_ = l.Items()
				_ = l.Record()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Add: %v", err)
	}
	stop()
	want := l.Items()
	if len(want) != workers*each {
		t.Fatalf("%d items after concurrent Adds, want %d", len(want), workers*each)
	}
	wantEverywhere(t, ctx, c, l, dir, want)
	for _, i := range want {
		wg.Go(func() {
			if err := l.Remove(ctx, i); err != nil {
				t.Errorf("Remove: %v", err)
			}
		})
	}
	wg.Wait()
	wantEverywhere(t, ctx, c, l, dir, []Item{})
}

func TestItemString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		item Item
		want string
	}{
		{name: "namespace", item: ns("pvreboot-1a2b"), want: "namespace pvreboot-1a2b"},
		{name: "backing", item: backing("pvreboot-1a2b-data", "kind-worker"),
			want: "backing pvreboot-1a2b-data (filesystem /mnt/pvreboot/pvreboot-1a2b-data, unit mnt-pvreboot-pvreboot-1a2b-data.mount, image /mnt/pvreboot/pvreboot-1a2b-data.img, root /mnt/pvreboot) on node kind-worker"},
		{name: "other detail sorted", item: Item{Kind: KindHelperNamespace, Name: "pvreboot-1a2b-helper", Node: "kind-worker", Detail: map[string]string{"z": "1", "a": "2"}},
			want: "helper-namespace pvreboot-1a2b-helper (a 2, z 1) on node kind-worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.item.String(); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestTransient(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "500", err: internal(), want: true},
		{name: "503", err: apierrors.NewServiceUnavailable("etcd"), want: true},
		{name: "429", err: apierrors.NewTooManyRequests("slow down", 1), want: true},
		{name: "server timeout", err: apierrors.NewServerTimeout(schemaLeases(), "update", 1), want: true},
		{name: "conflict", err: conflict(), want: true},
		{name: "connection refused", err: fmt.Errorf("get lease: %w", refused), want: true},
		{name: "404", err: apierrors.NewNotFound(schemaLeases(), "run-1a2b")},
		{name: "403", err: apierrors.NewForbidden(schemaLeases(), "run-1a2b", errors.New("rbac"))},
		{name: "invalid", err: apierrors.NewBadRequest("bad")},
		{name: "canceled", err: context.Canceled},
		{name: "deadline", err: fmt.Errorf("update: %w", context.DeadlineExceeded)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := pvwait.Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
