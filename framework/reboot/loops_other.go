//go:build !linux

package reboot

import "errors"

// SpareLoopDevices is Linux only: kind nodes share a Linux host's kernel.
func SpareLoopDevices(int) (int, error) { return 0, errors.ErrUnsupported }
