package wait

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestReportIntervalIsAtMostTenSeconds(t *testing.T) {
	t.Parallel()
	if ReportInterval > 10*time.Second || ReportInterval <= 0 {
		t.Fatalf("ReportInterval %s: waits must speak at least every 10s", ReportInterval)
	}
}

// TestWaitsReport: a wait whose context carries a Reporter says what it
// waits for and what it last saw while it waits. The pod turns Ready only
// after two reports have arrived, so nothing depends on timing.
func TestWaitsReport(t *testing.T) {
	t.Parallel()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	c := fake.NewClientset(pod)
	lines := make(chan string, 64)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ctx = WithReporter(context.WithValue(ctx, intervalKey{}, 20*time.Millisecond), func(l string) { lines <- l })

	go func() {
		for i := 0; i < 2; i++ {
			l := <-lines
			if !strings.HasPrefix(l, "pod ns/p: waiting ") || !strings.Contains(l, " for Ready, last ") || !strings.Contains(l, "Pending") {
				t.Errorf("report %q: want the pod, what it waits for and the last phase", l)
			}
		}
		ready := pod.DeepCopy()
		ready.Status.Phase = corev1.PodRunning
		ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		if _, err := c.CoreV1().Pods("ns").UpdateStatus(context.Background(), ready, metav1.UpdateOptions{}); err != nil {
			t.Errorf("update: %v", err)
		}
	}()
	if _, err := PodReady(ctx, c, "ns", "p"); err != nil {
		t.Fatal(err)
	}
}

// TestWaitsAreSilentWithoutReporter: no Reporter, no goroutine, no lines.
func TestWaitsAreSilentWithoutReporter(t *testing.T) {
	t.Parallel()
	var seen lastSeen
	stop := reportWhile(context.Background(), "pod ns/p", "Ready", &seen)
	stop()
	if got := seen.get(); got != "nothing yet" {
		t.Errorf("lastSeen of a wait that saw nothing: %q", got)
	}
}
