// Package envfuncs exposes pvreboot's runner steps as e2e-framework env.Func
// and features.Func, so that an existing e2e-framework suite can add "local
// PVs", "reboot node" and "measure" steps. It must not import ginkgo, gomega,
// e2e/ or cmd/.
package envfuncs
