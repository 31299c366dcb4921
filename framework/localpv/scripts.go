package localpv

import (
	"embed"
	"maps"
)

// The node-side scripts. Each takes every value as a positional parameter
// and is run as `sh -c SCRIPT NAME ARGS...`: no value ever becomes shell
// text. They are plain files so that `make verify` runs shellcheck on them.
//
//go:embed scripts/*.sh
var scriptFiles embed.FS

// Script names.
const (
	scriptTeardown     = "teardown"
	scriptLoopAttach   = "loop-attach"
	scriptLoopDetach   = "loop-detach"
	scriptListBackings = "list-backings"
	scriptLoopDirectIO = "loop-direct-io"
)

func script(name string) string {
	b, err := scriptFiles.ReadFile("scripts/" + name + ".sh")
	if err != nil {
		// The names are constants of this package and the files are
		// embedded: a missing one is a build mistake the tests catch.
		return "echo 'pvreboot: missing embedded script " + name + "' >&2; exit 70"
	}
	return string(b)
}

// scriptArgv runs an embedded script with its values as positional
// parameters ($1...; $0 is the script's name).
func scriptArgv(name string, args ...string) []string {
	return append([]string{"sh", "-c", script(name), name}, args...)
}

// Scripts returns every node-side script of this package by name (for the
// test that no node command is built from a value).
func Scripts() map[string]string {
	out := map[string]string{}
	for _, n := range []string{scriptTeardown, scriptLoopAttach, scriptLoopDetach, scriptListBackings, scriptLoopDirectIO} {
		out[n] = script(n)
	}
	return maps.Clone(out)
}
