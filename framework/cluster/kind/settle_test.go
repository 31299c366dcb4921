package kind

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestLeaseRenewedSince(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 25, 1, 12, 32, 423842868, time.UTC)
	lease := func(renew *time.Time) *coordinationv1.Lease {
		l := &coordinationv1.Lease{}
		if renew != nil {
			l.Spec.RenewTime = &metav1.MicroTime{Time: *renew}
		}
		return l
	}
	before := start.Add(-20 * time.Second) // held by the process from before the restart
	same := start.Truncate(time.Microsecond)
	after := start.Add(15 * time.Second)
	for _, tc := range []struct {
		name string
		l    *coordinationv1.Lease
		want bool
	}{
		{"no lease", nil, false},
		{"never renewed", lease(nil), false},
		{"renewed before the start", lease(&before), false},
		{"renewed in the start's microsecond", lease(&same), true},
		{"renewed after the start", lease(&after), true},
	} {
		if got := LeaseRenewedSince(tc.l, start); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}
