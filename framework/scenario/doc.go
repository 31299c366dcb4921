// Package scenario is pvreboot's versioned declarative API
// (apiVersion pvreboot.dev/v1alpha1, kind Scenario): strict loading, defaults,
// and Validate returning every problem with its field path. It must not
// import ginkgo, gomega, e2e/ or cmd/.
package scenario
