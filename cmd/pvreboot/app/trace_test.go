package app

import (
	"strings"
	"testing"
)

func TestTraceBadInputExits2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no pod", args: []string{"trace", "--duration", "1s"}, want: "--pod: required"},
		{name: "pod without namespace", args: []string{"trace", "--pod", "p", "--duration", "1s"}, want: `--pod: "p" is not NAMESPACE/NAME`},
		{name: "bad namespace", args: []string{"trace", "--pod", "A_b/p", "--duration", "1s"}, want: `--pod: "A_b" is not a namespace name`},
		{name: "nothing to trace", args: []string{"trace", "--pod", "ns/p"}, want: "--duration or -- COMMAND: one is required"},
		{name: "both", args: []string{"trace", "--pod", "ns/p", "--duration", "1s", "--", "/bin/true"}, want: "--duration: not with a command"},
		{name: "empty command", args: []string{"trace", "--pod", "ns/p", "--"}, want: "--: no command after it"},
		{name: "relative command", args: []string{"trace", "--pod", "ns/p", "--", "busybox", "cp"}, want: `command: "busybox" must be an absolute path`},
		{name: "argument before dash", args: []string{"trace", "--pod", "ns/p", "/bin/true"}, want: `unexpected argument "/bin/true"`},
		{name: "negative duration", args: []string{"trace", "--pod", "ns/p", "--duration", "-1s"}, want: "--duration: -1s is not in"},
		{name: "unknown syscall", args: []string{"trace", "--pod", "ns/p", "--syscalls", "sendfile,mmap", "--duration", "1s"}, want: `--syscalls: unknown syscall "mmap"`},
		{name: "runs without command", args: []string{"trace", "--pod", "ns/p", "--runs", "3", "--duration", "1s"}, want: "--runs: only with a command"},
		{name: "zero runs", args: []string{"trace", "--pod", "ns/p", "--runs", "0", "--", "/bin/true"}, want: "--runs: 0 is not 1 to 1000"},
		{name: "bad output", args: []string{"trace", "--pod", "ns/p", "-o", "yaml", "--duration", "1s"}, want: `--output: unknown format "yaml"`},
		{name: "bad container", args: []string{"trace", "--pod", "ns/p", "--container", "Bad!", "--duration", "1s"}, want: `--container: "Bad!"`},
		{name: "kubeconfig without probe image", args: []string{"trace", "--pod", "ns/p", "--kubeconfig", "/nonexistent/kc", "--duration", "1s"}, want: "--probe-image: required with --kubeconfig or --context"},
		{name: "context without probe image", args: []string{"trace", "--pod", "ns/p", "--context", "lab", "--duration", "1s"}, want: "--probe-image: required with --kubeconfig or --context"},
		{name: "probe image on kind", args: []string{"trace", "--pod", "ns/p", "--probe-image", "probe:1", "--duration", "1s"}, want: "--probe-image: only with --kubeconfig or --context"},
		{name: "bad cluster name", args: []string{"trace", "--pod", "ns/p", "--name", "Lab_1", "--duration", "1s"}, want: `--name: "Lab_1" is not a kind cluster name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2 (stderr %q)", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}
