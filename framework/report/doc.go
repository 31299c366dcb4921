// Package report holds the Result of a scenario run (schema
// pvreboot.dev/result/v1, with the step a failed run stopped in), the
// before/after diagnosis, and its renderings: terminal text, Markdown, JUnit
// XML, JSON, HTML with plots and OpenMetrics; and the History of several runs
// that `pvreboot compare` shows. It must not import ginkgo, gomega, e2e/ or cmd/.
package report
