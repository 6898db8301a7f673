package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/daemon"
	"github.com/realsync/real/privtest"
)

// daemonProc is `real run` as a child process.
type daemonProc struct {
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan error
}

// lockedBuffer collects a child's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func self(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), "REAL_CLI_MAIN=1")
	return c
}

func startRun(t *testing.T, store, mount string) *daemonProc {
	t.Helper()
	p := &daemonProc{cmd: self(t, "run", "--store", store, "--mount", mount), out: &lockedBuffer{}, done: make(chan error, 1)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(p.out.String(), "msg=ready") {
		select {
		case err := <-p.done:
			t.Fatalf("real run exited before ready (%v):\n%s", err, p.out)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.cmd.Process.Kill()
			t.Fatalf("real run not ready after 20 s:\n%s", p.out)
		}
	}
	return p
}

// runUntilCleanup starts real run on store at a fresh mount dir; when the
// test ends it is stopped (SIGTERM) and any mount left is detached.
func runUntilCleanup(t *testing.T, store string) (*daemonProc, string) {
	t.Helper()
	mnt := filepath.Join(t.TempDir(), "mnt")
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		unix.Unmount(filepath.Join(store, "lower"), unix.MNT_DETACH)
	})
	p := startRun(t, store, mnt)
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		<-p.done
	})
	return p, mnt
}

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mounts")
	return strings.Contains(string(b), " "+path+" ")
}

// TestRunLifecycle: ready shows the arenas; SIGKILL leaves stale mounts that
// the next start clears; SIGTERM unmounts everything and exits 0 within 5 s.
func TestRunLifecycle(t *testing.T) {
	privtest.Require(t)
	store := newStore(t, "solo")
	mustReal(t, "arena", "add", "--store", store, "--name", "docs")
	mustReal(t, "arena", "add", "--store", store, "--name", "media/music")
	mnt := filepath.Join(t.TempDir(), "mnt")
	lower := filepath.Join(store, "lower")
	t.Cleanup(func() { // whatever happens, leave nothing mounted
		unix.Unmount(mnt, unix.MNT_DETACH)
		unix.Unmount(lower, unix.MNT_DETACH)
	})

	p := startRun(t, store, mnt)
	for _, a := range []string{"docs", "media/music"} {
		if fi, err := os.Stat(filepath.Join(mnt, a)); err != nil || !fi.IsDir() {
			t.Fatalf("arena %s not a directory in the merged view: %v", a, err)
		}
	}
	if err := os.WriteFile(filepath.Join(mnt, "docs", "kept"), []byte("survives a crash"), 0o644); err != nil {
		t.Fatal(err)
	}

	p.cmd.Process.Kill()
	<-p.done
	if !mounted(mnt) || !mounted(lower) {
		t.Fatalf("expected stale mounts after SIGKILL (overlay %v, unreal %v)", mounted(mnt), mounted(lower))
	}

	p = startRun(t, store, mnt)
	if !strings.Contains(p.out.String(), "stale mount") {
		t.Errorf("restart did not say it cleared stale mounts:\n%s", p.out)
	}
	b, err := os.ReadFile(filepath.Join(mnt, "docs", "kept"))
	if err != nil || string(b) != "survives a crash" {
		t.Fatalf("file written before the crash: %q, %v", b, err)
	}

	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("real run after SIGTERM: %v\n%s", err, p.out)
		}
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		t.Fatalf("real run did not exit within 5 s of SIGTERM:\n%s", p.out)
	}
	t.Logf("stopped in %s", time.Since(start).Round(time.Millisecond))
	if mounted(mnt) || mounted(lower) {
		t.Fatalf("mounts left after SIGTERM")
	}
}

// TestRunNeedsRootAndFuse: without root, and without /dev/fuse, real run
// says so in one sentence, exits 1 and mounts nothing.
func TestRunNeedsRootAndFuse(t *testing.T) {
	privtest.Require(t)
	store := newStore(t, "solo")
	mnt := filepath.Join(t.TempDir(), "mnt")

	// No root: a copy of this binary run as nobody.
	dir, err := os.MkdirTemp("", "real-nobody-") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "real")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, _ := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	io.Copy(dst, src)
	src.Close()
	dst.Close()
	c := exec.Command(bin, "run", "--store", store, "--mount", mnt)
	c.Env = append(os.Environ(), "REAL_CLI_MAIN=1")
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := c.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitFail || !strings.Contains(string(out), "needs root") {
		t.Errorf("run as nobody: %v, %q", err, out)
	}

	// No /dev/fuse: a private mount namespace with an empty /dev.
	c = self(t, "run", "--store", store, "--mount", mnt)
	c.Env = append(c.Env, "REAL_CLI_HIDE_DEV=1")
	c.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err = c.CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != exitFail || !strings.Contains(string(out), "/dev/fuse") {
		t.Errorf("run without /dev/fuse: %v, %q", err, out)
	}
	if mounted(mnt) || mounted(filepath.Join(store, "lower")) {
		t.Errorf("a refused run left a mount")
	}
}

// real run stopped (SIGINT/SIGTERM) while it is still starting exits 0
// and leaves nothing mounted, as a stop once it runs does; before, it
// failed with "context canceled" (exit 1).
func TestRunStoppedWhileStarting(t *testing.T) {
	privtest.Require(t)
	store := newStore(t, "solo")
	mustReal(t, "arena", "add", "--store", store, "--name", "docs")
	mnt := filepath.Join(t.TempDir(), "mnt")
	lower := filepath.Join(store, "lower")
	t.Cleanup(func() {
		unix.Unmount(mnt, unix.MNT_DETACH)
		unix.Unmount(lower, unix.MNT_DETACH)
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the signal came before the start was done
	var logs lockedBuffer
	err := runPeer(ctx, daemon.Options{Store: store, Mount: mnt, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatalf("real run stopped while starting: %v\n%s", err, logs.String())
	}
	if mounted(mnt) || mounted(lower) {
		t.Fatalf("mounts left after a stop while starting")
	}
}
