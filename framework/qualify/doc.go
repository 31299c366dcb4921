// Package qualify runs a qualification plan: its cases on a pool of nodes,
// several at once with at most maxUnavailable nodes down, each rebooted for
// its cycles, resumable from its output directory. It schedules and
// records; running one case is the caller's (runner.CaseRunner).
// It must not import runner, cmd/ or e2e/.
package qualify
