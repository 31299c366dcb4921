// Package reboot holds the ways to reboot a node: restarting a kind node
// container cleanly or with SIGKILL (a power cut). It must not import
// ginkgo, gomega, e2e/ or cmd/.
package reboot
