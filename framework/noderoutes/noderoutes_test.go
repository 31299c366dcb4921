package noderoutes

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type fakeRouter struct{ routes map[string]string }

func (f *fakeRouter) Replace(dst *net.IPNet, via net.IP) error {
	f.routes[dst.String()] = via.String()
	return nil
}
func (f *fakeRouter) Delete(dst *net.IPNet) error {
	if _, ok := f.routes[dst.String()]; !ok {
		return fmt.Errorf("no route %s", dst)
	}
	delete(f.routes, dst.String())
	return nil
}

func node(name, cidr, ip string) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.NodeSpec{PodCIDR: cidr},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}}}
}

func TestSync(t *testing.T) {
	t.Parallel()
	conf := filepath.Join(t.TempDir(), "net.d", "10-pvreboot.conflist")
	r := &fakeRouter{routes: map[string]string{}}
	d := New(Config{NodeName: "w1", CNIConfPath: conf}, fake.NewClientset(), r, nil)
	nodes := map[string]*corev1.Node{
		"cp": node("cp", "10.244.0.0/24", "172.30.0.2"),
		"w1": node("w1", "10.244.1.0/24", "172.30.0.3"),
		"w2": node("w2", "10.244.2.0/24", "172.30.0.4"),
		"w3": node("w3", "", "172.30.0.5"), // no CIDR yet
	}
	if err := d.Sync(nodes); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"10.244.0.0/24": "172.30.0.2", "10.244.2.0/24": "172.30.0.4"}
	if fmt.Sprint(r.routes) != fmt.Sprint(want) {
		t.Errorf("routes = %v, want %v", r.routes, want)
	}
	b, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Plugins []struct {
			Type string
			IPAM struct{ Ranges [][]map[string]string }
		}
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Plugins[0].Type != "ptp" || c.Plugins[0].IPAM.Ranges[0][0]["subnet"] != "10.244.1.0/24" {
		t.Errorf("conflist = %s (%v)", b, err)
	}
	// w2 goes away, cp changes address.
	delete(nodes, "w2")
	nodes["cp"] = node("cp", "10.244.0.0/24", "172.30.0.9")
	if err := d.Sync(nodes); err != nil {
		t.Fatal(err)
	}
	want = map[string]string{"10.244.0.0/24": "172.30.0.9"}
	if fmt.Sprint(r.routes) != fmt.Sprint(want) {
		t.Errorf("after change routes = %v, want %v", r.routes, want)
	}
}

func TestInternalIPSkipsIPv6(t *testing.T) {
	t.Parallel()
	n := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "fc00::3"}, {Type: corev1.NodeInternalIP, Address: "172.30.0.3"}}}}
	if got := InternalIP(n); got != "172.30.0.3" {
		t.Errorf("InternalIP = %q", got)
	}
}
