package exitcode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"
)

func TestOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "nil", err: nil, want: OK},
		{name: "usage", err: Usagef("--x: bad"), want: Usage},
		{name: "wrapped usage", err: fmt.Errorf("run: %w", Usagef("--x: bad")), want: Usage},
		{name: "violation", err: ViolationError(errors.New("slow")), want: Violation},
		{name: "plain", err: errors.New("docker: not running"), want: Infra},
		{name: "interrupted", err: context.Canceled, want: Infra},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Of(tt.err); got != tt.want {
				t.Errorf("Of(%v) = %d, want %d", tt.err, got, tt.want)
			}
		})
	}
}

func TestSignal(t *testing.T) {
	t.Parallel()
	for sig, want := range map[os.Signal]int{os.Interrupt: 130, syscall.SIGINT: 130, syscall.SIGTERM: 143, syscall.SIGHUP: 129} {
		if got := Signal(sig); got != want {
			t.Errorf("Signal(%v) = %d, want %d", sig, got, want)
		}
	}
}
