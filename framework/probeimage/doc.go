// Package probeimage assembles the copyprobe workload image with
// go-containerregistry, without a Docker build: one layer per platform with a
// static /copyprobe and a static BusyBox, gathered into an image index. It
// finds those binaries (given, this executable, built from the module source
// or Debian's busybox-static), writes Docker archives and pushes indexes.
// It must not import ginkgo, gomega, e2e/, cmd/ or the cluster packages.
package probeimage
