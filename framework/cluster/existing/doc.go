// Package existing reaches a cluster pvreboot did not create, from a
// kubeconfig path and context (kubectl conventions). It never creates or
// deletes the cluster. It must not import ginkgo, gomega, e2e/ or cmd/.
package existing
