// Package nodeexec runs commands on nodes of any cluster through a
// privileged hostPID helper pod per node (nsenter into PID 1's namespaces),
// and the helper image's own programs there with streamed input and output
// (HelperExec: the trace agent), for clusters pvreboot cannot reach with
// docker exec or SSH. It must not import ginkgo, gomega, e2e/ or cmd/.
package nodeexec
