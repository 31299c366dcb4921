// Package nodeexec runs commands on nodes of any cluster through a
// privileged hostPID helper pod per node (nsenter into PID 1's namespaces),
// for clusters pvreboot cannot reach with docker exec or SSH. It must not
// import ginkgo, gomega, e2e/ or cmd/.
package nodeexec
