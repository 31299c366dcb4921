// Package workload runs the copy workload: a long-running pod on a volume,
// copyprobe exec'd in it through the pods/exec API, the JSON parsed. It must
// not import ginkgo, gomega, e2e/ or cmd/.
package workload
