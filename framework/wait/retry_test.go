package wait

import (
	"context"
	"errors"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestRetry(t *testing.T) {
	t.Parallel()
	unavailable := apierrors.NewServiceUnavailable("apiserver restarting")
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n", errors.New("no"))
	for _, tc := range []struct {
		name        string
		errs        []error // returned in turn; then nil
		wantRetries int
		wantErr     error
	}{
		{"answers at once", nil, 0, nil},
		{"API server away twice", []error{unavailable, apierrors.NewInternalError(errors.New("etcd")), nil}, 2, nil},
		{"forbidden is not retried", []error{forbidden}, 0, forbidden},
	} {
		calls := 0
		o, err := Retry(context.Background(), func(context.Context) error {
			calls++
			if calls <= len(tc.errs) {
				return tc.errs[calls-1]
			}
			return nil
		})
		if o.Retries != tc.wantRetries || !errors.Is(err, tc.wantErr) && err != tc.wantErr {
			t.Errorf("%s: retries %d err %v; want %d, %v", tc.name, o.Retries, err, tc.wantRetries, tc.wantErr)
		}
		if tc.wantRetries > 0 && (o.Lasted <= 0 || o.Last == nil) {
			t.Errorf("%s: outage not described: %+v", tc.name, o)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	o, err := Retry(ctx, func(context.Context) error { return unavailable })
	if err == nil || !apierrors.IsServiceUnavailable(err) || o.Retries == 0 {
		t.Errorf("an API server that stays away: %+v, %v", o, err)
	}
}
