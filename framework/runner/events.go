package runner

import (
	"encoding/json"
	"io"
	"strings"
	"sync"
	"time"
)

// EventType says what happened.
type EventType string

// Event types. Progress lines are renderings of these; tests and tools key
// on them, never on progress text.
const (
	// StepStarted and StepEnded bracket each step (Step names it).
	StepStarted EventType = "step-started"
	StepEnded   EventType = "step-ended"
	// RebootStarted: the rebooter is called (a kind node stops now).
	RebootStarted EventType = "reboot-started"
	// RebootIssued: the rebooter returned (a kind node runs again; a real
	// node is going down).
	RebootIssued EventType = "reboot-issued"
	// NodeBack: the node is Ready with a heartbeat newer than the reboot.
	NodeBack EventType = "node-back"
	// PodBack: the workload pod is Ready again after the reboot.
	PodBack EventType = "pod-back"
	// NodeLost: the node did not come back; Detail says what is left for
	// `pvreboot cleanup --run`.
	NodeLost EventType = "node-lost"
	// Removed: cleanup removed one thing (Detail names it); Left: it could
	// not, and the run's ledger keeps it.
	Removed EventType = "removed"
	Left    EventType = "left"
)

// Steps of a run, in order.
const (
	StepPrepare       = "prepare"
	StepBaseline      = "baseline"
	StepReboot        = "reboot"
	StepAfterReboot   = "after-reboot"
	StepRecreate      = "recreate"
	StepAfterRecreate = "after-recreate"
	StepCleanup       = "cleanup"
)

// Event is one structured event of a run.
type Event struct {
	Time   time.Time `json:"time"`
	Run    string    `json:"run"`
	Type   EventType `json:"type"`
	Step   string    `json:"step,omitempty"`
	Node   string    `json:"node,omitempty"`
	Detail string    `json:"detail,omitempty"`
	Error  string    `json:"error,omitempty"`
}

// JSONLines returns an event sink that writes each event as one JSON line
// to w (a file the CLI's --events names), safe for concurrent use.
func JSONLines(w io.Writer) func(Event) {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
		if f, ok := w.(interface{ Sync() error }); ok {
			_ = f.Sync()
		}
	}
}

func (r *Run) emit(t EventType, step, detail string, err error) {
	if r.cfg.Events == nil {
		return
	}
	e := Event{Time: time.Now(), Run: r.id, Type: t, Step: step, Node: r.node, Detail: detail}
	if err != nil {
		e.Error = strings.TrimSpace(err.Error())
	}
	r.cfg.Events(e)
}
