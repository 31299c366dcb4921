// Package ledger owns what a pvreboot run made and how to remove it: a durable
// record of every object and node-side item a run creates, kept in a Lease
// (run-<ID> in namespace pvreboot-runs) whose renewTime is the run's
// heartbeat, and in a local copy under a state directory. Any machine can
// reopen a run's ledger (Load) to finish its cleanup, and the sweep tells live
// runs from dead ones by heartbeat (Record.Live) instead of age. The ledger
// refuses what cannot be a pvreboot item, so a tampered Lease cannot name a
// path outside a backing's root. It must not import ginkgo, gomega, e2e/,
// cmd/, framework/runner or framework/localpv (they import it).
package ledger
