package app

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/pvreboot/pvreboot"
	"github.com/pvreboot/pvreboot/cmd/internal/exitcode"
	"github.com/pvreboot/pvreboot/framework/scenario"
)

// loadScenario loads the scenario a person names on the command line: a
// file when one exists at that path (a file path always wins), else the
// shipped scenario of that name, with or without .yaml
// ("sendfile-after-reboot"), built into the binary. A name that is neither
// is invalid input (exit 2) listing the shipped names.
func loadScenario(arg string) (*scenario.Scenario, error) {
	// Lstat: a dangling symlink is still the person's file, never a shipped
	// scenario of the same name.
	if _, err := os.Lstat(arg); !errors.Is(err, fs.ErrNotExist) {
		return scenario.Load(arg)
	}
	b, name, ok := shippedScenario(arg)
	if !ok {
		return nil, exitcode.Usagef("scenario %q: no such file, and no shipped scenario of that name (shipped: %s)", arg, strings.Join(shippedScenarios(), ", "))
	}
	s, err := scenario.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("shipped scenario %s: %w", name, err)
	}
	return s, nil
}

// shippedScenario returns the YAML of the shipped scenario name (with or
// without .yaml; a path is no name) and its name without .yaml.
func shippedScenario(name string) (b []byte, base string, ok bool) {
	base = strings.TrimSuffix(name, ".yaml")
	if base == "" || strings.ContainsAny(base, `/\`) || !fs.ValidPath(base) {
		return nil, base, false
	}
	b, err := fs.ReadFile(pvreboot.Files(), path.Join(pvreboot.ScenarioDir, base+".yaml"))
	return b, base, err == nil
}

// shippedScenarios returns the names of the shipped scenarios, sorted.
func shippedScenarios() []string { return shippedOfKind(scenario.Kind) }

// shippedPlans returns the names of the shipped qualification plans, sorted.
func shippedPlans() []string { return shippedOfKind(scenario.KindQualification) }

// shippedOfKind returns the names of the shipped documents of a kind
// (scenarios/ holds scenarios and qualification plans), sorted.
func shippedOfKind(kind string) []string {
	entries, _ := fs.ReadDir(pvreboot.Files(), pvreboot.ScenarioDir) // embedded: cannot fail
	var names []string
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".yaml")
		if !ok || e.IsDir() {
			continue
		}
		if b, _, _ := shippedScenario(n); scenario.KindOf(b) == kind {
			names = append(names, n)
		}
	}
	return names
}

// shippedKindConfigs returns the names of the shipped kind configs as a
// scenario names them (kind-config/two-workers.yaml), sorted.
func shippedKindConfigs() []string {
	entries, _ := fs.ReadDir(pvreboot.Files(), pvreboot.KindConfigDir) // embedded: cannot fail
	var names []string
	for _, e := range entries {
		if !e.IsDir() {
			names = append(names, path.Join(pvreboot.KindConfigDir, e.Name()))
		}
	}
	return names
}
