package app

import (
	"strings"
	"testing"
)

func TestDoctorBadInputExit2(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "output", args: []string{"doctor", "-o", "yaml"}, want: `--output: unknown format "yaml"`},
		{name: "zero timeout", args: []string{"doctor", "--registry-timeout", "0s"}, want: "--registry-timeout: 0s is not positive"},
		{name: "bad timeout", args: []string{"doctor", "--registry-timeout", "soon"}, want: `invalid argument "soon" for "--registry-timeout"`},
		{name: "empty image", args: []string{"doctor", "--image", ""}, want: "--image: empty"},
		{name: "bad image", args: []string{"doctor", "--image", "Not A Ref"}, want: "--image:"},
		{name: "empty cache", args: []string{"doctor", "--cache-dir", ""}, want: "--cache-dir: empty"},
		{name: "argument", args: []string{"doctor", "extra"}, want: `pvreboot doctor: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2; stderr %q", code, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}
