package usage

import (
	"bytes"
	"errors"
	"testing"
)

func TestPrintErrorNamesTheProgramOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want string
	}{
		{err: errors.New("--wait: -1s is negative"), want: "pvreboot: --wait: -1s is negative\n"},
		{err: errors.New("pvreboot run: want 1 argument (SCENARIO.yaml), got 0"), want: "pvreboot run: want 1 argument (SCENARIO.yaml), got 0\n"},
		{err: errors.New("pvreboot: unknown command \"x\""), want: "pvreboot: unknown command \"x\"\n"},
		{err: errors.New("pvreboot-1a2b namespace: stuck"), want: "pvreboot: pvreboot-1a2b namespace: stuck\n"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		PrintError(&b, "pvreboot", tt.err)
		if b.String() != tt.want {
			t.Errorf("PrintError(%q) wrote %q, want %q", tt.err, b.String(), tt.want)
		}
	}
}
