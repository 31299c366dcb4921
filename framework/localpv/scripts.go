package localpv

import (
	"embed"
	"maps"

	"github.com/pvreboot/pvreboot/framework/nodescript"
)

// The node-side scripts. Each takes every value as a positional parameter
// and is run as `sh -c SCRIPT NAME ARGS...`: no value ever becomes shell
// text. They are plain files so that `make verify` runs shellcheck on them.
//
//go:embed scripts/*.sh
var scriptFiles embed.FS

var scripts = nodescript.New(scriptFiles)

// Script names.
const (
	scriptTeardown     = "teardown"
	scriptLoopAttach   = "loop-attach"
	scriptLoopDetach   = "loop-detach"
	scriptListBackings = "list-backings"
	scriptLoopDirectIO = "loop-direct-io"
	scriptLoopNodes    = "loop-nodes"
)

func script(name string) string { return scripts.Text(name) }

// scriptArgv runs an embedded script with its values as positional
// parameters ($1...; $0 is the script's name).
func scriptArgv(name string, args ...string) []string { return scripts.Argv(name, args...) }

// Scripts returns every node-side script of this package by name (for the
// test that no node command is built from a value).
func Scripts() map[string]string {
	out := map[string]string{}
	for _, n := range []string{scriptTeardown, scriptLoopAttach, scriptLoopDetach, scriptListBackings, scriptLoopDirectIO, scriptLoopNodes} {
		out[n] = script(n)
	}
	return maps.Clone(out)
}
