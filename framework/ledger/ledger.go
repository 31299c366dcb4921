package ledger

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// DefaultLeaseDuration is how long a run counts as live after its last
// heartbeat when Options.LeaseDuration is zero.
const DefaultLeaseDuration = 30 * time.Second

// writeTimeout bounds one Open, Add, Remove, Close, List or Load, retries
// included, even when the caller's context has no deadline: the retries of
// defaultBackoff take about 3s, so this leaves room for several API calls.
const writeTimeout = 30 * time.Second

var (
	// ErrNotFound: a run has neither a Lease nor a local copy.
	ErrNotFound = errors.New("no ledger for run")
	// ErrExists: Open found a ledger for the run ID already.
	ErrExists = errors.New("run already has a ledger")
	// ErrClosed: the Ledger was closed.
	ErrClosed = errors.New("ledger closed")
)

// Options say which run a ledger records and where.
type Options struct {
	Client kubernetes.Interface
	// Run is the run ID, 1-8 lowercase hex digits.
	Run, Cluster, Scenario string
	// Holder is "host:pid" of the process that runs it; "" means this
	// process.
	Holder string
	// StateDir keeps a local copy, StateDir/<Run>.json (e.g.
	// ~/.local/state/pvreboot/runs); "" keeps none.
	StateDir string
	// LeaseDuration is how long the run counts as live after a heartbeat;
	// 0 means DefaultLeaseDuration. It is stored in whole seconds.
	LeaseDuration time.Duration
	// Log receives renewal failures and retries; nil is silent.
	Log *slog.Logger

	backoff *wait.Backoff // tests shorten the retries
}

// Ledger records what one run made. It is safe for concurrent use.
type Ledger struct {
	client   kubernetes.Interface
	stateDir string
	log      *slog.Logger
	backoff  wait.Backoff

	// persist serialises the writes of the items (local file, then Lease)
	// so that each write holds the latest set, and Close after them.
	persist sync.Mutex

	mu     sync.Mutex // guards what follows
	rec    Record
	stale  bool // the Lease may lag the items: its last write failed
	closed bool
	beats  []func()
}

func newLedger(c kubernetes.Interface, stateDir string, log *slog.Logger, b *wait.Backoff, rec Record) *Ledger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Ledger{client: c, stateDir: stateDir, log: log.With("run", rec.Run), backoff: defaultBackoff(), rec: rec}
	if b != nil {
		l.backoff = *b
	}
	return l
}

func defaultHolder() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return host + ":" + strconv.Itoa(os.Getpid())
}

// now is the time as a Lease keeps it: microseconds, no monotonic reading.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Open starts the ledger of a new run: it writes the local copy
// (StateDir/<Run>.json) first, then ensures Namespace and creates the run's
// Lease there. A run ID that already has a Lease or local copy is refused
// with ErrExists; invalid options with ErrInvalid. Open does not heartbeat:
// call Heartbeat.
func Open(ctx context.Context, o Options) (*Ledger, error) {
	if o.Client == nil {
		return nil, errors.New("open ledger: no client")
	}
	d := o.LeaseDuration
	if d == 0 {
		d = DefaultLeaseDuration
	}
	if d < 0 {
		return nil, fmt.Errorf("open ledger: lease duration %s: want more than 0", d)
	}
	if o.Holder == "" {
		o.Holder = defaultHolder()
	}
	t := now()
	rec := Record{
		Run: o.Run, Cluster: o.Cluster, Scenario: o.Scenario, Holder: o.Holder,
		Started: t, Renewed: t,
		LeaseSeconds: int32(min((d+time.Second-1)/time.Second, 1<<31-1)),
		Items:        []Item{},
	}
	if err := rec.validate(); err != nil {
		return nil, fmt.Errorf("open ledger: %w", err)
	}
	l := newLedger(o.Client, o.StateDir, o.Log, o.backoff, rec)
	if err := l.open(ctx); err != nil {
		return nil, fmt.Errorf("open ledger of run %s: %w", rec.Run, err)
	}
	return l, nil
}

func (l *Ledger) open(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	rec := l.rec.clone()
	if l.stateDir != "" {
		if _, err := os.Lstat(localPath(l.stateDir, rec.Run)); err == nil {
			return fmt.Errorf("%w: local copy %s", ErrExists, localPath(l.stateDir, rec.Run))
		}
		if err := writeLocal(l.stateDir, rec); err != nil {
			return err
		}
	}
	err := l.createLease(ctx, rec)
	if err != nil && l.stateDir != "" {
		// Nothing is recorded yet: the copy has no items to keep.
		err = errors.Join(err, removeLocal(l.stateDir, rec.Run))
	}
	return err
}

// createLease ensures Namespace and creates a new run's Lease. A Lease that
// exists already is this Open's own only when it names the same holder and
// start (a create whose answer was lost); otherwise the run ID is taken.
func (l *Ledger) createLease(ctx context.Context, rec Record) error {
	if err := ensureNamespace(ctx, l.client, l.backoff, l.log); err != nil {
		return err
	}
	lease, err := leaseFor(rec)
	if err != nil {
		return err
	}
	err = callAPI(ctx, l.backoff, l.log, "create lease "+Namespace+"/"+lease.Name, func(ctx context.Context) error {
		_, err := l.client.CoordinationV1().Leases(Namespace).Create(ctx, lease, metav1.CreateOptions{})
		return err
	})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	got, gerr := getLease(ctx, l.client, l.backoff, l.log, rec.Run)
	if gerr != nil {
		return errors.Join(err, gerr)
	}
	theirs, perr := recordFromLease(got)
	if perr == nil && theirs.Holder == rec.Holder && theirs.Started.Equal(rec.Started) {
		return nil
	}
	return fmt.Errorf("%w: lease %s/%s held by %q since %s", ErrExists, Namespace, lease.Name, theirs.Holder, theirs.Started.Format(time.RFC3339))
}

// writeLease makes the Lease hold items, recreating it from the record if it
// is gone.
func (l *Ledger) writeLease(ctx context.Context, items []Item) error {
	ann, err := encodeItems(items)
	if err != nil {
		return err
	}
	l.mu.Lock()
	rec := l.rec.clone()
	l.mu.Unlock()
	rec.Items = items
	name := LeaseName(rec.Run)
	leases := l.client.CoordinationV1().Leases(Namespace)
	return callAPI(ctx, l.backoff, l.log, "update lease "+Namespace+"/"+name, func(ctx context.Context) error {
		lease, err := leases.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			l.log.Warn("lease gone; recreating it", "lease", name)
			if err := ensureNamespace(ctx, l.client, l.backoff, l.log); err != nil {
				return err
			}
			fresh, err := leaseFor(rec)
			if err != nil {
				return err
			}
			_, err = leases.Create(ctx, fresh, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				// Recreated meanwhile: update it on the next try.
				return apierrors.NewConflict(schemaLeases(), name, err)
			}
			return err
		}
		if err != nil {
			return err
		}
		if lease.Annotations == nil {
			lease.Annotations = map[string]string{}
		}
		lease.Annotations[AnnotationLedger] = ann
		_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
		return err
	})
}

// save makes items the ledger's items, durably: the local copy first, then
// the Lease. The caller holds l.persist. When a write fails, the items stay
// the ledger's (recording more than exists is safe; less is not) and the next
// save or Close writes them again.
func (l *Ledger) save(ctx context.Context, items []Item) error {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	l.mu.Lock()
	l.rec.Items = items
	l.stale = true
	rec := l.rec.clone()
	l.mu.Unlock()
	if l.stateDir != "" {
		if err := writeLocal(l.stateDir, rec); err != nil {
			return err
		}
	}
	if err := l.writeLease(ctx, rec.Items); err != nil {
		return err
	}
	l.mu.Lock()
	// Another save may have begun since; only the last one's success
	// clears stale, and saves are serialised by l.persist.
	l.stale = false
	l.mu.Unlock()
	return nil
}

// Add records items, each replacing the item with its Kind, Name and Node.
// They are durable when Add returns nil: in the local copy first, then in
// the Lease. Invalid items are refused (ErrInvalid) and none is added.
func (l *Ledger) Add(ctx context.Context, items ...Item) error {
	var errs []error
	for _, i := range items {
		if err := i.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("add to ledger: %w", err)
	}
	l.persist.Lock()
	defer l.persist.Unlock()
	l.mu.Lock()
	closed, run, cur, stale := l.closed, l.rec.Run, l.rec.Items, l.stale
	next := merge(cur, items...)
	l.mu.Unlock()
	if closed {
		return fmt.Errorf("add to ledger of run %s: %w", run, ErrClosed)
	}
	if len(next) > MaxItems {
		return fmt.Errorf("add to ledger of run %s: %d items, more than %d", run, len(next), MaxItems)
	}
	if _, err := encodeItems(next); err != nil {
		return fmt.Errorf("add to ledger of run %s: %w", run, err)
	}
	if len(items) == 0 && !stale {
		return nil
	}
	if err := l.save(ctx, next); err != nil {
		return fmt.Errorf("add %s to ledger of run %s: %w", describe(items), run, err)
	}
	return nil
}

// Remove drops the items with the Kinds, Names and Nodes of items (Detail
// is not compared), durably as Add does. Items not there are ignored.
func (l *Ledger) Remove(ctx context.Context, items ...Item) error {
	l.persist.Lock()
	defer l.persist.Unlock()
	l.mu.Lock()
	closed, run, stale := l.closed, l.rec.Run, l.stale
	next := slices.DeleteFunc(cloneItems(l.rec.Items), func(i Item) bool {
		return slices.ContainsFunc(items, func(r Item) bool { return r.key() == i.key() })
	})
	changed := len(next) != len(l.rec.Items)
	l.mu.Unlock()
	if closed {
		return fmt.Errorf("remove from ledger of run %s: %w", run, ErrClosed)
	}
	if !changed && !stale {
		return nil
	}
	if err := l.save(ctx, next); err != nil {
		return fmt.Errorf("remove %s from ledger of run %s: %w", describe(items), run, err)
	}
	return nil
}

func describe(items []Item) string {
	switch len(items) {
	case 0:
		return "nothing"
	case 1:
		return items[0].String()
	default:
		return fmt.Sprintf("%s and %d more", items[0], len(items)-1)
	}
}

// Items returns a copy of the items, in the order first added.
func (l *Ledger) Items() []Item {
	l.mu.Lock()
	defer l.mu.Unlock()
	return cloneItems(l.rec.Items)
}

// Record returns a copy of the run's record as this Ledger knows it.
func (l *Ledger) Record() Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec.clone()
}

// Heartbeat renews the Lease's renewTime every `every` (0: a third of the
// lease duration) in a goroutine, until stop is called, ctx is done or the
// Ledger is closed. A failed renewal is logged and tried again at the next
// tick; it never ends the heartbeat. stop may be called more than once and
// returns once the goroutine has ended.
func (l *Ledger) Heartbeat(ctx context.Context, every time.Duration) (stop func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return func() {}
	}
	lease := time.Duration(l.rec.LeaseSeconds) * time.Second
	if every <= 0 {
		every = lease / 3
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
	l.beats = append(l.beats, stop)
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// Each renewal is bounded by the lease: later than that
			// the run is dead anyway, and the next tick tries again.
			rctx, rcancel := context.WithTimeout(ctx, lease)
			err := l.renew(rctx)
			rcancel()
			if err != nil && ctx.Err() == nil {
				l.log.Warn("heartbeat failed; retrying at the next tick", "err", err, "every", every)
			}
		}
	}()
	return stop
}

// renew sets the Lease's renewTime to now with a merge patch, which touches
// nothing else (the items are Add's and Remove's), recreating the Lease with
// the current items if it is gone.
func (l *Ledger) renew(ctx context.Context) error {
	l.mu.Lock()
	run := l.rec.Run
	l.mu.Unlock()
	name := LeaseName(run)
	var t time.Time
	err := callAPI(ctx, l.backoff, l.log, "renew lease "+Namespace+"/"+name, func(ctx context.Context) error {
		t = now()
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"renewTime": metav1.NewMicroTime(t)}})
		if err != nil {
			return err
		}
		_, err = l.client.CoordinationV1().Leases(Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		// Deleted under a live run: put it back with what the run made.
		l.mu.Lock()
		l.rec.Renewed = now()
		l.mu.Unlock()
		l.persist.Lock()
		defer l.persist.Unlock()
		return l.writeLease(ctx, l.Items())
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	if t.After(l.rec.Renewed) {
		l.rec.Renewed = t
	}
	l.mu.Unlock()
	return nil
}

// Close stops the heartbeats. When no items remain it deletes the Lease and
// the local copy: the run left nothing. Otherwise it leaves both (writing
// the Lease once more if its last write failed): the run is then dead by
// heartbeat, and its items are what `pvreboot cleanup --run` removes. Close
// may be called more than once.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	beats := l.beats
	l.beats = nil
	l.mu.Unlock()
	for _, stop := range beats {
		stop()
	}
	l.persist.Lock()
	defer l.persist.Unlock()
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	l.mu.Lock()
	rec, stale := l.rec.clone(), l.stale
	l.mu.Unlock()
	if len(rec.Items) > 0 {
		if !stale {
			return nil
		}
		if l.stateDir != "" {
			if err := writeLocal(l.stateDir, rec); err != nil {
				return fmt.Errorf("close ledger of run %s: %w", rec.Run, err)
			}
		}
		if err := l.writeLease(ctx, rec.Items); err != nil {
			return fmt.Errorf("close ledger of run %s with %d items left: %w", rec.Run, len(rec.Items), err)
		}
		return nil
	}
	name := LeaseName(rec.Run)
	err := callAPI(ctx, l.backoff, l.log, "delete lease "+Namespace+"/"+name, func(ctx context.Context) error {
		err := l.client.CoordinationV1().Leases(Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	})
	if l.stateDir != "" {
		err = errors.Join(err, removeLocal(l.stateDir, rec.Run))
	}
	if err != nil {
		return fmt.Errorf("close ledger of run %s: %w", rec.Run, err)
	}
	return nil
}

// List returns every run's record from the Leases in Namespace, sorted by
// Started. A Lease that is not a pvreboot ledger is left out and named in
// the error, beside the records that are.
func List(ctx context.Context, c kubernetes.Interface) ([]Record, error) {
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	log := slog.New(slog.DiscardHandler)
	var names []string
	var recs []Record
	var errs []error
	err := callAPI(ctx, defaultBackoff(), log, "list leases in "+Namespace, func(ctx context.Context) error {
		leases, err := c.CoordinationV1().Leases(Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelOwned + "=true"})
		if err != nil {
			return err
		}
		names, recs, errs = nil, nil, nil
		for n := range leases.Items {
			rec, err := recordFromLease(&leases.Items[n])
			if err != nil {
				errs = append(errs, err)
				continue
			}
			names = append(names, leases.Items[n].Name)
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list ledgers: %w", err)
	}
	slices.SortStableFunc(recs, func(a, b Record) int {
		return cmp.Or(a.Started.Compare(b.Started), cmp.Compare(a.Run, b.Run))
	})
	if err := errors.Join(errs...); err != nil {
		return recs, fmt.Errorf("list ledgers: %w", err)
	}
	return recs, nil
}

// Load reopens a run's ledger to finish its cleanup: from its Lease (with
// any items only the local copy in stateDir holds), else from the local copy
// alone, in which case the Lease is recreated, with the copy's old renewTime
// so that the run stays dead, if the API answers. A Ledger loaded this way
// does not heartbeat unless asked. Load returns an error wrapping
// ErrNotFound when the API says there is no Lease and there is no local
// copy, and one wrapping ErrInvalid when either is not a pvreboot ledger.
func Load(ctx context.Context, c kubernetes.Interface, stateDir, run string) (*Ledger, error) {
	if c == nil {
		return nil, errors.New("load ledger: no client")
	}
	if err := checkRun(run); err != nil {
		return nil, fmt.Errorf("load ledger: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	b := defaultBackoff()
	log := slog.New(slog.DiscardHandler)
	local, lerr := LoadLocal(stateDir, run)
	if lerr != nil && !errors.Is(lerr, ErrNotFound) {
		return nil, fmt.Errorf("load ledger of run %s: %w", run, lerr)
	}
	hasLocal := lerr == nil
	lease, err := getLease(ctx, c, b, log, run)
	switch {
	case err == nil:
		rec, err := recordFromLease(lease)
		if err != nil {
			return nil, fmt.Errorf("load ledger of run %s: %w", run, err)
		}
		l := newLedger(c, stateDir, nil, nil, rec)
		if hasLocal {
			if merged := merge(rec.Items, local.Items...); len(merged) != len(rec.Items) {
				// Items the Lease never got (its write failed):
				// the next write puts them there.
				l.rec.Items, l.stale = merged, true
			}
		}
		return l, nil
	case !hasLocal && apierrors.IsNotFound(err):
		return nil, fmt.Errorf("load ledger of run %s: %w", run, ErrNotFound)
	case !hasLocal:
		return nil, fmt.Errorf("load ledger of run %s: %w", run, err)
	}
	l := newLedger(c, stateDir, nil, nil, local)
	if !apierrors.IsNotFound(err) {
		// The API did not answer: work from the copy; the next write
		// tries the Lease again.
		l.stale = true
		return l, nil
	}
	fresh, ferr := leaseFor(local)
	if ferr == nil {
		ferr = ensureNamespace(ctx, c, b, log)
	}
	if ferr == nil {
		ferr = callAPI(ctx, b, log, "recreate lease "+Namespace+"/"+fresh.Name, func(ctx context.Context) error {
			_, err := c.CoordinationV1().Leases(Namespace).Create(ctx, fresh, metav1.CreateOptions{})
			return err
		})
	}
	// Not recreated (or recreated by someone else meanwhile): the next
	// write brings the Lease up to date.
	l.stale = ferr != nil
	return l, nil
}
