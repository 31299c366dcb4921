package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/pvreboot/pvreboot/framework/reboot"
	"github.com/pvreboot/pvreboot/framework/scenario"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// countingRebooter counts the reboots asked of it.
type countingRebooter struct{ n int }

func (c *countingRebooter) Method() string { return "counting" }
func (c *countingRebooter) Reboot(context.Context, string) (reboot.Event, error) {
	c.n++
	return reboot.Event{}, nil
}

// A run made never to reboot (calibrate) skips the reboot plan's check, so
// it must refuse to reboot however it is driven.
func TestNoRebootRunNeverReboots(t *testing.T) {
	t.Parallel()
	s := &scenario.Scenario{Metadata: scenario.Metadata{Name: "cal"}}
	s.Spec.Cluster.Nodes.Names = []string{"n1"}
	rb := &countingRebooter{}
	r, err := New(Config{Scenario: s, Client: fake.NewClientset(), RESTConfig: &rest.Config{}, Nodes: &argvRecorder{},
		Rebooter: rb, ProbeImage: "probe:1", NoReboot: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reboot(context.Background()); !errors.Is(err, ErrNoReboot) {
		t.Errorf("Reboot of a NoReboot run: %v, want ErrNoReboot", err)
	}
	if rb.n != 0 {
		t.Errorf("the rebooter was called %d times", rb.n)
	}
}
