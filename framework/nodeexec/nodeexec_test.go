package nodeexec

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pvreboot/pvreboot/framework/workload"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

// The fake clientset and the test apiserver do not serve watch-list
// streams (sendInitialEvents); informers fall back to list+watch when the
// client feature is off.
func TestMain(m *testing.M) {
	os.Setenv("KUBE_FEATURE_WatchListClient", "false")
	os.Exit(m.Run())
}

// testTimeout bounds each test's calls against fakes that answer at once.
const testTimeout = 30 * time.Second

func TestPodNameIsAUniqueDNSLabel(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 70)
	nodes := []string{
		"kind-worker", "a.b", "a-b", "A.B", "a_b",
		"ip-10-0-0-1.ec2.internal", "ip-10-0-0-1-ec2-internal",
		long + "1", long + "2", strings.Repeat("x.", 126) + "y",
		"", "-", "...", "-lead-and-trail-", "ünïcødé-nødé", "node name with spaces", "UPPER",
		strings.Repeat("a", 44), strings.Repeat("a", 45),
	}
	seen := map[string]string{}
	for _, node := range nodes {
		name := podName(node)
		if other, ok := seen[name]; ok {
			t.Errorf("nodes %q and %q share helper pod %q", other, node, name)
		}
		seen[name] = node
	}
	for _, node := range nodes {
		t.Run(node, func(t *testing.T) {
			t.Parallel()
			name := podName(node)
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Errorf("podName(%q) = %q: %v", node, name, errs)
			}
			if !strings.HasPrefix(name, appName+"-") || podName(node) != name {
				t.Errorf("podName(%q) = %q: want a stable name starting %q", node, name, appName+"-")
			}
		})
	}
	if got := podName("kind-worker"); !strings.HasPrefix(got, "pvreboot-nodeexec-kind-worker-") {
		t.Errorf("podName(kind-worker) = %q: the node name should be readable in it", got)
	}
}

// readyOnCreate makes created pods Ready at once, as a kubelet would.
func readyOnCreate(c *fake.Clientset) {
	c.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		p.UID = "uid-" + "new"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		return false, nil, nil
	})
}

func helper(node, pinned string, labels, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: podName(node), Namespace: "ns", UID: "uid-old", Labels: labels, Annotations: annotations},
		Spec:       corev1.PodSpec{NodeName: pinned},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func TestEnsureUsesOnlyItsOwnPod(t *testing.T) {
	t.Parallel()
	ours := map[string]string{workload.LabelOwned: "true", "app.kubernetes.io/name": appName}
	terminating := helper("n1", "n1", ours, map[string]string{nodeAnnotation: "n1"})
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	terminating.Finalizers = []string{"test/hold"}
	tests := []struct {
		name     string
		existing *corev1.Pod
		wantErr  string // "" = a Ready helper for n1
		wantUID  string
	}{
		{name: "fresh node", wantUID: "uid-new"},
		{name: "our Ready helper is reused", existing: helper("n1", "n1", ours, map[string]string{nodeAnnotation: "n1"}), wantUID: "uid-old"},
		{name: "pinned to another node", existing: helper("n1", "n2", ours, map[string]string{nodeAnnotation: "n2"}), wantErr: `pinned to node "n2"`},
		{name: "not scheduled yet, unpinned", existing: helper("n1", "", ours, nil), wantErr: `pinned to node ""`},
		{name: "not ours", existing: helper("n1", "n1", map[string]string{"app": "someone-else"}, nil), wantErr: "is not a pvreboot node exec helper"},
		{name: "our helper left terminating is replaced", existing: terminating, wantUID: "uid-new"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var objs []runtime.Object
			if tt.existing != nil {
				objs = append(objs, tt.existing)
			}
			c := fake.NewClientset(objs...)
			readyOnCreate(c)
			if tt.existing != nil && tt.existing.DeletionTimestamp != nil {
				// The kubelet confirms the deletion once the waiter watches.
				var once sync.Once
				c.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
					w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace())
					once.Do(func() {
						go func() {
							if err := c.Tracker().Delete(a.GetResource(), "ns", tt.existing.Name); err != nil {
								t.Errorf("delete: %v", err)
							}
						}()
					})
					return true, w, err
				})
			}
			p := &PodExec{Client: c, Namespace: "ns", Image: "probe:test"}
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			name, err := p.ensure(ctx, "n1")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "node exec on n1") {
					t.Fatalf("ensure = %q, %v; want an error naming n1 with %q", name, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ensure: %v", err)
			}
			pod, err := c.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(pod.UID) != tt.wantUID || pod.Spec.NodeName != "n1" || pod.Annotations[nodeAnnotation] != "n1" || name != podName("n1") {
				t.Errorf("helper %s uid %s on %q annotated %q; want %s uid %s on n1", name, pod.UID, pod.Spec.NodeName, pod.Annotations[nodeAnnotation], podName("n1"), tt.wantUID)
			}
			if err := p.Close(ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			if _, err := c.CoreV1().Pods("ns").Get(ctx, name, metav1.GetOptions{}); err == nil {
				t.Errorf("helper %s still there after Close", name)
			}
		})
	}
}

// apiserver serves what NodeExec needs: pod create, list and watch (the
// created pod is Ready at once), and pods/exec over WebSocket, echoing
// stdin to stdout.
type apiserver struct {
	mu      sync.Mutex
	pod     *corev1.Pod
	command []string
}

func (s *apiserver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	const pods = "/api/v1/namespaces/ns/pods"
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case req.Method == http.MethodPost && req.URL.Path == pods:
		var p corev1.Pod
		if err := json.NewDecoder(req.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
		p.UID, p.ResourceVersion = "uid-1", "1"
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
		s.pod = &p
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&p)
	case req.Method == http.MethodGet && req.URL.Path == pods && req.URL.Query().Get("watch") == "true":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		s.mu.Unlock()
		<-req.Context().Done()
		s.mu.Lock()
	case req.Method == http.MethodGet && req.URL.Path == pods:
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "1"}}
		if s.pod != nil {
			list.Items = append(list.Items, *s.pod)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&list)
	case s.pod != nil && req.URL.Path == pods+"/"+s.pod.Name+"/exec" && req.URL.Query().Get("stdin") == "true":
		s.command = req.URL.Query()["command"]
		s.mu.Unlock()
		defer s.mu.Lock()
		conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
			remotecommand.StreamProtocolV5Name: {Binary: true, Channels: []wsstream.ChannelType{
				wsstream.ReadChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}},
		})
		_, streams, err := conn.Open(w, req)
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = streams[remotecommand.StreamStdOut].Write(nil)
		_, _ = io.Copy(streams[remotecommand.StreamStdOut], streams[remotecommand.StreamStdIn])
		_, _ = io.WriteString(streams[remotecommand.StreamStdErr], "+stderr")
		b, _ := json.Marshal(metav1.Status{Status: metav1.StatusSuccess})
		_, _ = streams[remotecommand.StreamErr].Write(b)
	default:
		http.Error(w, "unexpected "+req.Method+" "+req.URL.String(), http.StatusNotFound)
	}
}

// testPodExec is a PodExec talking to a test apiserver that serves the
// helper pod and its exec.
func testPodExec(t *testing.T) (*apiserver, *PodExec) {
	t.Helper()
	as := &apiserver{}
	srv := httptest.NewServer(as)
	t.Cleanup(srv.Close)
	// JSON: the test apiserver does not speak protobuf.
	rc := &rest.Config{Host: srv.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}
	c, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return as, &PodExec{Client: c, RESTConfig: rc, Namespace: "ns", Image: "probe:test"}
}

func TestNodeExecPassesStdinAndArgv(t *testing.T) {
	t.Parallel()
	as, p := testPodExec(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	out, err := p.NodeExec(ctx, "node.one", strings.NewReader("file body; $(not a command)"), "cp", "/dev/stdin", "/etc/pvreboot/x")
	if err != nil {
		t.Fatalf("NodeExec: %v", err)
	}
	if string(out) != "file body; $(not a command)+stderr" {
		t.Errorf("output %q, want stdin echoed then stderr", out)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	want := "/bin/busybox nsenter -t 1 -m -u -i -n -p -- /usr/bin/env PATH=" + NodePATH + " cp /dev/stdin /etc/pvreboot/x"
	if strings.Join(as.command, " ") != want || len(as.command) != 15 {
		t.Errorf("exec argv %q, want %q", as.command, want)
	}
	if as.pod.Name != podName("node.one") || as.pod.Spec.NodeName != "node.one" {
		t.Errorf("helper %s on %q", as.pod.Name, as.pod.Spec.NodeName)
	}
}

// TestHelperExecStreams: the helper's own program (no nsenter) gets its
// input as it is written and its output arrives before its input ends, as
// a conversation with the trace agent needs.
func TestHelperExecStreams(t *testing.T) {
	t.Parallel()
	as, p := testPodExec(t)
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	defer cancel()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		done <- p.HelperExec(ctx, "node.one", inR, outW, &stderr, "/copyprobe", "trace-agent", "--container-id", "0123456789abcdef")
		outW.Close()
	}()
	for _, line := range []string{"begin\n", "evict \"/data/a b\"\n"} {
		if _, err := io.WriteString(inW, line); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(line))
		if _, err := io.ReadFull(outR, buf); err != nil || string(buf) != line {
			t.Fatalf("echo of %q: %q, %v", line, buf, err)
		}
	}
	inW.Close()
	if rest, err := io.ReadAll(outR); err != nil || len(rest) != 0 {
		t.Errorf("after stdin's end: %q, %v", rest, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("HelperExec: %v", err)
	}
	if stderr.String() != "+stderr" {
		t.Errorf("stderr %q", stderr.String())
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	if want := "/copyprobe trace-agent --container-id 0123456789abcdef"; strings.Join(as.command, " ") != want {
		t.Errorf("exec argv %q, want %q (the helper's own program, not nsenter'd)", as.command, want)
	}
}
