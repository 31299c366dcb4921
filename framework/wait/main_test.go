package wait

import (
	"os"
	"testing"
)

// The fake clientset does not serve watch-list streams (sendInitialEvents);
// informers fall back to list+watch when the client feature is off.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}
