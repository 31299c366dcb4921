package reboot

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// sshTestTimeout bounds each test against servers on 127.0.0.1 that answer
// at once; the tests that need a shorter bound set their own.
const sshTestTimeout = 30 * time.Second

// testKeyset holds the host keys of the test servers and the client key.
type testKeyset struct {
	host      map[string]ssh.Signer // rsa, ecdsa, ed25519, other-ed25519
	client    ssh.Signer
	clientKey ed25519.PrivateKey
}

// testKeys are made once: RSA generation is slow under -race.
var testKeys = sync.OnceValues(func() (*testKeyset, error) {
	ks := &testKeyset{host: map[string]ssh.Signer{}}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	_, dk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, otherDK, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if _, ks.clientKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		return nil, err
	}
	for name, k := range map[string]any{"rsa": rk, "ecdsa": ek, "ed25519": dk, "other-ed25519": otherDK} {
		if ks.host[name], err = ssh.NewSignerFromKey(k); err != nil {
			return nil, err
		}
	}
	if ks.client, err = ssh.NewSignerFromKey(ks.clientKey); err != nil {
		return nil, err
	}
	return ks, nil
})

func keys(t *testing.T) *testKeyset {
	t.Helper()
	k, err := testKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// clientKeyFile writes the client's private key as an OpenSSH key file.
func clientKeyFile(t *testing.T) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(keys(t).clientKey, "")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sshServer is an sshd on 127.0.0.1 with the given host keys that accepts
// the client key and answers exec requests with reply.
type sshServer struct {
	addr  string
	port  int
	reply func(cmd string) (out string, status uint32, hang bool)
	// execs receives each command as it arrives.
	execs chan string

	mu    sync.Mutex
	cmds  []string
	users []string
}

func newSSHServer(t *testing.T, hostKeys []ssh.Signer, reply func(string) (string, uint32, bool)) *sshServer {
	t.Helper()
	clientPub := keys(t).client.PublicKey()
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if bytes.Equal(k.Marshal(), clientPub.Marshal()) {
			return nil, nil
		}
		return nil, errors.New("unknown key")
	}}
	for _, k := range hostKeys {
		cfg.AddHostKey(k)
	}
	if reply == nil {
		reply = func(string) (string, uint32, bool) { return "", 0, false }
	}
	s := &sshServer{reply: reply, execs: make(chan string, 16)}
	ln := listen(t)
	s.addr, s.port = splitAddr(t, ln.Addr().String())
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn, cfg)
		}
	}()
	return s
}

func (s *sshServer) serve(conn net.Conn, cfg *ssh.ServerConfig) {
	defer conn.Close()
	sc, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		return
	}
	defer sc.Close()
	s.mu.Lock()
	s.users = append(s.users, sc.User())
	s.mu.Unlock()
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "sessions only")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			return
		}
		go s.session(ch, creqs)
	}
}

func (s *sshServer) session(ch ssh.Channel, reqs <-chan *ssh.Request) {
	defer ch.Close()
	for req := range reqs {
		if req.Type != "exec" {
			_ = req.Reply(false, nil)
			continue
		}
		var p struct{ Command string }
		if err := ssh.Unmarshal(req.Payload, &p); err != nil {
			_ = req.Reply(false, nil)
			return
		}
		_ = req.Reply(true, nil)
		s.mu.Lock()
		s.cmds = append(s.cmds, p.Command)
		s.mu.Unlock()
		s.execs <- p.Command
		out, status, hang := s.reply(p.Command)
		if hang {
			// Until the client goes away.
			_, _ = io.Copy(io.Discard, ch)
			return
		}
		_, _ = io.WriteString(ch, out)
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{status}))
		return
	}
}

func (s *sshServer) seen() (cmds, users []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.cmds), slices.Clone(s.users)
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func splitAddr(t *testing.T, hostport string) (string, int) {
	t.Helper()
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return host, p
}

// knownHostsLine is a known_hosts line for addr, its host hashed or not.
func knownHostsLine(addr string, key ssh.PublicKey, hashed bool) string {
	if hashed {
		return knownhosts.HashHostname(knownhosts.Normalize(addr)) + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(key)))
	}
	return knownhosts.Line([]string{addr}, key)
}

func writeKnownHosts(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func lookup(addr string) func(context.Context, string) (NodeInfo, error) {
	return func(_ context.Context, node string) (NodeInfo, error) {
		return NodeInfo{Name: node, Address: addr}, nil
	}
}

func TestSSHRemoteCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    SSH
		want string
	}{
		{SSH{Mode: "reboot"}, `nohup sh -c 'sleep 1 && systemctl reboot' >/dev/null 2>&1 &`},
		{SSH{Mode: "sysrq-b", Sudo: true}, `nohup sudo -n sh -c 'sleep 1 && echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger' >/dev/null 2>&1 &`},
		{SSH{Mode: "sysrq-c"}, `echo c > /proc/sysrq-trigger`},
		{SSH{Mode: "reboot", Delay: 5 * time.Second}, `nohup sh -c 'sleep 5 && systemctl reboot' >/dev/null 2>&1 &`},
	}
	for _, tt := range tests {
		got, err := tt.s.RemoteCommand()
		if err != nil || !strings.Contains(got, tt.want) {
			t.Errorf("RemoteCommand(%+v) = %q, %v; want %q", tt.s, got, err, tt.want)
		}
	}
	if _, err := (SSH{Mode: "yank"}).RemoteCommand(); err == nil {
		t.Error("unknown mode accepted")
	}
}

func TestSSHClientConfigRefusals(t *testing.T) {
	t.Parallel()
	key := clientKeyFile(t)
	tests := []struct {
		name string
		s    SSH
		want string
	}{
		{name: "missing key file", s: SSH{KeyFile: "/nonexistent"}, want: "ssh key"},
		{name: "no key and no agent", s: SSH{}, want: "no key file"},
		{name: "stale agent and no key", s: SSH{AgentSocket: filepath.Join(t.TempDir(), "gone.sock")}, want: "ssh agent"},
		{name: "no host key check", s: SSH{KeyFile: key}, want: "no known_hosts file"},
		{name: "unreadable known_hosts", s: SSH{KeyFile: key, KnownHosts: "/nonexistent"}, want: "known_hosts /nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, closeFn, err := tt.s.ClientConfig(t.Context(), "10.0.0.5:22")
			closeFn()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ClientConfig: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestKnownHostKeyAlgorithms(t *testing.T) {
	t.Parallel()
	k := keys(t)
	rsaKey, ecdsaKey, edKey := k.host["rsa"].PublicKey(), k.host["ecdsa"].PublicKey(), k.host["ed25519"].PublicKey()
	rsaAlgos := []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	tests := []struct {
		name  string
		addr  string
		lines []string
		want  []string // nil = the library default
	}{
		{name: "rsa entry offers SHA-2 first", addr: "10.0.0.5:22", lines: []string{knownHostsLine("10.0.0.5", rsaKey, false)}, want: rsaAlgos},
		{name: "ecdsa entry", addr: "10.0.0.5:22", lines: []string{knownHostsLine("10.0.0.5", ecdsaKey, false)}, want: []string{ssh.KeyAlgoECDSA256}},
		{name: "two entries in file order", addr: "10.0.0.5:22",
			lines: []string{knownHostsLine("10.0.0.5", edKey, false), knownHostsLine("10.0.0.5", rsaKey, false)},
			want:  append([]string{ssh.KeyAlgoED25519}, rsaAlgos...)},
		{name: "hashed entry", addr: "10.0.0.5:22", lines: []string{knownHostsLine("10.0.0.5", ecdsaKey, true)}, want: []string{ssh.KeyAlgoECDSA256}},
		{name: "non-default port", addr: "10.0.0.5:2222",
			lines: []string{knownHostsLine("10.0.0.5", edKey, false), knownHostsLine("10.0.0.5:2222", rsaKey, false)}, want: rsaAlgos},
		{name: "wildcard pattern", addr: "10.0.0.5:22", lines: []string{"10.0.0.* " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ecdsaKey)))}, want: []string{ssh.KeyAlgoECDSA256}},
		{name: "other hosts only", addr: "10.0.0.5:22", lines: []string{knownHostsLine("10.0.0.6", rsaKey, false), knownHostsLine("10.0.0.5:2222", rsaKey, false)}},
		{name: "negated", addr: "10.0.0.5:22", lines: []string{"!10.0.0.5,10.0.0.* " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(rsaKey)))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := SSH{KeyFile: clientKeyFile(t), KnownHosts: writeKnownHosts(t, tt.lines...)}
			cfg, closeFn, err := s.ClientConfig(t.Context(), tt.addr)
			defer closeFn()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(cfg.HostKeyAlgorithms, tt.want) {
				t.Errorf("host key algorithms %q, want %q", cfg.HostKeyAlgorithms, tt.want)
			}
		})
	}
	cfg, closeFn, err := SSH{KeyFile: clientKeyFile(t), InsecureIgnoreHostKey: true}.ClientConfig(t.Context(), "10.0.0.5:22")
	defer closeFn()
	if err != nil || cfg.HostKeyAlgorithms != nil {
		t.Errorf("insecureIgnoreHostKey: algorithms %q, %v; want the library default", cfg.HostKeyAlgorithms, err)
	}
}

func TestSSHRebootChecksTheRecordedHostKey(t *testing.T) {
	t.Parallel()
	k := keys(t)
	all := []ssh.Signer{k.host["ed25519"], k.host["ecdsa"], k.host["rsa"]}
	tests := []struct {
		name     string
		hostKeys []ssh.Signer
		known    func(addr string) []string // nil = insecureIgnoreHostKey
		wantErr  string                     // "" = rebooted
	}{
		{name: "rsa-only server", hostKeys: []ssh.Signer{k.host["rsa"]},
			known: func(a string) []string { return []string{knownHostsLine(a, k.host["rsa"].PublicKey(), false)} }},
		{name: "ecdsa-only server", hostKeys: []ssh.Signer{k.host["ecdsa"]},
			known: func(a string) []string { return []string{knownHostsLine(a, k.host["ecdsa"].PublicKey(), false)} }},
		{name: "ed25519-only server", hostKeys: []ssh.Signer{k.host["ed25519"]},
			known: func(a string) []string { return []string{knownHostsLine(a, k.host["ed25519"].PublicKey(), false)} }},
		{name: "server with every key type, rsa recorded", hostKeys: all,
			known: func(a string) []string { return []string{knownHostsLine(a, k.host["rsa"].PublicKey(), false)} }},
		{name: "server with every key type, ecdsa recorded hashed", hostKeys: all,
			known: func(a string) []string { return []string{knownHostsLine(a, k.host["ecdsa"].PublicKey(), true)} }},
		{name: "recorded key of the same type differs", hostKeys: all,
			known: func(a string) []string {
				return []string{knownHostsLine(a, k.host["other-ed25519"].PublicKey(), false)}
			},
			wantErr: "does not match"},
		{name: "host not recorded", hostKeys: all,
			known: func(string) []string {
				return []string{knownHostsLine("192.0.2.1", k.host["ed25519"].PublicKey(), false)}
			},
			wantErr: "is not in"},
		{name: "insecureIgnoreHostKey", hostKeys: []ssh.Signer{k.host["rsa"]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSSHServer(t, tt.hostKeys, nil)
			s := SSH{Port: srv.port, KeyFile: clientKeyFile(t), Mode: "reboot", Lookup: lookup(srv.addr)}
			if tt.known != nil {
				s.KnownHosts = writeKnownHosts(t, tt.known(net.JoinHostPort(srv.addr, strconv.Itoa(srv.port)))...)
			} else {
				s.InsecureIgnoreHostKey = true
			}
			ctx, cancel := context.WithTimeout(t.Context(), sshTestTimeout)
			defer cancel()
			ev, err := s.Reboot(ctx, "n1")
			cmds, _ := srv.seen()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "refusing to connect") {
					t.Fatalf("Reboot: %v, want a refusal with %q", err, tt.wantErr)
				}
				if len(cmds) > 0 {
					t.Errorf("ran %q on a host whose key was refused", cmds)
				}
				return
			}
			if err != nil {
				t.Fatalf("Reboot: %v", err)
			}
			want, _ := s.RemoteCommand()
			if !slices.Equal(cmds, []string{want}) || !strings.Contains(ev.Proof, "over ssh on "+srv.addr) {
				t.Errorf("server ran %q (proof %q), want %q", cmds, ev.Proof, want)
			}
		})
	}
}

func TestSSHSudoIsCheckedFirst(t *testing.T) {
	t.Parallel()
	k := keys(t)
	sudoReboot, _ := SSH{Mode: "reboot", Sudo: true}.RemoteCommand()
	plainReboot, _ := SSH{Mode: "reboot"}.RemoteCommand()
	tests := []struct {
		name     string
		sudo     bool
		sudoOut  string
		sudoExit uint32
		wantErr  string
		wantCmds []string
	}{
		{name: "password needed", sudo: true, sudoOut: "sudo: a password is required\n", sudoExit: 1,
			wantErr:  "user alice cannot run sudo without a password on node n1: sudo: a password is required",
			wantCmds: []string{"sudo -n true"}},
		{name: "passwordless sudo", sudo: true, wantCmds: []string{"sudo -n true", sudoReboot}},
		{name: "no sudo", wantCmds: []string{plainReboot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSSHServer(t, []ssh.Signer{k.host["ed25519"]}, func(cmd string) (string, uint32, bool) {
				if cmd == "sudo -n true" {
					return tt.sudoOut, tt.sudoExit, false
				}
				return "", 0, false
			})
			addr := net.JoinHostPort(srv.addr, strconv.Itoa(srv.port))
			s := SSH{User: "alice", Port: srv.port, KeyFile: clientKeyFile(t), Mode: "reboot", Sudo: tt.sudo, Lookup: lookup(srv.addr),
				KnownHosts: writeKnownHosts(t, knownHostsLine(addr, k.host["ed25519"].PublicKey(), false))}
			ctx, cancel := context.WithTimeout(t.Context(), sshTestTimeout)
			defer cancel()
			_, err := s.Reboot(ctx, "n1")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Reboot: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Reboot: %v, want %q", err, tt.wantErr)
			}
			cmds, users := srv.seen()
			if !slices.Equal(cmds, tt.wantCmds) {
				t.Errorf("server ran %q, want %q", cmds, tt.wantCmds)
			}
			if len(users) != 1 || users[0] != "alice" {
				t.Errorf("logins %q, want one as alice", users)
			}
		})
	}
}

func TestSSHRebootIsBoundedByTheContext(t *testing.T) {
	t.Parallel()
	k := keys(t)
	// silent accepts connections and never speaks; started is closed once
	// the client has begun its handshake (its version line arrived).
	silent := func(t *testing.T) (addr string, port int, started chan struct{}) {
		ln := listen(t)
		started = make(chan struct{})
		go func() {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
			b := make([]byte, 4)
			if _, err := io.ReadFull(conn, b); err == nil && string(b) == "SSH-" {
				close(started)
			}
			_, _ = io.Copy(io.Discard, conn)
		}()
		addr, port = splitAddr(t, ln.Addr().String())
		return addr, port, started
	}
	tests := []struct {
		name      string
		server    func(t *testing.T) (addr string, port int, started chan struct{})
		deadline  time.Duration // 0 = cancel once started
		wantErr   string
		wantCause error
	}{
		{name: "handshake with a silent peer, deadline", server: silent, deadline: 300 * time.Millisecond,
			wantErr: "handshake interrupted", wantCause: context.DeadlineExceeded},
		{name: "handshake with a silent peer, cancelled", server: silent,
			wantErr: "handshake interrupted", wantCause: context.Canceled},
		{name: "reboot command that never returns, cancelled", server: func(t *testing.T) (string, int, chan struct{}) {
			started := make(chan struct{})
			srv := newSSHServer(t, []ssh.Signer{k.host["ed25519"]}, func(string) (string, uint32, bool) { return "", 0, true })
			go func() {
				<-srv.execs
				close(started)
			}()
			return srv.addr, srv.port, started
		}, wantErr: "reboot command", wantCause: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr, port, started := tt.server(t)
			hostport := net.JoinHostPort(addr, strconv.Itoa(port))
			s := SSH{Port: port, KeyFile: clientKeyFile(t), Mode: "reboot", Lookup: lookup(addr),
				KnownHosts: writeKnownHosts(t, knownHostsLine(hostport, k.host["ed25519"].PublicKey(), false))}
			ctx, cancel := context.WithTimeout(t.Context(), sshTestTimeout)
			defer cancel()
			if tt.deadline > 0 {
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			} else {
				go func() {
					select {
					case <-started:
						cancel()
					case <-ctx.Done():
					}
				}()
			}
			_, err := s.Reboot(ctx, "n1")
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "interrupted") || !errors.Is(err, tt.wantCause) {
				t.Fatalf("Reboot: %v, want %q interrupted by %v", err, tt.wantErr, tt.wantCause)
			}
		})
	}
}

func TestSSHAuthentication(t *testing.T) {
	t.Parallel()
	k := keys(t)
	tests := []struct {
		name    string
		keyFile bool
		agent   string // "", "stale" or "live"
		wantErr string
		wantLog string
	}{
		{name: "key file", keyFile: true},
		{name: "stale agent beside a key file is ignored", keyFile: true, agent: "stale", wantLog: "ssh agent not reachable"},
		{name: "stale agent alone is an error", agent: "stale", wantErr: "ssh agent"},
		{name: "live agent alone", agent: "live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSSHServer(t, []ssh.Signer{k.host["ecdsa"]}, nil)
			addr := net.JoinHostPort(srv.addr, strconv.Itoa(srv.port))
			var logs bytes.Buffer
			s := SSH{Port: srv.port, Mode: "reboot", Lookup: lookup(srv.addr),
				KnownHosts: writeKnownHosts(t, knownHostsLine(addr, k.host["ecdsa"].PublicKey(), false)),
				Log:        slog.New(slog.NewTextHandler(&logs, nil))}
			if tt.keyFile {
				s.KeyFile = clientKeyFile(t)
			}
			switch tt.agent {
			case "stale":
				s.AgentSocket = filepath.Join(t.TempDir(), "agent.sock")
			case "live":
				s.AgentSocket = serveAgent(t, k.clientKey)
			}
			ctx, cancel := context.WithTimeout(t.Context(), sshTestTimeout)
			defer cancel()
			_, err := s.Reboot(ctx, "n1")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Reboot: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Reboot: %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log %q lacks %q", logs.String(), tt.wantLog)
			}
		})
	}
}

// serveAgent runs an ssh-agent holding key on a unix socket; the path is
// kept short for the 108-byte socket path limit.
func serveAgent(t *testing.T, key ed25519.PrivateKey) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "agent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	kr := agent.NewKeyring()
	if err := kr.Add(agent.AddedKey{PrivateKey: key}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = agent.ServeAgent(kr, conn)
			}()
		}
	}()
	return path
}

func TestSSHRefusesBeforeDialling(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		s    SSH
		want string
	}{
		{name: "node without InternalIP", s: SSH{Mode: "reboot", Lookup: func(_ context.Context, n string) (NodeInfo, error) { return NodeInfo{Name: n}, nil }},
			want: "node n1 has no InternalIP address to ssh to"},
		{name: "lookup fails", s: SSH{Mode: "reboot", Lookup: func(context.Context, string) (NodeInfo, error) {
			return NodeInfo{}, errors.New("nodes \"n1\" not found")
		}},
			want: `reboot node "n1": nodes "n1" not found`},
		{name: "unknown mode", s: SSH{Mode: "yank", Lookup: lookup("127.0.0.1")}, want: "unknown mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.s.Reboot(t.Context(), "n1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Reboot: %v, want %q", err, tt.want)
			}
		})
	}
}
