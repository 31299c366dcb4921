// Package pvenv exposes pvreboot's runner steps as e2e-framework env.Func and
// features.Func, on the cluster the suite's envconf.Config already points at
// (its klient or kubeconfig), which it never replaces. It must not import
// ginkgo, gomega, e2e/ or cmd/.
package pvenv
