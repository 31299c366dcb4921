package runner

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/fault"
	"github.com/pvreboot/pvreboot/framework/localpv"
	"github.com/pvreboot/pvreboot/framework/reboot"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

// argvRecorder records node commands and answers the sweep's listings.
type argvRecorder struct {
	mu   sync.Mutex
	cmds [][]string
}

func (r *argvRecorder) NodeExec(_ context.Context, _ string, _ io.Reader, argv ...string) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, slices.Clone(argv))
	if len(argv) > 3 && argv[3] == "list-backings" {
		return []byte("pvreboot-dead0001-data\npvreboot-dead0001-data.img\npvreboot-1-$(reboot)\n"), nil
	}
	return nil, nil
}

// No node-side command anywhere in the framework is shell text built from a
// value: every `sh -c` runs one of the embedded scripts, with the values
// after it as positional parameters. Covers the node layer (create,
// teardown, sweep), the io-throttle fault and the node-pod rebooter.
func TestNoNodeCommandInterpolatesValues(t *testing.T) {
	t.Parallel()
	known := map[string]bool{fault.IOThrottleScript(): true, reboot.NodeRebootScript(): true}
	for _, s := range localpv.Scripts() {
		known[s] = true
	}
	rec := &argvRecorder{}
	ctx := context.Background()
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{localpv.LabelOwned: "true"},
		CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour))}})
	prov := localpv.New(client, rec, nil)
	for _, backing := range []string{localpv.Directory, localpv.Filesystem, localpv.Block} {
		v, err := prov.Create(ctx, localpv.Spec{Run: "1a2b", Name: "v-" + backing, Node: "n1", Backing: backing, FSType: "ext4",
			SizeBytes: 1 << 30, StorageClass: "sc", Namespace: "pvreboot-1a2b", Root: nodeRoot, MountOptions: []string{"noatime"}})
		if err != nil {
			t.Fatal(err)
		}
		if err := prov.Teardown(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fault.IOThrottle(ctx, rec, "n1", "containerd://0123456789abcdef0123", "7:0", 20<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := (reboot.NodePod{Exec: rec}).Reboot(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	swept, err := Sweep(ctx, SweepOptions{Client: client, Nodes: rec, NodeNames: []string{"n1"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(swept) == 0 {
		t.Error("the sweep found nothing to remove")
	}
	shells := 0
	for _, argv := range rec.cmds {
		for i, a := range argv {
			if (a == "-c" || a == "-ec") && i == 1 {
				shells++
				if !known[argv[2]] {
					t.Errorf("sh runs text that is not an embedded script: %q", argv[:3])
				}
			}
		}
		if slices.Contains(argv[1:], "sh") {
			t.Errorf("a shell in the middle of %q", argv)
		}
	}
	if shells < 6 {
		t.Errorf("only %d scripts ran; the test covers less than it says", shells)
	}
	// The hostile name the node "listed" was refused by the node layer,
	// never handed to a script.
	for _, argv := range rec.cmds {
		for _, a := range argv {
			if a == nodeRoot+"/pvreboot-1-$(reboot)" {
				t.Errorf("the sweep handed a hostile listed name to a node command: %q", argv)
			}
		}
	}
}
