// Package hostcheck checks a host before a pvreboot run (Docker engine,
// capability bounding set, cgroup version, loop devices, free disk, registry,
// node image) and says what a run will do and how to fix what blocks it. It
// reads the host only through what it is given. It must not import ginkgo,
// gomega, e2e/ or cmd/.
package hostcheck
