// Package wait holds watch-based waiters for Kubernetes objects. Every error
// names the object, the wanted state and the last state seen. It must not
// import ginkgo, gomega, e2e/ or cmd/.
package wait
