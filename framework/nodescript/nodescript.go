// Package nodescript runs a package's embedded node-side scripts
// (scripts/NAME.sh) the one way pvreboot allows: `sh -c SCRIPT NAME ARGS...`,
// every value a positional parameter ($1...; $0 is the script's name) and
// never part of the script text. The scripts are plain files so that
// `make verify` runs shellcheck on them.
package nodescript

import (
	"io/fs"
)

// Set is one package's embedded scripts.
type Set struct {
	files fs.FS
}

// New returns the scripts under scripts/ in files (an embed.FS of
// scripts/*.sh).
func New(files fs.FS) Set { return Set{files: files} }

// Text is the script NAME. The names are constants of the calling package
// and the files are embedded: a missing one is a build mistake its tests
// catch, and running it fails loudly (exit 70).
func (s Set) Text(name string) string {
	b, err := fs.ReadFile(s.files, "scripts/"+name+".sh")
	if err != nil {
		return "echo 'pvreboot: missing embedded script " + name + "' >&2; exit 70"
	}
	return string(b)
}

// Argv runs the script NAME with args as its positional parameters.
func (s Set) Argv(name string, args ...string) []string {
	return append([]string{"sh", "-c", s.Text(name), name}, args...)
}
