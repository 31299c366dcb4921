package reboot

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDocker writes a docker stand-in that logs its argv to log, answers
// `inspect` of the networks with nets and of the state with state
// ("true kindcluster"; none: no such container), lists the cluster's
// nodes on networks kind and bridge2, and refuses `network connect --ip` when refuseIP.
func fakeDocker(t *testing.T, nets, state string, refuseIP bool) (argv []string, log string) {
	t.Helper()
	dir := t.TempDir()
	log = filepath.Join(dir, "log")
	refuse := ""
	if refuseIP {
		refuse = `case "$*" in "network connect --ip"*) echo "user specified IP address is supported only when connecting to networks with user configured subnets" >&2; exit 1;; esac`
	}
	// The script works in its own directory: test names make odd paths.
	script := "#!/bin/sh\ncd \"$(dirname \"$0\")\" || exit 1\necho \"$*\" >> log\n" + refuse + "\n" +
		"case \"$1 $3\" in \"inspect {{json .NetworkSettings.Networks}}\") cat nets;;\n" +
		"\"inspect {{.State.Running}}\"*) [ -s state ] || { echo 'Error: No such container: lab-worker' >&2; exit 1; }; cat state;;\n" +
		"\"ps --filter\") echo kind; echo kind,bridge2;; esac\n"
	for name, content := range map[string]string{"nets": nets, "state": state} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "docker")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{bin}, log
}

// dockerCalls are the calls the fake docker logged, without the first skip.
func dockerCalls(t *testing.T, log string, skip int) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(b) == 0 || len(lines) < skip {
		return nil
	}
	return lines[skip:]
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
			docker, log := fakeDocker(t, tt.nets, "", tt.refuseIP)
			k := KindContainer{Docker: docker}
			ctx := context.Background()
			nets, err := k.endpoints(ctx, "lab-worker")
			if err != nil {
				t.Fatal(err)
			}
			if err := k.pinAddresses(ctx, "lab-worker", pins(nets), nets); err != nil {
				t.Fatal(err)
			}
			got := dockerCalls(t, log, 1) // after the inspect
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// A run killed during a kind node's restart leaves its container stopped,
// perhaps off its network: Recover, given the journal kept before the
// stop, connects it with its own addresses and starts it; a running node
// and a container of another cluster are left alone.
func TestRecover(t *testing.T) {
	t.Parallel()
	const running = `{"kind":{"IPAMConfig":null,"Aliases":["7b189c994183","lab-worker"],"IPAddress":"172.30.0.7","GlobalIPv6Address":"fc00::7"}}`
	docker, _ := fakeDocker(t, running, "", false)
	journal, err := KindContainer{Docker: docker}.Journal(context.Background(), "lab-worker")
	if err != nil {
		t.Fatal(err)
	}
	if want := `[{"network":"kind","ip":"172.30.0.7","ip6":"fc00::7","aliases":["lab-worker"]}]`; journal[JournalNetworks] != want {
		t.Fatalf("journal %s = %s, want %s", JournalNetworks, journal[JournalNetworks], want)
	}
	const stopped = `{"kind":{"IPAMConfig":null,"Aliases":["lab-worker"],"IPAddress":""}}`
	const pinned = `{"kind":{"IPAMConfig":{"IPv4Address":"172.30.0.7"},"Aliases":["lab-worker"],"IPAddress":""}}`
	tests := []struct {
		name, nets, state, cluster string
		dry                        bool
		journal                    map[string]string
		want                       []string
		said, err                  string
	}{
		{name: "stopped before the pin: pinned, then started", nets: stopped, state: "false lab", cluster: "lab", journal: journal,
			said: "started its stopped container again", want: []string{
				"network disconnect kind lab-worker",
				"network connect --ip 172.30.0.7 --ip6 fc00::7 --alias lab-worker kind lab-worker",
				"start lab-worker"}},
		{name: "killed between disconnect and connect: connected, then started", nets: `{}`, state: "false lab", journal: journal,
			said: "started its stopped container again", want: []string{
				"network connect --ip 172.30.0.7 --ip6 fc00::7 --alias lab-worker kind lab-worker",
				"start lab-worker"}},
		{name: "stopped after the pin: started", nets: pinned, state: "false lab", journal: journal,
			said: "started its stopped container again", want: []string{"start lab-worker"}},
		{name: "dry: only looks", nets: stopped, state: "false lab", dry: true, journal: journal, said: "would start its stopped container"},
		{name: "running: left alone", nets: running, state: "true lab", journal: journal},
		{name: "another cluster's node: refused", nets: stopped, state: "false prod", cluster: "lab", journal: journal,
			err: `container lab-worker is a node of kind cluster "prod", not "lab"`},
		{name: "not a kind node: refused", nets: stopped, state: "false ", journal: journal, err: "is not a kind node"},
		{name: "a network of none of the cluster's nodes: refused", nets: stopped, state: "false lab", journal: map[string]string{
			JournalNetworks: `[{"network":"host-admin","ip":"10.0.0.9"}]`},
			err: `network "host-admin" is none of kind cluster lab's`},
		{name: "a network of another node of the cluster: connected", nets: `{}`, state: "false lab", journal: map[string]string{
			JournalNetworks: `[{"network":"bridge2","ip":"10.0.0.9"}]`},
			said: "started its stopped container again", want: []string{"network connect --ip 10.0.0.9 bridge2 lab-worker", "start lab-worker"}},
		{name: "no such container (its cluster went): nothing to do", nets: stopped, state: "", journal: journal},
		{name: "a journal that is not pvreboot's: refused before docker runs", nets: stopped, state: "false lab", journal: map[string]string{
			JournalNetworks: `[{"network":"--driver=x","ip":"172.30.0.7; reboot","aliases":["-x"]}]`},
			err: `network "--driver=x": not a Docker network name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			docker, log := fakeDocker(t, tt.nets, tt.state, false)
			said, err := KindContainer{Docker: docker, Cluster: tt.cluster}.Recover(context.Background(), "lab-worker", tt.journal, tt.dry)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to say %q", err, tt.err)
				}
				if strings.Contains(tt.name, "before docker runs") && len(dockerCalls(t, log, 0)) > 0 {
					t.Errorf("docker ran: %q", dockerCalls(t, log, 0))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if said != tt.said {
				t.Errorf("said %q, want %q", said, tt.said)
			}
			var got []string
			for _, c := range dockerCalls(t, log, 0) {
				if !strings.HasPrefix(c, "inspect ") && !strings.HasPrefix(c, "ps ") {
					got = append(got, c)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("docker calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}
