//go:build linux

package reboot

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// SpareLoopDevices makes sure this host's kernel has at least n loop
// devices with nothing attached, adding devices through /dev/loop-control.
// A kind node's /dev is a copy of the host's made when its container
// starts: a device the kernel adds later (at the node's boot, when every
// device is busy) has no node there, and the node's loop mounts and
// attachments fail. Made before a node container starts, they are in its
// copy. It returns how many it added.
func SpareLoopDevices(n int) (int, error) {
	paths, err := filepath.Glob("/sys/block/loop*")
	if err != nil {
		return 0, err
	}
	free, last := 0, -1
	for _, p := range paths {
		i, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(p), "loop"))
		if err != nil {
			continue
		}
		last = max(last, i)
		if _, err := os.Stat(filepath.Join(p, "loop", "backing_file")); errors.Is(err, os.ErrNotExist) {
			free++
		}
	}
	if free >= n {
		return 0, nil
	}
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return 0, fmt.Errorf("spare loop devices: %w", err)
	}
	defer ctl.Close()
	added := 0
	for i := last + 1; free < n && i < last+1+4*n; i++ {
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), unix.LOOP_CTL_ADD, uintptr(i)); errno != 0 {
			if errno == unix.EEXIST {
				continue
			}
			return added, fmt.Errorf("spare loop devices: add loop%d: %w", i, errno)
		}
		added++
		free++
	}
	return added, nil
}
