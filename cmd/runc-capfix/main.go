// Command runc-capfix is an OCI runtime for dockerd on hosts whose capability
// bounding set is reduced (some VMs and CI runners lack CAP_SYS_RESOURCE):
// it drops from the container spec the capabilities the host cannot grant,
// then execs the real runc. Without it `docker run --privileged`, and so kind,
// fails with "unable to apply caps: operation not permitted".
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/pvreboot/pvreboot/framework/capfix"
)

func main() {
	real := os.Getenv("PVREBOOT_REAL_RUNC")
	if real == "" {
		for _, p := range []string{"/usr/sbin/runc", "/usr/bin/runc", "/usr/local/sbin/runc", "/usr/local/bin/runc"} {
			if _, err := os.Stat(p); err == nil {
				real = p
				break
			}
		}
	}
	if real == "" {
		fmt.Fprintln(os.Stderr, "runc-capfix: no runc found (set PVREBOOT_REAL_RUNC)")
		os.Exit(127)
	}
	drop, err := capfix.HostMissing()
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
		os.Exit(1)
	}
	cwd, _ := os.Getwd()
	configs, processes := capfix.SpecFiles(os.Args[1:], cwd)
	for _, c := range configs {
		if _, err := capfix.FilterConfig(c, drop); err != nil && !errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
			os.Exit(1)
		}
	}
	for _, p := range processes {
		if _, err := capfix.FilterProcessFile(p, drop); err != nil {
			fmt.Fprintf(os.Stderr, "runc-capfix: %v\n", err)
			os.Exit(1)
		}
	}
	argv := append([]string{real}, os.Args[1:]...)
	if err := syscall.Exec(real, argv, os.Environ()); err != nil {
		fmt.Fprintf(os.Stderr, "runc-capfix: exec %s: %v\n", real, err)
		os.Exit(127)
	}
}
