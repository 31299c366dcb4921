// Package fault injects, on purpose, the mechanisms behind kubernetes#131186
// that the gate must catch (detection self-tests), one Fault per scenario
// faults[] type: late-mount, io-throttle, mount-options, memory-squeeze and
// readahead. A run calls each fault's hooks (BeforeReboot, AfterPodBack,
// AfterPodGone) and records the Changes a fault leaves on the node, which
// Undo reverts. Node commands are argv; node-side scripts are embedded files
// taking values as positional parameters. It must not import ginkgo, gomega,
// e2e/, cmd/, framework/runner or framework/ledger.
package fault
