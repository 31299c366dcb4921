package reboot

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestPlanRefusals(t *testing.T) {
	t.Parallel()
	kindWorker := Target{Name: "pvreboot-worker", Ready: true, ProviderID: "kind://docker/pvreboot/pvreboot-worker"}
	kindCP := Target{Name: "pvreboot-control-plane", ControlPlane: true, Ready: true, ProviderID: "kind://docker/pvreboot/pvreboot-control-plane"}
	vm := Target{Name: "vm-1", Ready: true, ProviderID: "gce://p/z/vm-1"}
	vm2 := Target{Name: "vm-2", Ready: true, ProviderID: "gce://p/z/vm-2"}
	cp1 := Target{Name: "cp-1", ControlPlane: true, Ready: true}
	cp2 := Target{Name: "cp-2", ControlPlane: true, Ready: false}
	tests := []struct {
		name string
		plan Plan
		want string // "" = allowed
	}{
		{name: "kind restart of a worker", plan: Plan{Method: "kind-restart", Nodes: []Target{kindWorker}, ControlPlanes: []Target{kindCP}}},
		{name: "sysrq on a kind node", plan: Plan{Method: "ssh", Mode: "sysrq-b", AllowReboot: true, Nodes: []Target{kindWorker}}, want: "shares the host's kernel"},
		{name: "sysrq-c on a kind node", plan: Plan{Method: "ssh", Mode: "sysrq-c", AllowReboot: true, Nodes: []Target{kindWorker}}, want: "would reboot the host itself"},
		{name: "node-pod on a kind node", plan: Plan{Method: "node-pod", AllowReboot: true, Nodes: []Target{kindWorker}}, want: "kind node"},
		{name: "ssh reboot of a kind node is fine", plan: Plan{Method: "ssh", Mode: "reboot", AllowReboot: true, Nodes: []Target{kindWorker}}},
		{name: "real reboot without allow", plan: Plan{Method: "ssh", Mode: "reboot", Nodes: []Target{vm}}, want: "--allow-reboot"},
		{name: "command without allow", plan: Plan{Method: "command", Nodes: []Target{vm}}, want: "--allow-reboot"},
		{name: "real reboot allowed", plan: Plan{Method: "command", AllowReboot: true, Nodes: []Target{vm}}},
		{name: "too many nodes", plan: Plan{Method: "command", AllowReboot: true, Nodes: []Target{vm, vm2}, MaxParallel: 1}, want: "2 nodes at a time"},
		{name: "two allowed", plan: Plan{Method: "command", AllowReboot: true, Nodes: []Target{vm, vm2}, MaxParallel: 2}},
		{name: "control plane not allowed", plan: Plan{Method: "kind-restart", Nodes: []Target{kindCP}, ControlPlanes: []Target{kindCP}}, want: "allowControlPlane"},
		{name: "last ready control plane", plan: Plan{Method: "command", AllowReboot: true, AllowControlPlane: true, Nodes: []Target{cp1}, ControlPlanes: []Target{cp1, cp2}}, want: "last Ready control-plane"},
		{name: "one of two ready control planes", plan: Plan{Method: "command", AllowReboot: true, AllowControlPlane: true, Nodes: []Target{cp1},
			ControlPlanes: []Target{cp1, {Name: "cp-3", ControlPlane: true, Ready: true}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.plan.Check()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if !strings.Contains(tt.plan.String(), "allowed") {
					t.Errorf("plan text: %s", tt.plan.String())
				}
				return
			}
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrRefused with %q", err, tt.want)
			}
			if !strings.Contains(tt.plan.String(), "REFUSED") {
				t.Errorf("dry-run plan does not show the refusal:\n%s", tt.plan.String())
			}
		})
	}
}

func TestPlanStringListsNodesAndPods(t *testing.T) {
	t.Parallel()
	p := Plan{Method: "kind-restart", Nodes: []Target{{Name: "w1", ProviderID: "kind://docker/c/w1"}},
		AffectedPods: map[string][]string{"w1": {"ns/a", "kube-system/kube-proxy-x"}}}
	s := p.String()
	for _, want := range []string{"method kind-restart", "node w1 (worker, kind node sharing the host kernel", "pod ns/a restarts", "pod kube-system/kube-proxy-x restarts", "allowed"} {
		if !strings.Contains(s, want) {
			t.Errorf("plan lacks %q:\n%s", want, s)
		}
	}
}

func TestCommandRender(t *testing.T) {
	t.Parallel()
	n := NodeInfo{Name: "vm-1", Address: "10.0.0.5", ProviderID: "aws:///us-east-1a/i-0abc"}
	tests := []struct {
		argv    []string
		want    string
		wantErr string
	}{
		{argv: []string{"virsh", "reset", "{{.Name}}"}, want: "virsh reset vm-1"},
		{argv: []string{"aws", "ec2", "reboot-instances", "--instance-ids", "{{.ProviderID}}"}, want: "aws ec2 reboot-instances --instance-ids aws:///us-east-1a/i-0abc"},
		{argv: []string{"ssh", "admin@{{.Address}}", "sudo reboot; rm -rf /"}, want: "ssh admin@10.0.0.5 sudo reboot; rm -rf /"},
		{argv: []string{"x", "{{.Nope}}"}, wantErr: "argv[1]"},
		{argv: []string{"x", "{{.Name"}, wantErr: "argv[1]"},
		{argv: []string{"x", "{{if false}}y{{end}}"}, wantErr: "renders empty"},
		{argv: nil, wantErr: "empty argv"},
	}
	for _, tt := range tests {
		got, err := Command{Argv: tt.argv}.Render(n)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Render(%q) = %q, %v; want error %q", tt.argv, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.argv, got, err, tt.want)
		}
		if len(got) != len(tt.argv) {
			t.Errorf("argv length changed: a template value must stay one argument")
		}
	}
}

func TestCommandRebootRunsWithoutShell(t *testing.T) {
	t.Parallel()
	c := Command{Argv: []string{"sh", "-c", `test "$1" = "node-1.example.com"`, "sh", "{{.Name}}"}}
	if _, err := c.Reboot(context.Background(), "node-1.example.com"); err != nil {
		t.Fatalf("the node name did not arrive as one argv value: %v", err)
	}
	// Facts from the API server that could become options or shell text
	// are refused before anything runs.
	for _, n := range []NodeInfo{
		{Name: "node one; echo pwned"},
		{Name: "n", Address: "-oProxyCommand=touch /tmp/pwned"},
		{Name: "n", Address: "10.0.0.1", ProviderID: "aws:///eu-west-1a/i-1 $(reboot)"},
	} {
		if _, err := (Command{Argv: []string{"ssh", "{{.Address}}", "{{.Name}}", "{{.ProviderID}}"}}).Render(n); err == nil {
			t.Errorf("Render accepted %+v", n)
		}
	}
	c = Command{Argv: []string{"false", "{{.Name}}"}}
	_, err := c.Reboot(context.Background(), "n")
	if err == nil || !strings.Contains(err.Error(), `reboot node "n"`) {
		t.Errorf("failing command: %v", err)
	}
}
