// Package pvreboot holds what the pvreboot binary carries inside itself, so
// that `go install github.com/pvreboot/pvreboot/cmd/pvreboot@latest` gives a
// binary that runs its own scenarios outside a clone: the shipped scenarios,
// the kind configs they name and the RBAC manifest of a run on an existing
// cluster. It lives at the module root because go:embed cannot reach a parent
// directory and these files keep the paths the Makefile, ci/, e2e/ and the
// READMEs use. It imports nothing of pvreboot's; framework/ must not import it
// (the CLI hands the files to the framework as an fs.FS).
package pvreboot

import (
	"embed"
	"io/fs"
)

// Paths of the shipped files inside Files.
const (
	ScenarioDir   = "scenarios"        // NAME.yaml, one per shipped scenario
	KindConfigDir = "kind-config"      // kind v1alpha4 configs, named as scenarios name them
	RBACManifest  = "deploy/rbac.yaml" // the minimal rights of a run on an existing cluster
)

//go:embed scenarios/*.yaml kind-config/*.yaml deploy/rbac.yaml
var shipped embed.FS

// Files returns the shipped files at their paths in the repository
// (scenarios/sendfile-after-reboot.yaml, kind-config/two-workers.yaml,
// deploy/rbac.yaml), read-only.
func Files() fs.FS { return shipped }
