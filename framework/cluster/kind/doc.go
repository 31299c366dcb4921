// Package kind provides kind clusters through kind's Go API
// (sigs.k8s.io/kind/pkg/cluster), not the kind binary, each with its own host
// directories for the nodes' Local PV root. It must not import ginkgo,
// gomega, e2e/ or cmd/.
package kind
