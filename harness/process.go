package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a program running in a node's namespaces, its stdout and
// stderr appended to a log file.
type Process struct {
	// LogPath is the file its stdout and stderr go to.
	LogPath string

	cmd   *exec.Cmd
	log   *os.File
	done  chan struct{}
	state *os.ProcessState // set when done is closed
	err   error            // Wait's error, set when done is closed
}

// ErrNotExited is returned by Process.Wait when the process is still
// running at the deadline.
var ErrNotExited = errors.New("process did not exit in time")

// Start runs args[0] with args[1:] inside the node's namespaces (see
// Command), with env added to the test's environment and its output
// appended to logPath. The process is sent SIGKILL if the test process
// dies, and in t.Cleanup it gets SIGTERM, then SIGKILL after 5 s.
func (n *Node) Start(t testing.TB, logPath string, env []string, args ...string) *Process {
	t.Helper()
	if len(args) == 0 {
		t.Fatalf("harness: Start on node %s: no program given", n.Name)
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("harness: log of %s: %v", n.Name, err)
	}
	cmd := n.Command(context.Background(), args[0], args[1:]...)
	cmd.Env = append(Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	// `ip netns exec` execs the program in place, so the pid is the
	// program's and the death signal carries over.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		log.Close()
		t.Fatalf("harness: start %v in %s: %v", args, n.NS, err)
	}
	p := &Process{LogPath: logPath, cmd: cmd, log: log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		p.state = cmd.ProcessState
		log.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if !p.Running() {
			return
		}
		p.Signal(syscall.SIGTERM)
		if _, err := p.Wait(5 * time.Second); err != nil {
			p.Kill()
		}
	})
	return p
}

// PID is the process id (in the host's pid namespace).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Root is /proc/PID/root: the root of the process's mount namespace, so
// Root()+"/x" is what the process sees at /x.
func (p *Process) Root() string { return "/proc/" + strconv.Itoa(p.PID()) + "/root" }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Running tells whether the process has not exited yet.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Signal sends sig to the process; it does nothing once the process exited.
func (p *Process) Signal(sig syscall.Signal) {
	if p.Running() {
		p.cmd.Process.Signal(sig)
	}
}

// Wait waits up to timeout for the process to exit and returns how it
// exited, or ErrNotExited.
func (p *Process) Wait(timeout time.Duration) (*os.ProcessState, error) {
	select {
	case <-p.done:
		return p.state, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("pid %d after %v: %w", p.PID(), timeout, ErrNotExited)
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() *os.ProcessState {
	p.Signal(syscall.SIGKILL)
	<-p.done
	return p.state
}

// Environ is the environment the harness gives the programs it runs: the
// test's, with atexit_sleep_ms=0 added to GORACE, so that a program built
// with -race does not sleep a second each time it exits (its reports of
// races are not affected).
func Environ() []string {
	env := os.Environ()
	for i, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GORACE="); ok {
			if !strings.Contains(v, "atexit_sleep_ms") {
				env[i] = strings.TrimSpace(kv + " atexit_sleep_ms=0")
			}
			return env
		}
	}
	return append(env, "GORACE=atexit_sleep_ms=0")
}

// Tail returns the last n lines of the file at path ("" if it cannot be read).
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	b = bytes.TrimRight(b, "\n")
	i := len(b)
	for ; n > 0 && i > 0; n-- {
		i = bytes.LastIndexByte(b[:i], '\n')
		if i < 0 {
			i = 0
			break
		}
	}
	return string(bytes.TrimLeft(b[i:], "\n"))
}
