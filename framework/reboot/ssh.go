package reboot

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSH reboots a node over SSH, as Kubernetes' own reboot e2e does: a clean
// `systemctl reboot`, or sysrq b (ungraceful) or c (panic). The command is
// detached (nohup sh -c 'sleep N && ...' &) so that the session returns
// before the machine goes down.
type SSH struct {
	User string
	Port int
	// KeyFile is a private key; AgentSocket an ssh-agent socket. At least one.
	KeyFile     string
	AgentSocket string
	// KnownHosts is checked for the node's host key. InsecureIgnoreHostKey
	// skips that check (logged loudly).
	KnownHosts            string
	InsecureIgnoreHostKey bool
	Mode                  string // reboot, sysrq-b, sysrq-c
	Sudo                  bool
	// Delay before the detached command runs.
	Delay  time.Duration
	Lookup func(ctx context.Context, node string) (NodeInfo, error)
	Log    *slog.Logger
}

// Method names the rebooter.
func (SSH) Method() string { return "ssh" }

// RemoteCommand is the shell command the session runs for the mode.
func (s SSH) RemoteCommand() (string, error) {
	var act string
	switch s.Mode {
	case "", "reboot":
		act = "systemctl reboot"
	case "sysrq-b":
		act = "echo 1 > /proc/sys/kernel/sysrq; echo b > /proc/sysrq-trigger"
	case "sysrq-c":
		act = "echo 1 > /proc/sys/kernel/sysrq; echo c > /proc/sysrq-trigger"
	default:
		return "", fmt.Errorf("ssh rebooter: unknown mode %q (want reboot, sysrq-b or sysrq-c)", s.Mode)
	}
	delay := int(s.Delay.Seconds())
	if delay < 1 {
		delay = 1
	}
	inner := fmt.Sprintf("sleep %d && %s", delay, act)
	cmd := "sh -c " + shellQuote(inner)
	if s.Sudo {
		cmd = "sudo -n " + cmd
	}
	return "nohup " + cmd + " >/dev/null 2>&1 &", nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// sshConnectTimeout bounds the TCP dial and the SSH handshake together: a
// node's sshd answers in well under it, a node that is down never does.
const sshConnectTimeout = 30 * time.Second

// sshCommandTimeout bounds each session command: `sudo -n true` and the
// detached reboot command both return at once.
const sshCommandTimeout = time.Minute

// sudoCheck is run before the reboot command when Sudo is set: sudo must
// work without a password, or the detached reboot would fail unseen.
const sudoCheck = "sudo -n true"

func (s SSH) user() string {
	if s.User == "" {
		return "root"
	}
	return s.User
}

// ClientConfig builds the SSH client configuration for addr (host:port):
// keys, the host key check, and host key algorithms limited to the key
// types known_hosts holds for addr, so that the server offers the key that
// is recorded. The returned func releases the agent connection.
func (s SSH) ClientConfig(ctx context.Context, addr string) (*ssh.ClientConfig, func(), error) {
	var auths []ssh.AuthMethod
	closeFn := func() {}
	if s.KeyFile != "" {
		b, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return nil, closeFn, fmt.Errorf("ssh key: %w", err)
		}
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, closeFn, fmt.Errorf("ssh key %s: %w", s.KeyFile, err)
		}
		auths = append(auths, ssh.PublicKeys(signer))
	}
	if s.AgentSocket != "" {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", s.AgentSocket)
		switch {
		case err != nil && s.KeyFile == "":
			return nil, closeFn, fmt.Errorf("ssh agent %s: %w", s.AgentSocket, err)
		case err != nil:
			// A stale SSH_AUTH_SOCK must not break a key file login.
			if s.Log != nil {
				s.Log.Warn("ssh agent not reachable; using the key file alone", "socket", s.AgentSocket, "keyFile", s.KeyFile, "err", err)
			}
		default:
			closeFn = func() { conn.Close() }
			auths = append(auths, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
		}
	}
	if len(auths) == 0 {
		return nil, closeFn, errors.New("ssh rebooter: no key file and no ssh agent")
	}
	cfg := &ssh.ClientConfig{User: s.user(), Auth: auths, Timeout: sshConnectTimeout}
	switch {
	case s.InsecureIgnoreHostKey:
		if s.Log != nil {
			s.Log.Warn("SSH HOST KEYS ARE NOT CHECKED: insecureIgnoreHostKey is set; anyone on the path can impersonate the node")
		}
		// Any host key will do: the library's default algorithm list.
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey()
	case s.KnownHosts != "":
		cb, err := knownhosts.New(s.KnownHosts)
		if err != nil {
			closeFn()
			return nil, func() {}, fmt.Errorf("known_hosts %s: %w", s.KnownHosts, err)
		}
		algos, err := knownHostKeyAlgorithms(cb, addr)
		if err != nil {
			closeFn()
			return nil, func() {}, fmt.Errorf("known_hosts %s: %w", s.KnownHosts, err)
		}
		cfg.HostKeyCallback = cb
		cfg.HostKeyAlgorithms = algos
	default:
		closeFn()
		return nil, func() {}, errors.New("ssh rebooter: no known_hosts file (host keys are always checked unless insecureIgnoreHostKey is set)")
	}
	return cfg, closeFn, nil
}

// knownHostKeyAlgorithms returns the host key algorithms for the key types
// that the known_hosts callback holds for addr, in file order; nil (the
// library's default list) when it holds none, so that the callback's own
// "unknown host" error is what the caller sees.
//
// knownhosts has no lookup API: the callback is asked about a freshly made
// key that no file can hold, and its KeyError lists the keys it knows for
// the host, after its own matching of patterns, ports and hashed names.
func knownHostKeyAlgorithms(cb ssh.HostKeyCallback, addr string) ([]string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("host key algorithms for %q: %w", addr, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return nil, fmt.Errorf("host key algorithms for %q: port: %w", addr, err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("host key algorithms for %q: probe key: %w", addr, err)
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("host key algorithms for %q: probe key: %w", addr, err)
	}
	remote := &net.TCPAddr{IP: net.ParseIP(host), Port: p}
	var ke *knownhosts.KeyError
	if err := cb(addr, remote, probe); !errors.As(err, &ke) {
		return nil, nil
	}
	supported := append(ssh.SupportedAlgorithms().HostKeys, ssh.InsecureAlgorithms().HostKeys...)
	var algos []string
	for _, k := range ke.Want {
		for _, a := range algorithmsForKeyType(k.Key.Type()) {
			if slices.Contains(supported, a) && !slices.Contains(algos, a) {
				algos = append(algos, a)
			}
		}
	}
	return algos, nil
}

// algorithmsForKeyType is the host key algorithms that sign with a key of
// that type: an RSA key signs with SHA-2 (what OpenSSH 8.8 and later offer)
// or, on old servers, SHA-1; other key types name their one algorithm.
func algorithmsForKeyType(t string) []string {
	if t == ssh.KeyAlgoRSA {
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	}
	return []string{t}
}

// Reboot connects to the node's address and runs the detached command.
// With Sudo, `sudo -n true` is run first in its own session, and the reboot
// is not sent when it fails. ctx bounds the dial, the handshake and each
// session; an interrupted step closes the connection and is named.
func (s SSH) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: s.Method()}
	info := NodeInfo{Name: node, Address: node}
	if s.Lookup != nil {
		var err error
		if info, err = s.Lookup(ctx, node); err != nil {
			return ev, fmt.Errorf("reboot node %q: %w", node, err)
		}
	}
	if info.Address == "" {
		return ev, fmt.Errorf("reboot node %q: node %s has no InternalIP address to ssh to", node, node)
	}
	cmd, err := s.RemoteCommand()
	if err != nil {
		return ev, err
	}
	port := s.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(info.Address, strconv.Itoa(port))
	cfg, closeFn, err := s.ClientConfig(ctx, addr)
	defer closeFn()
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	client, err := s.connect(ctx, addr, cfg, closeFn)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	defer client.Close()
	if s.Sudo {
		out, err := runSession(ctx, client, "sudo check", sudoCheck)
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			return ev, fmt.Errorf("reboot node %q: user %s cannot run sudo without a password on node %s: %s: %w", node, cfg.User, node, strings.TrimSpace(string(out)), err)
		}
		if err != nil {
			return ev, fmt.Errorf("reboot node %q: ssh %s: %w%s", node, addr, err, outputSuffix(out))
		}
	}
	ev.Issued = time.Now()
	out, err := runSession(ctx, client, "reboot command", cmd)
	// The detached command fires after the delay: that is when the reboot
	// starts, and the heartbeat that proves the kubelet is back must be newer.
	ev.Returned = time.Now().Add(max(s.Delay, time.Second))
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: ssh %s: %w%s", node, addr, err, outputSuffix(out))
	}
	ev.Proof = fmt.Sprintf("ran %q over ssh on %s", cmd, addr)
	return ev, nil
}

// connect dials addr and makes the SSH handshake, both within ctx and
// sshConnectTimeout: when either ends first the connection is closed and
// the error names the step.
// connect dials and shakes hands within ctx; abort is also called when ctx
// ends first (it closes the ssh-agent connection, which a hung agent would
// otherwise keep the handshake waiting on).
func (s SSH) connect(ctx context.Context, addr string, cfg *ssh.ClientConfig, abort func()) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, sshConnectTimeout,
		fmt.Errorf("ssh connect took longer than %s: %w", sshConnectTimeout, context.DeadlineExceeded))
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("dial %s interrupted: %w", addr, context.Cause(ctx))
		}
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	// ssh.NewClientConn takes no context: closing the connection is what
	// stops a handshake with a peer that accepted and never speaks.
	stop := context.AfterFunc(ctx, func() { conn.Close(); abort() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if !stop() {
		if err == nil {
			c.Close()
		}
		conn.Close()
		return nil, fmt.Errorf("ssh %s: handshake interrupted: %w", addr, context.Cause(ctx))
	}
	if err != nil {
		conn.Close()
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) > 0 {
				return nil, fmt.Errorf("host key of %s does not match %s (line %d): refusing to connect: %w", addr, s.KnownHosts, ke.Want[0].Line, err)
			}
			return nil, fmt.Errorf("host %s is not in %s: refusing to connect: %w", addr, s.KnownHosts, err)
		}
		return nil, fmt.Errorf("ssh %s: handshake: %w", addr, err)
	}
	return ssh.NewClient(c, chans, reqs), nil
}

// runSession runs cmd in a new session of client within ctx and
// sshCommandTimeout, and returns its combined output. When either ends
// first the client is closed (ending the session) and the error names step.
func runSession(ctx context.Context, client *ssh.Client, step, cmd string) ([]byte, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, sshCommandTimeout,
		fmt.Errorf("ssh %s took longer than %s: %w", step, sshCommandTimeout, context.DeadlineExceeded))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { client.Close() })
	var out []byte
	sess, err := client.NewSession()
	if err == nil {
		out, err = sess.CombinedOutput(cmd)
		sess.Close()
	}
	if !stop() {
		return out, fmt.Errorf("%s %q interrupted: %w", step, cmd, context.Cause(ctx))
	}
	if err != nil {
		return out, fmt.Errorf("%s %q: %w", step, cmd, err)
	}
	return out, nil
}

// outputSuffix is ": output" for an error message, or nothing.
func outputSuffix(out []byte) string {
	if o := strings.TrimSpace(string(out)); o != "" {
		return ": " + o
	}
	return ""
}
