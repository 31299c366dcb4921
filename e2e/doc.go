// Package e2e holds pvreboot's Ginkgo suites (build tag e2e): the only place
// where Ginkgo meets the framework. They run on real kind clusters.
package e2e
