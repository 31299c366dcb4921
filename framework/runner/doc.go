// Package runner runs one scenario end to end: baseline, reboot, after-reboot
// (same pod), recreate, after-recreate, verdict. It declares the small
// interfaces it consumes. It must not import ginkgo, gomega, e2e/ or cmd/.
package runner
