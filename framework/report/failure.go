package report

import (
	"fmt"
	"strings"
)

// Failure is why a run stopped before its end: the step it failed in (a
// runner step: cluster-setup, prepare, baseline, reboot, after-reboot,
// recreate, after-recreate) and the error, and what was saved to explain it.
// Errors keeps the same error among the run's errors, for older readers.
type Failure struct {
	Step  string `json:"step"`
	Error string `json:"error"`
	// Interrupted is a run stopped by SIGINT or SIGTERM (its context ended)
	// rather than by a failure of its own.
	Interrupted bool `json:"interrupted,omitempty"`
	// Artifacts are the files saved to explain the failure, relative to the
	// output directory (events.txt, node-conditions.json, cluster-logs/).
	Artifacts []string `json:"artifacts,omitempty"`
	// ArtifactErrors say what could not be saved, and why.
	ArtifactErrors []string `json:"artifactErrors,omitempty"`
}

// String is one line: "failed in step prepare: ..." or "interrupted in
// step reboot: ...".
func (f *Failure) String() string {
	how := "failed"
	if f.Interrupted {
		how = "interrupted"
	}
	return fmt.Sprintf("%s in step %s: %s", how, f.Step, f.Error)
}

// isFailure reports whether e, one of a Result's Errors, is its Failure's
// error ("STEP DESCRIPTION: ERROR" as the runner records it).
func isFailure(r *Result, e string) bool {
	return r.Failure != nil && r.Failure.Error != "" && strings.HasSuffix(e, r.Failure.Error)
}
