// Package report holds the Result of a scenario run (schema
// pvreboot.dev/result/v1), the before/after diagnosis, and its renderings:
// terminal text, Markdown, JUnit XML and JSON. It must not import ginkgo,
// gomega, e2e/ or cmd/.
package report
