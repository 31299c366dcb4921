package workload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/remotecommand"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/wsstream"
)

func TestShouldFallback(t *testing.T) {
	t.Parallel()
	upgrade := &httpstream.UpgradeFailureError{Cause: errors.New("websocket: bad handshake (400 Bad Request)")}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "upgrade refused", err: upgrade, want: true},
		{name: "upgrade refused, wrapped", err: fmt.Errorf("exec: %w", upgrade), want: true},
		{name: "https proxy the websocket dialer cannot use", err: errors.New("proxy: unknown scheme: https"), want: true},
		{name: "exec ran and exited non-zero", err: utilexec.CodeExitError{Err: errors.New("command terminated with exit code 3"), Code: 3}},
		{name: "context cancelled", err: context.Canceled},
		{name: "context deadline", err: fmt.Errorf("stream: %w", context.DeadlineExceeded)},
		{name: "stream broken half-way", err: errors.New("error reading from error stream: websocket: close 1006 (abnormal closure): unexpected EOF")},
		{name: "unexpected EOF", err: io.ErrUnexpectedEOF},
		{name: "dial refused", err: errors.New("dial tcp 127.0.0.1:6443: connect: connection refused")},
		{name: "no error", err: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := shouldFallback(tt.err); got != tt.want {
				t.Errorf("shouldFallback(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// execServer is an apiserver that only serves pods/exec: the WebSocket
// (v5) protocol per behaviour, and counts SPDY (POST) attempts, which it
// refuses.
type execServer struct {
	behaviour string // refuse, echo, exit3, hang
	started   chan struct{}

	mu      sync.Mutex
	gets    int
	posts   int
	command []string
	stdin   bool
}

func (s *execServer) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !strings.HasSuffix(req.URL.Path, "/namespaces/ns/pods/p/exec") {
		http.NotFound(w, req)
		return
	}
	q := req.URL.Query()
	s.mu.Lock()
	s.command, s.stdin = q["command"], q.Get("stdin") == "true"
	if req.Method == http.MethodPost {
		s.posts++
	} else {
		s.gets++
	}
	s.mu.Unlock()
	if req.Method == http.MethodPost || s.behaviour == "refuse" {
		http.Error(w, "no streaming here", http.StatusBadRequest)
		return
	}
	read := wsstream.IgnoreChannel
	if q.Get("stdin") == "true" {
		read = wsstream.ReadChannel
	}
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommand.StreamProtocolV5Name: {Binary: true, Channels: []wsstream.ChannelType{
			read, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.WriteChannel, wsstream.ReadChannel}},
	})
	_, streams, err := conn.Open(w, req)
	if err != nil {
		return
	}
	defer conn.Close()
	// An empty write on stdout tells the client the streams are open.
	_, _ = streams[remotecommand.StreamStdOut].Write(nil)
	status := metav1.Status{Status: metav1.StatusSuccess}
	switch s.behaviour {
	case "echo":
		if q.Get("stdin") == "true" {
			_, _ = io.Copy(streams[remotecommand.StreamStdOut], streams[remotecommand.StreamStdIn])
		} else {
			_, _ = io.WriteString(streams[remotecommand.StreamStdOut], "no stdin")
		}
	case "exit3":
		_, _ = io.WriteString(streams[remotecommand.StreamStdErr], "boom")
		status = metav1.Status{Status: metav1.StatusFailure, Reason: remotecommand.NonZeroExitCodeReason,
			Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: remotecommand.ExitCodeCauseType, Message: "3"}}}}
	case "hang":
		close(s.started)
		<-req.Context().Done()
		return
	}
	b, _ := json.Marshal(status)
	_, _ = streams[remotecommand.StreamErr].Write(b)
}

func (s *execServer) counts() (gets, posts int, command []string, stdin bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.posts, s.command, s.stdin
}

func TestExecStdinAndFallback(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		behaviour  string
		stdin      io.Reader
		cancel     bool // cancel the context once the command runs
		wantStdout string
		wantStderr string
		wantErr    string // "" = success
		wantPosts  int    // SPDY attempts
		wantStdin  bool
	}{
		{name: "stdin reaches the command", behaviour: "echo", stdin: strings.NewReader("hello over stdin"), wantStdout: "hello over stdin", wantStdin: true},
		{name: "nil stdin asks for none", behaviour: "echo", wantStdout: "no stdin"},
		{name: "non-zero exit is final", behaviour: "exit3", wantStderr: "boom", wantErr: "exit code 3"},
		{name: "cancel during the command is final", behaviour: "hang", cancel: true, wantErr: "context canceled"},
		{name: "refused upgrade falls back to SPDY once", behaviour: "refuse", wantErr: "exec", wantPosts: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			es := &execServer{behaviour: tt.behaviour, started: make(chan struct{})}
			srv := httptest.NewServer(es)
			t.Cleanup(srv.Close)
			rc := &rest.Config{Host: srv.URL}
			c, err := kubernetes.NewForConfig(rc)
			if err != nil {
				t.Fatal(err)
			}
			// testTimeout bounds one exec against the local server.
			const testTimeout = 30 * time.Second
			ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
			defer cancel()
			if tt.cancel {
				go func() {
					select {
					case <-es.started:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			argv := []string{"cat", "a b"}
			stdout, stderr, err := Exec(ctx, rc, c, "ns", "p", "exec", argv, tt.stdin)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "pod ns/p")) {
				t.Fatalf("Exec error = %v, want one naming pod ns/p with %q", err, tt.wantErr)
			}
			if string(stdout) != tt.wantStdout || string(stderr) != tt.wantStderr {
				t.Errorf("stdout %q stderr %q, want %q %q", stdout, stderr, tt.wantStdout, tt.wantStderr)
			}
			gets, posts, command, stdin := es.counts()
			if gets != 1 || posts != tt.wantPosts {
				t.Errorf("websocket attempts %d, SPDY attempts %d; want 1, %d", gets, posts, tt.wantPosts)
			}
			if strings.Join(command, "|") != "cat|a b" || stdin != tt.wantStdin {
				t.Errorf("server saw command %q stdin=%v, want %q stdin=%v", command, stdin, argv, tt.wantStdin)
			}
		})
	}
}
