// Package localpv makes Local PersistentVolumes and their backing on the node:
// a directory, or a filesystem on a loop-mounted image file that the node
// mounts at boot through a systemd mount unit, like a real disk. Everything it
// creates is labelled as owned and removed by Teardown. It must not import
// ginkgo, gomega, e2e/ or cmd/.
package localpv
