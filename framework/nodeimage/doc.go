// Package nodeimage gets a kind node image: kind's standard image when the
// engine has it or can pull it (Resolve), else one built where no container
// registry is reachable: a Debian root filesystem from debootstrap,
// Kubernetes, etcd, CoreDNS, containerd and crictl built from the Go module
// proxy, control-plane images assembled without pulling and preloaded into
// containerd, and a pod network of our own. It must not import ginkgo,
// gomega, e2e/ or cmd/.
package nodeimage
