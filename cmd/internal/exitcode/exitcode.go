// Package exitcode defines the exit codes of every pvreboot command and maps
// errors to them.
package exitcode

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Exit codes shared by pvreboot and copyprobe. A command stopped by a signal
// exits with Signal's code instead, whatever it returned.
const (
	OK        = 0 // pass
	Violation = 1 // a budget was violated or a regression detected
	Usage     = 2 // invalid input or usage
	Infra     = 3 // environment or infrastructure failure
)

// Signal returns the exit code of a command stopped by sig: 128 plus the
// signal's number, as a shell reports a process the signal killed (SIGINT
// 130, SIGTERM 143). A signal that is not a syscall.Signal counts as an
// interrupt.
func Signal(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// Error carries an exit code with its cause.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// UsageError marks err as bad input (exit 2).
func UsageError(err error) error { return &Error{Code: Usage, Err: err} }

// Usagef formats a bad-input error (exit 2).
func Usagef(format string, a ...any) error { return UsageError(fmt.Errorf(format, a...)) }

// ViolationError marks err as a failed verdict (exit 1).
func ViolationError(err error) error { return &Error{Code: Violation, Err: err} }

// Of returns the exit code for err: nil is OK, an *Error its code, anything
// else (an interrupt included) an infrastructure failure.
func Of(err error) int {
	if err == nil {
		return OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Infra
}
