package trace

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The trace agent's line protocol, over the standard streams of
// `copyprobe trace-agent` (ServeAgent) and driven by AgentClient. Lines end
// in "\n"; values are data, never shell text.
//
//	agent:  ready                 the tracer is attached
//	client: begin                 a window starts now, on the tracer's clock
//	agent:  ok begin NS
//	client: end                   the window ends now
//	agent:  ok end NS
//	client: evict "PATH"          drop PATH's page cache as the container sees it
//	agent:  ok evict              (PATH Go-quoted, or the rest of the line as is)
//	client: stop                  (or the end of its input)
//	agent:  one JSON document, an AgentResult; then it exits 0
//
// Any error ends the agent: it stops the tracer, says what went wrong
// (naming the line) on stderr and exits non-zero, and its stdout ends
// without the reply.
const (
	AgentReady = "ready"
	AgentBegin = "begin"
	AgentEnd   = "end"
	AgentEvict = "evict"
	AgentStop  = "stop"
	agentOK    = "ok"
)

// maxAgentLine bounds a command line: a quoted path of PATH_MAX and more.
const maxAgentLine = 64 << 10

// AgentCommand is one line of the client's.
type AgentCommand struct {
	Verb string // AgentBegin, AgentEnd, AgentEvict or AgentStop
	Path string // of AgentEvict: an absolute path in the container
}

// ParseAgentCommand parses a line of the protocol (without its "\n").
func ParseAgentCommand(line string) (AgentCommand, error) {
	verb, arg, hasArg := strings.Cut(line, " ")
	switch verb {
	case AgentBegin, AgentEnd, AgentStop:
		if hasArg {
			return AgentCommand{}, fmt.Errorf("%s takes no argument, got %q: %w", verb, arg, ErrAgentProtocol)
		}
		return AgentCommand{Verb: verb}, nil
	case AgentEvict:
		path := arg
		if strings.HasPrefix(arg, `"`) {
			p, err := strconv.Unquote(arg)
			if err != nil {
				return AgentCommand{}, fmt.Errorf("evict: path %s is not a Go-quoted string: %w", arg, ErrAgentProtocol)
			}
			path = p
		}
		if !strings.HasPrefix(path, "/") || strings.ContainsRune(path, 0) {
			return AgentCommand{}, fmt.Errorf("evict: want an absolute path in the container, got %q: %w", path, ErrAgentProtocol)
		}
		return AgentCommand{Verb: verb, Path: path}, nil
	case "":
		return AgentCommand{}, fmt.Errorf("empty command (want %s, %s, %s PATH or %s): %w", AgentBegin, AgentEnd, AgentEvict, AgentStop, ErrAgentProtocol)
	}
	return AgentCommand{}, fmt.Errorf("unknown command %q (want %s, %s, %s PATH or %s): %w", verb, AgentBegin, AgentEnd, AgentEvict, AgentStop, ErrAgentProtocol)
}

// String is the command as a line of the protocol (without its "\n").
func (c AgentCommand) String() string {
	if c.Verb == AgentEvict {
		return c.Verb + " " + strconv.Quote(c.Path)
	}
	return c.Verb
}

// AgentSession is what ServeAgent drives: an Agent, or a stand-in.
type AgentSession interface {
	Begin(ctx context.Context) (int64, error)
	End(ctx context.Context) (int64, error)
	Evict(ctx context.Context, path string) error
	Stop(ctx context.Context) (*AgentResult, error)
}

type agentLine struct {
	text string
	err  error
}

// ServeAgent speaks the protocol on in and out for a started session, and
// stops it whatever happens: at "stop" or the end of in it writes the
// result; at an error, or when ctx ends, it returns the error (naming the
// line) and writes nothing more.
func ServeAgent(ctx context.Context, s AgentSession, in io.Reader, out io.Writer) (err error) {
	stopped := false
	defer func() {
		if !stopped {
			// The tracer's own resources go whatever the error.
			_, serr := s.Stop(context.WithoutCancel(ctx))
			err = errors.Join(err, serr)
		}
	}()
	if _, err := fmt.Fprintln(out, AgentReady); err != nil {
		return fmt.Errorf("trace agent: write %s: %w", AgentReady, err)
	}
	lines := make(chan agentLine)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 0, 4096), maxAgentLine)
		for sc.Scan() {
			select {
			case lines <- agentLine{text: sc.Text()}:
			case <-done:
				return
			}
		}
		if err := sc.Err(); err != nil {
			select {
			case lines <- agentLine{err: err}:
			case <-done:
			}
		}
	}()
commands:
	for n := 1; ; n++ {
		var l agentLine
		var more bool
		select {
		case <-ctx.Done():
			return fmt.Errorf("trace agent: %w", context.Cause(ctx))
		case l, more = <-lines:
		}
		if !more {
			break commands
		}
		if l.err != nil {
			return fmt.Errorf("trace agent: line %d: %w", n, l.err)
		}
		cmd, err := ParseAgentCommand(l.text)
		if err != nil {
			return fmt.Errorf("trace agent: line %d: %w", n, err)
		}
		var reply string
		switch cmd.Verb {
		case AgentBegin, AgentEnd:
			f := s.Begin
			if cmd.Verb == AgentEnd {
				f = s.End
			}
			ns, err := f(ctx)
			if err != nil {
				return fmt.Errorf("trace agent: line %d: %w", n, err)
			}
			reply = fmt.Sprintf("%s %s %d", agentOK, cmd.Verb, ns)
		case AgentEvict:
			if err := s.Evict(ctx, cmd.Path); err != nil {
				return fmt.Errorf("trace agent: line %d: %w", n, err)
			}
			reply = agentOK + " " + AgentEvict
		}
		if cmd.Verb == AgentStop {
			break commands
		}
		if _, err := fmt.Fprintln(out, reply); err != nil {
			return fmt.Errorf("trace agent: line %d: write reply: %w", n, err)
		}
	}
	stopped = true
	res, err := s.Stop(ctx)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(out).Encode(res); err != nil {
		return fmt.Errorf("trace agent: write result: %w", err)
	}
	return nil
}

// AgentClient drives a trace agent over its standard streams. A call
// blocked on a reply returns when the agent's output ends: whoever runs
// the agent ends it (its exec's context) to unblock a call.
type AgentClient struct {
	stdin io.Writer
	out   *bufio.Reader
}

// NewAgentClient speaks to an agent whose standard input is stdin and
// standard output stdout.
func NewAgentClient(stdin io.Writer, stdout io.Reader) *AgentClient {
	return &AgentClient{stdin: stdin, out: bufio.NewReaderSize(stdout, maxAgentLine)}
}

// ErrAgentEnded is an agent whose output ended before the reply: it
// failed (its stderr says why) or was ended.
var ErrAgentEnded = errors.New("the trace agent ended without a reply")

func (c *AgentClient) readLine(what string) (string, error) {
	line, err := c.out.ReadString('\n')
	if errors.Is(err, io.EOF) {
		if line != "" {
			return "", fmt.Errorf("%s: %w (it wrote %q)", what, ErrAgentEnded, line)
		}
		return "", fmt.Errorf("%s: %w", what, ErrAgentEnded)
	}
	if err != nil {
		return "", fmt.Errorf("%s: read the agent's reply: %w", what, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// Ready waits for the agent's tracer to be attached.
func (c *AgentClient) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	line, err := c.readLine("wait for the trace agent")
	if err != nil {
		return err
	}
	if line != AgentReady {
		return fmt.Errorf("wait for the trace agent: got %q, want %q: %w", line, AgentReady, ErrAgentProtocol)
	}
	return nil
}

// call sends cmd and returns the value after "ok VERB".
func (c *AgentClient) call(ctx context.Context, cmd AgentCommand) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c.stdin, cmd.String()+"\n"); err != nil {
		return "", fmt.Errorf("trace agent %s: send: %w", cmd.Verb, err)
	}
	line, err := c.readLine("trace agent " + cmd.Verb)
	if err != nil {
		return "", err
	}
	rest, ok := strings.CutPrefix(line, agentOK+" "+cmd.Verb)
	if !ok || (rest != "" && !strings.HasPrefix(rest, " ")) {
		return "", fmt.Errorf("trace agent %s: got %q, want %q: %w", cmd.Verb, line, agentOK+" "+cmd.Verb, ErrAgentProtocol)
	}
	return strings.TrimPrefix(rest, " "), nil
}

func (c *AgentClient) mark(ctx context.Context, verb string) (int64, error) {
	v, err := c.call(ctx, AgentCommand{Verb: verb})
	if err != nil {
		return 0, err
	}
	ns, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("trace agent %s: time %q: %w", verb, v, ErrAgentProtocol)
	}
	return ns, nil
}

// Begin starts a window; it returns its start on the agent's clock.
func (c *AgentClient) Begin(ctx context.Context) (int64, error) { return c.mark(ctx, AgentBegin) }

// End ends the window; it returns its end on the agent's clock.
func (c *AgentClient) End(ctx context.Context) (int64, error) { return c.mark(ctx, AgentEnd) }

// Evict drops path's page cache as the container sees it.
func (c *AgentClient) Evict(ctx context.Context, path string) error {
	_, err := c.call(ctx, AgentCommand{Verb: AgentEvict, Path: path})
	return err
}

// Stop asks the agent to stop and decodes its result.
func (c *AgentClient) Stop(ctx context.Context) (*AgentResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c.stdin, AgentStop+"\n"); err != nil {
		return nil, fmt.Errorf("trace agent stop: send: %w", err)
	}
	var res AgentResult
	dec := json.NewDecoder(c.out)
	if err := dec.Decode(&res); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("trace agent stop: %w", ErrAgentEnded)
		}
		return nil, fmt.Errorf("trace agent stop: decode its result: %w", err)
	}
	if res.Schema != AgentSchema || res.Result == nil {
		return nil, fmt.Errorf("trace agent stop: a document of schema %q with result %t, want %s with one: %w", res.Schema, res.Result != nil, AgentSchema, ErrAgentProtocol)
	}
	return &res, nil
}
