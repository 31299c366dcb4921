// Package probeflags binds the probe's flags to a cobra command, shared by
// `copyprobe run` and `pvreboot probe` so that both accept the same flags.
package probeflags

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pvreboot/pvreboot/framework/probe"
	"github.com/spf13/pflag"
)

// Flags holds the raw flag values until Options parses them.
type Flags struct {
	Dir        string
	Device     string
	Method     string
	FileSize   string
	ChunkSize  string
	Iterations int
	Cache      string
	ExecCmd    string
	Keep       bool
}

// Bind registers the probe flags on fs.
func (f *Flags) Bind(fs *pflag.FlagSet) {
	fs.StringVar(&f.Dir, "dir", "", "directory to copy in (this or --device is required)")
	fs.StringVar(&f.Device, "device", "", "block device to copy between two regions of, raw, instead of files in --dir; its first 2 x --file-size (1Mi-aligned) bytes are overwritten")
	fs.StringVar(&f.Method, "method", string(probe.MethodSendfile), "copy method: sendfile, copy_file_range, readwrite or exec")
	fs.StringVar(&f.FileSize, "file-size", probe.FormatSize(probe.DefaultFileBytes), "size of the source file (e.g. 256Mi, 1Gi)")
	fs.StringVar(&f.ChunkSize, "chunk-size", probe.FormatSize(probe.DefaultChunkBytes), "bytes per call (BusyBox cp uses 16Mi)")
	fs.IntVar(&f.Iterations, "iterations", probe.DefaultIterations, "number of copies")
	fs.StringVar(&f.Cache, "cache", string(probe.CacheCold), "cold: evict source and destination pages before each copy; warm: keep them")
	fs.StringVar(&f.ExecCmd, "exec-cmd", "", "copy command for --method exec, split on spaces, with {src} and {dst} (e.g. 'busybox cp {src} {dst}')")
	fs.BoolVar(&f.Keep, "keep", false, "keep the source and copies")
}

// Options turns the flags into probe options. Every error names its flag.
func (f *Flags) Options() (probe.Options, error) {
	var o probe.Options
	if f.Dir == "" && f.Device == "" {
		return o, fmt.Errorf("--dir: required (or --device for a block device)")
	}
	o.Dir, o.Device = f.Dir, f.Device
	m, err := probe.ParseMethod(f.Method)
	if err != nil {
		return o, fmt.Errorf("--method: %w", err)
	}
	o.Method = m
	if o.FileBytes, err = probe.ParseSize(f.FileSize); err != nil {
		return o, fmt.Errorf("--file-size: %w", err)
	}
	if o.ChunkBytes, err = probe.ParseSize(f.ChunkSize); err != nil {
		return o, fmt.Errorf("--chunk-size: %w", err)
	}
	if f.Iterations <= 0 {
		return o, fmt.Errorf("--iterations: %d is not a positive count", f.Iterations)
	}
	o.Iterations = f.Iterations
	c, err := probe.ParseCacheMode(f.Cache)
	if err != nil {
		return o, fmt.Errorf("--cache: %w", err)
	}
	o.Cache = c
	if f.ExecCmd != "" {
		o.ExecCommand = strings.Fields(f.ExecCmd)
	}
	o.Keep = f.Keep
	if err := o.Validate(); err != nil {
		// Validate names fields the way the flags are named; make them flags.
		lines := strings.Split(err.Error(), "\n")
		for i, l := range lines {
			lines[i] = "--" + l
		}
		return o, errors.New(strings.Join(lines, "\n"))
	}
	return o, nil
}
