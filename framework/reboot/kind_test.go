package reboot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDocker writes a docker stand-in that logs its argv to log, answers
// `inspect` with the node's networks (nets) and refuses `network connect
// --ip` when refuseIP.
func fakeDocker(t *testing.T, nets string, refuseIP bool) (argv []string, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	refuse := ""
	if refuseIP {
		refuse = `case "$*" in "network connect --ip"*) echo "user specified IP address is supported only when connecting to networks with user configured subnets" >&2; exit 1;; esac`
	}
	script := "#!/bin/sh\necho \"$*\" >> " + log + "\n" + refuse + "\n" +
		"case \"$1 $3\" in \"inspect {{json .NetworkSettings.Networks}}\") cat " + filepath.Join(dir, "nets") + ";; esac\n"
	if err := os.WriteFile(filepath.Join(dir, "nets"), []byte(nets), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "docker")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{bin}, log
}

func TestPinAddresses(t *testing.T) {
	t.Parallel()
	const unpinned = `{"kind":{"IPAMConfig":null,"Aliases":["7b189c994183","lab-worker"],"IPAddress":"172.30.0.7","GlobalIPv6Address":"fc00::7"}}`
	const pinned = `{"kind":{"IPAMConfig":{"IPv4Address":"172.30.0.7"},"Aliases":["lab-worker"],"IPAddress":"172.30.0.7"}}`
	tests := []struct {
		name     string
		nets     string
		refuseIP bool
		want     []string
	}{
		{name: "unpinned: reconnected with its addresses and aliases", nets: unpinned, want: []string{
			"network disconnect kind lab-worker",
			"network connect --ip 172.30.0.7 --ip6 fc00::7 --alias lab-worker kind lab-worker"}},
		{name: "already pinned: nothing to do", nets: pinned},
		{name: "pin refused: connected again as it was", nets: unpinned, refuseIP: true, want: []string{
			"network disconnect kind lab-worker",
			"network connect --ip 172.30.0.7 --ip6 fc00::7 --alias lab-worker kind lab-worker",
			"network connect --alias lab-worker kind lab-worker"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			docker, log := fakeDocker(t, tt.nets, tt.refuseIP)
			k := KindContainer{Docker: docker}
			ctx := context.Background()
			nets, err := k.endpoints(ctx, "lab-worker")
			if err != nil {
				t.Fatal(err)
			}
			if err := k.pinAddresses(ctx, "lab-worker", nets); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(log)
			got := strings.Split(strings.TrimSpace(string(b)), "\n")[1:] // after the inspect
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
