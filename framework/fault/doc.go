// Package fault injects, on purpose, the mechanisms behind kubernetes#131186
// that the gate must catch (detection self-tests): an io limit on the
// restarted container's cgroup. It runs node-side scripts with their values
// as positional parameters and must not import ginkgo, gomega, e2e/ or cmd/.
package fault
