package real

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

// serve runs Serve in the background until the test ends; its error is checked then.
func (e *env) serve() {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.r.Serve(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Serve: %v", err)
		}
	})
}

func TestInotifyOnUpperSeesWritesThroughOverlay(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.upper, "A", "f"), "one")
	merged := e.mount()
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Add(filepath.Join(e.upper, "A")); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(merged, "A", "f"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(" two"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev := <-w.Events:
			if ev.Name == filepath.Join(e.upper, "A", "f") && ev.Has(fsnotify.Write) {
				return
			}
		case err := <-w.Errors:
			t.Fatal(err)
		case <-deadline:
			t.Fatal("no inotify write event on the upper file for a write through the overlay")
		}
	}
}

func TestServeRecordsCreateEditDeleteThroughOverlay(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A", "music/jazz")
	write(t, filepath.Join(e.lower, "A", "remote.txt"), "remote")
	write(t, filepath.Join(e.lower, "A", "rdir", "r1"), "r1")
	merged := e.mount()
	e.serve()

	m := func(p string) string { return filepath.Join(merged, filepath.FromSlash(p)) }
	// Created (the arena dir is copied up first) and edited.
	write(t, m("A/new.txt"), "new")
	e.eventually(link("A", "new.txt", h("new"), blob.Hash{}))
	write(t, m("A/new.txt"), "new, edited")
	e.eventually(link("A", "new.txt", h("new, edited"), h("new")))
	// In a new directory tree.
	write(t, m("A/x/y/z.txt"), "z")
	e.eventually(link("A", "x/y/z.txt", h("z"), blob.Hash{}))
	// A remote file replaced by writing to it (copy-up).
	write(t, m("A/remote.txt"), "local now")
	e.eventually(link("A", "remote.txt", h("local now"), h("remote")))
	// Deleted: a local-only file.
	if err := os.Remove(m("A/new.txt")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "new.txt", h("new, edited")))
	// Deleted: a remote file (leaves a whiteout).
	if err := os.Remove(m("A/rdir/r1")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "rdir/r1", h("r1")))
	// A whole local directory.
	write(t, m("A/x/y/w.txt"), "w")
	e.eventually(link("A", "x/y/w.txt", h("w"), blob.Hash{}))
	if err := os.RemoveAll(m("A/x")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "x/y/z.txt", h("z")), unlink("A", "x/y/w.txt", h("w")))
	// The replaced remote file deleted: whiteout, Unlink of the local version.
	if err := os.Remove(m("A/remote.txt")); err != nil {
		t.Fatal(err)
	}
	e.eventually(unlink("A", "remote.txt", h("local now")))
	// An arena spanning two directories, and files outside any arena.
	write(t, m("music/jazz/a.flac"), "flac")
	write(t, m("music/rock.mp3"), "ignored")
	write(t, m("top.txt"), "ignored")
	e.eventually(link("music/jazz", "a.flac", h("flac"), blob.Hash{}))

	// Restart: a catch-up records nothing more.
	e.open([]string{"A", "music/jazz"})
	e.catchUp()
	e.expect()
}

func TestServeBurstOfFilesAllIndexed(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	merged := e.mount()
	e.serve()
	const n = 2000
	var ws []want
	for i := 0; i < n; i++ {
		p := fmt.Sprintf("burst/d%02d/f%04d", i%20, i)
		write(t, filepath.Join(merged, "A", filepath.FromSlash(p)), p)
		ws = append(ws, link("A", p, h(p), blob.Hash{}))
	}
	e.eventuallyFinal(ws...)
	rows, err := e.ix.Rows(context.Background(), "A", "burst")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != n+21 { // files, 20 dirs and burst/
		t.Fatalf("%d index rows under burst, want %d", len(rows), n+21)
	}
}

func TestServeCatchesUpWhatChangedBeforeItStarted(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	merged := e.mount()
	write(t, filepath.Join(merged, "A", "early"), "early")
	e.serve()
	e.eventually(link("A", "early", h("early"), blob.Hash{}))
}

func TestSettledDropsNestedScopes(t *testing.T) {
	now := time.Now()
	old := now.Add(-time.Second)
	pending := map[scope]*pendingPath{
		{"A", "d"}:     {old, old},
		{"A", "d/x"}:   {old, old},
		{"A", "d-x"}:   {old, old},
		{"A", "e"}:     {now, now},                                                    // still busy
		{"A", "f"}:     {old, now},                                                    // busy, but waited long enough
		{"B", "d/x/y"}: {now.Add(-10 * time.Millisecond), now.Add(-time.Millisecond)}, // busy and recent
	}
	got := settled(pending, now)
	want := []scope{{"A", "d"}, {"A", "d-x"}, {"A", "f"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("settled = %v, want %v", got, want)
	}
	if len(pending) != 2 {
		t.Fatalf("%d pending left, want 2", len(pending))
	}
}

// Stopped while it catches up at its start (a SIGTERM soon after `real
// run`, a long first catch-up), Serve returns nil as for any stop.
func TestServeStoppedDuringFirstCatchUpReturnsNil(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.upper, "A", "f"), "f")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e.r.hooks.watcherCreated = cancel
	if err := e.r.Serve(ctx); err != nil {
		t.Fatalf("Serve stopped during its first catch-up: %v, want nil", err)
	}
}
