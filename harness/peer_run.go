package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// StopTimeout is how long `real run` has to exit after SIGTERM (a contract).
const StopTimeout = 5 * time.Second

// Start runs `real run --store S --mount M` in the peer's namespaces and
// waits until it is ready (WaitReady). It fails the test if the peer is
// already running.
func (p *Peer) Start() {
	p.h.t.Helper()
	p.Spawn()
	p.WaitReady(DefaultTimeout)
}

// Spawn is Start without waiting for ready.
func (p *Peer) Spawn() {
	t := p.h.t
	t.Helper()
	if p.Running() {
		t.Fatalf("harness: %s is already running (pid %d)", p, p.proc.PID())
	}
	p.starts++
	if f, err := os.OpenFile(p.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		fmt.Fprintf(f, "=== harness: start #%d of %s at %s ===\n", p.starts, p.Name, time.Now().Format(time.RFC3339Nano))
		f.Close()
	}
	args := []string{"run", "--store", p.Store, "--mount", p.Mount}
	if os.Getenv("REAL_TEST_VERBOSE") != "" {
		args = append(args, "--verbose")
	}
	p.proc = p.Node.Start(t, p.LogPath, nil, append([]string{p.h.Bin}, args...)...)
}

// Running tells whether the peer's process is up.
func (p *Peer) Running() bool { return p.proc != nil && p.proc.Running() }

// PID is the peer's process id; it fails the test if the peer is not running.
func (p *Peer) PID() int {
	p.h.t.Helper()
	p.mustRun()
	return p.proc.PID()
}

// Process is the peer's current (or last) process, nil before the first Start.
func (p *Peer) Process() *Process { return p.proc }

// WaitReady waits until the peer's Unreal (fuse at STORE/lower) and overlay
// (at the mount dir) are mounted in its mount namespace and every arena is
// a directory in its merged view. It fails the test, with the peer's log,
// if the process exits first or timeout passes.
func (p *Peer) WaitReady(timeout time.Duration) {
	t := p.h.t
	t.Helper()
	if p.proc == nil {
		t.Fatalf("harness: WaitReady: %s was never started", p)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := p.ready()
		if err == nil {
			return
		}
		if !p.proc.Running() {
			t.Fatalf("harness: %s exited (%v) before it was ready (%v); log:\n%s", p, p.proc.state, err, Tail(p.LogPath, LogLines))
		}
		if time.Now().After(deadline) {
			t.Fatalf("harness: %s not ready within %v: %v; log:\n%s", p, timeout, err, Tail(p.LogPath, LogLines))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *Peer) ready() error {
	ms, err := Mounts("/proc/" + strconv.Itoa(p.proc.PID()) + "/mounts")
	if err != nil {
		return err
	}
	lower, merged := filepath.Join(p.Store, "lower"), filepath.Clean(p.Mount)
	var haveLower, haveMerged bool
	for _, m := range ms {
		switch {
		case m.Point == lower && (m.FSType == "fuse" || len(m.FSType) > 5 && m.FSType[:5] == "fuse."):
			haveLower = true
		case m.Point == merged && m.FSType == "overlay":
			haveMerged = true
		}
	}
	if !haveLower {
		return fmt.Errorf("no fuse mount at %s yet", lower)
	}
	if !haveMerged {
		return fmt.Errorf("no overlay mount at %s yet", merged)
	}
	for _, a := range p.h.Arenas {
		fi, err := os.Stat(p.path(a.Name))
		if err != nil {
			return fmt.Errorf("arena %s in the merged view: %w", a.Name, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("arena %s in the merged view is %v, not a directory", a.Name, fi.Mode())
		}
	}
	return nil
}

// Stop sends SIGTERM and fails the test unless the peer exits with status 0
// within StopTimeout (it is then killed).
func (p *Peer) Stop() {
	t := p.h.t
	t.Helper()
	p.mustRun()
	p.proc.Signal(syscall.SIGTERM)
	st, err := p.proc.Wait(StopTimeout)
	if errors.Is(err, ErrNotExited) {
		p.proc.Kill()
		t.Fatalf("harness: %s did not exit within %v of SIGTERM (killed); log:\n%s", p, StopTimeout, Tail(p.LogPath, LogLines))
	}
	if !st.Success() {
		t.Fatalf("harness: %s exited with %v after SIGTERM, want status 0; log:\n%s", p, st, Tail(p.LogPath, LogLines))
	}
}

// Kill sends SIGKILL and waits for the process to be gone, as a crash
// would: its mount namespace, and so its mounts, vanish with it.
func (p *Peer) Kill() {
	p.h.t.Helper()
	p.mustRun()
	p.proc.Kill()
}

// Restart is Stop then Start.
func (p *Peer) Restart() {
	p.h.t.Helper()
	p.Stop()
	p.Start()
}

func (p *Peer) mustRun() {
	p.h.t.Helper()
	if !p.Running() {
		p.h.t.Fatalf("harness: %s is not running", p)
	}
}
