package workload

import (
	_ "embed"
	"strconv"
)

// Busybox is the static BusyBox of the probe image; the canary scripts call
// its applets through it.
const Busybox = "/bin/busybox"

var (
	//go:embed scripts/canary-write.sh
	canaryWriteScript string
	//go:embed scripts/canary-check.sh
	canaryCheckScript string
)

// Canary is the data written before the reboot and checked after it: a file
// on a filesystem volume, or one block at the end of a block volume.
type Canary struct {
	// Target is the file, or the device of a block volume.
	Target string
	// Block: Target is a device and the canary is block number BlockNum of
	// Bytes bytes.
	Block    bool
	Bytes    int64
	BlockNum int64
}

func (c Canary) args() []string {
	kind := "file"
	if c.Block {
		kind = "block"
	}
	return []string{Busybox, kind, c.Target, strconv.FormatInt(c.Bytes, 10), strconv.FormatInt(c.BlockNum, 10)}
}

// WriteArgv is the argv that writes the canary in the workload container and
// prints its sha256; every value is a positional parameter of the script.
func (c Canary) WriteArgv() []string {
	return append([]string{Busybox, "sh", "-c", canaryWriteScript, "canary-write"}, c.args()...)
}

// CheckArgv is the argv that prints the canary's sha256, or "missing".
func (c Canary) CheckArgv() []string {
	return append([]string{Busybox, "sh", "-c", canaryCheckScript, "canary-check"}, c.args()...)
}

// CanaryScripts returns the canary scripts (for the test that no command is
// built from a value).
func CanaryScripts() []string { return []string{canaryWriteScript, canaryCheckScript} }
