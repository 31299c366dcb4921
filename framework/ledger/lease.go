package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	pvwait "github.com/pvreboot/pvreboot/framework/wait"
	"log/slog"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// Where the ledgers live and how they are marked.
const (
	// Namespace holds every run's Lease. It is pvreboot's and no run
	// deletes it.
	Namespace          = "pvreboot-runs"
	LabelOwned         = "pvreboot.dev/owned"
	LabelRun           = "pvreboot.dev/run"
	AnnotationCluster  = "pvreboot.dev/cluster"
	AnnotationScenario = "pvreboot.dev/scenario"
	// AnnotationLedger holds the items as compact JSON.
	AnnotationLedger = "pvreboot.dev/ledger"
)

// schemaLeases names Leases in API errors.
func schemaLeases() schema.GroupResource { return coordv1.Resource("leases") }

// LeaseName is the name of a run's Lease in Namespace.
func LeaseName(run string) string { return "run-" + run }

// defaultBackoff bounds the retries of one API call on transient errors
// (5xx, 429, timeouts, refused or reset connections): about 3s in 6 tries.
func defaultBackoff() wait.Backoff {
	return wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 6, Cap: 2 * time.Second}
}

// callAPI runs fn, retrying conflicts at once (retry.RetryOnConflict) and
// transient errors with backoff b, and returns the last error once either
// gives up.
func callAPI(ctx context.Context, b wait.Backoff, log *slog.Logger, op string, fn func(context.Context) error) error {
	var last error
	attempts, permanent := 0, false
	err := wait.ExponentialBackoffWithContext(ctx, b, func(ctx context.Context) (bool, error) {
		attempts++
		last = retry.RetryOnConflict(retry.DefaultRetry, func() error { return fn(ctx) })
		switch {
		case last == nil:
			return true, nil
		case pvwait.Transient(last):
			log.Debug("retrying", "op", op, "attempt", attempts, "err", last)
			return false, nil
		default:
			permanent = true
			return false, last
		}
	})
	switch {
	case err == nil:
		return nil
	case permanent || last == nil:
		return fmt.Errorf("%s: %w", op, err)
	default:
		// Out of tries or out of time while the API still failed.
		return fmt.Errorf("%s: %w (gave up after %d attempts: %w)", op, last, attempts, err)
	}
}

// encodeItems is the annotation: the items as compact JSON.
func encodeItems(items []Item) (string, error) {
	if items == nil {
		items = []Item{}
	}
	data, err := json.Marshal(items)
	if err != nil {
		return "", fmt.Errorf("encode items: %w", err)
	}
	if len(data) > maxLedgerBytes {
		return "", fmt.Errorf("encode items: %d items take %d bytes, more than the %d a Lease annotation may hold", len(items), len(data), maxLedgerBytes)
	}
	return string(data), nil
}

// leaseFor is the Lease that records rec.
func leaseFor(rec Record) (*coordv1.Lease, error) {
	ann, err := encodeItems(rec.Items)
	if err != nil {
		return nil, err
	}
	annotations := map[string]string{AnnotationLedger: ann}
	if rec.Cluster != "" {
		annotations[AnnotationCluster] = rec.Cluster
	}
	if rec.Scenario != "" {
		annotations[AnnotationScenario] = rec.Scenario
	}
	return &coordv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:        LeaseName(rec.Run),
			Namespace:   Namespace,
			Labels:      map[string]string{LabelOwned: "true", LabelRun: rec.Run},
			Annotations: annotations,
		},
		Spec: coordv1.LeaseSpec{
			HolderIdentity:       ptr.To(rec.Holder),
			LeaseDurationSeconds: ptr.To(rec.LeaseSeconds),
			AcquireTime:          &metav1.MicroTime{Time: rec.Started},
			RenewTime:            &metav1.MicroTime{Time: rec.Renewed},
		},
	}, nil
}

// recordFromLease reads a run's record from its Lease, refusing one that is
// not a pvreboot ledger (ErrInvalid).
func recordFromLease(lease *coordv1.Lease) (Record, error) {
	run := lease.Labels[LabelRun]
	if err := checkRun(run); err != nil {
		return Record{}, fmt.Errorf("lease %s: %w", lease.Name, err)
	}
	if lease.Name != LeaseName(run) {
		return Record{}, fmt.Errorf("lease %s: %w: labelled run %s, want name %s", lease.Name, ErrInvalid, run, LeaseName(run))
	}
	rec := Record{
		Run:      run,
		Cluster:  lease.Annotations[AnnotationCluster],
		Scenario: lease.Annotations[AnnotationScenario],
		Started:  lease.CreationTimestamp.Time,
	}
	if h := lease.Spec.HolderIdentity; h != nil {
		rec.Holder = *h
	}
	if d := lease.Spec.LeaseDurationSeconds; d != nil {
		rec.LeaseSeconds = *d
	}
	if t := lease.Spec.AcquireTime; t != nil {
		rec.Started = t.Time
	}
	rec.Renewed = rec.Started
	if t := lease.Spec.RenewTime; t != nil {
		rec.Renewed = t.Time
	}
	raw := lease.Annotations[AnnotationLedger]
	if len(raw) > maxLedgerBytes {
		return Record{}, fmt.Errorf("lease %s: %w: ledger of %d bytes", lease.Name, ErrInvalid, len(raw))
	}
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &rec.Items); err != nil {
			return Record{}, fmt.Errorf("lease %s: %w: annotation %s: %w", lease.Name, ErrInvalid, AnnotationLedger, err)
		}
	}
	if err := rec.validate(); err != nil {
		return Record{}, fmt.Errorf("lease %s: %w", lease.Name, err)
	}
	rec.Items = merge(nil, rec.Items...)
	return rec, nil
}

// ensureNamespace creates Namespace when it is missing.
func ensureNamespace(ctx context.Context, c kubernetes.Interface, b wait.Backoff, log *slog.Logger) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{LabelOwned: "true"}}}
	return callAPI(ctx, b, log, "create namespace "+Namespace, func(ctx context.Context) error {
		_, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}

// getLease reads a run's Lease; a missing one is apierrors.IsNotFound.
func getLease(ctx context.Context, c kubernetes.Interface, b wait.Backoff, log *slog.Logger, run string) (*coordv1.Lease, error) {
	var lease *coordv1.Lease
	err := callAPI(ctx, b, log, "get lease "+Namespace+"/"+LeaseName(run), func(ctx context.Context) error {
		var err error
		lease, err = c.CoordinationV1().Leases(Namespace).Get(ctx, LeaseName(run), metav1.GetOptions{})
		return err
	})
	return lease, err
}
