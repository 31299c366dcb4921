package reboot

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
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

// ClientConfig builds the SSH client configuration: keys and host key check.
func (s SSH) ClientConfig() (*ssh.ClientConfig, func(), error) {
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
		conn, err := net.Dial("unix", s.AgentSocket)
		if err != nil {
			return nil, closeFn, fmt.Errorf("ssh agent %s: %w", s.AgentSocket, err)
		}
		closeFn = func() { conn.Close() }
		auths = append(auths, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	if len(auths) == 0 {
		return nil, closeFn, errors.New("ssh rebooter: no key file and no ssh agent")
	}
	var hk ssh.HostKeyCallback
	switch {
	case s.InsecureIgnoreHostKey:
		if s.Log != nil {
			s.Log.Warn("SSH HOST KEYS ARE NOT CHECKED: insecureIgnoreHostKey is set; anyone on the path can impersonate the node")
		}
		hk = ssh.InsecureIgnoreHostKey()
	case s.KnownHosts != "":
		cb, err := knownhosts.New(s.KnownHosts)
		if err != nil {
			return nil, closeFn, fmt.Errorf("known_hosts %s: %w", s.KnownHosts, err)
		}
		hk = cb
	default:
		return nil, closeFn, errors.New("ssh rebooter: no known_hosts file (host keys are always checked unless insecureIgnoreHostKey is set)")
	}
	user := s.User
	if user == "" {
		user = "root"
	}
	return &ssh.ClientConfig{User: user, Auth: auths, HostKeyCallback: hk, Timeout: 30 * time.Second,
		// Ask for ed25519 first: it is what ssh-keyscan and OpenSSH record by
		// default, and the host key offered must be the one known_hosts holds.
		HostKeyAlgorithms: []string{ssh.KeyAlgoED25519, ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256},
	}, closeFn, nil
}

// Reboot connects to the node's address and runs the detached command.
func (s SSH) Reboot(ctx context.Context, node string) (Event, error) {
	ev := Event{Node: node, Method: s.Method()}
	info := NodeInfo{Name: node, Address: node}
	if s.Lookup != nil {
		var err error
		if info, err = s.Lookup(ctx, node); err != nil {
			return ev, fmt.Errorf("reboot node %q: %w", node, err)
		}
	}
	cmd, err := s.RemoteCommand()
	if err != nil {
		return ev, err
	}
	cfg, closeFn, err := s.ClientConfig()
	defer closeFn()
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: %w", node, err)
	}
	port := s.Port
	if port == 0 {
		port = 22
	}
	addr := net.JoinHostPort(info.Address, strconv.Itoa(port))
	d := net.Dialer{Timeout: cfg.Timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: dial %s: %w", node, addr, err)
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		var ke *knownhosts.KeyError
		if errors.As(err, &ke) {
			if len(ke.Want) > 0 {
				return ev, fmt.Errorf("reboot node %q: host key of %s does not match %s (line %d): refusing to connect: %w", node, addr, s.KnownHosts, ke.Want[0].Line, err)
			}
			return ev, fmt.Errorf("reboot node %q: host %s is not in %s: refusing to connect: %w", node, addr, s.KnownHosts, err)
		}
		return ev, fmt.Errorf("reboot node %q: ssh %s: %w", node, addr, err)
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: ssh session: %w", node, err)
	}
	defer sess.Close()
	ev.Issued = time.Now()
	out, err := sess.CombinedOutput(cmd)
	// The detached command fires after the delay: that is when the reboot
	// starts, and the heartbeat that proves the kubelet is back must be newer.
	ev.Returned = time.Now().Add(max(s.Delay, time.Second))
	if err != nil {
		return ev, fmt.Errorf("reboot node %q: ssh %s %q: %w: %s", node, addr, cmd, err, strings.TrimSpace(string(out)))
	}
	ev.Proof = fmt.Sprintf("ran %q over ssh on %s", cmd, addr)
	return ev, nil
}
