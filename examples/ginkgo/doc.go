// Package ginkgo shows pvreboot's runner steps inside a user's own Ginkgo
// suite (see suite_test.go, build tag e2e). It holds no code of its own.
package ginkgo
