package app

import (
	"fmt"
	"io"
	"strings"

	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"sigs.k8s.io/yaml"
)

// Output formats of the commands that print one document (-o): text for
// people, json and yaml for programs.
const (
	outputText = "text"
	outputJSON = "json"
	outputYAML = "yaml"
	outputHTML = "html"
)

// checkOutput refuses an -o value that is not one of allowed (exit 2),
// before the command does anything.
func checkOutput(value string, allowed ...string) error {
	if contains(allowed, value) {
		return nil
	}
	return exitcode.Usagef("-o/--output: unknown format %q (want %s)", value, strings.Join(allowed, ", "))
}

// writeDoc writes v as JSON or YAML (sigs.k8s.io/yaml: the JSON field
// names, as kubectl prints objects).
func writeDoc(w io.Writer, format string, v any) error {
	switch format {
	case outputJSON:
		return writeJSON(w, v)
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("write YAML: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("write document: unknown format %q", format)
}
