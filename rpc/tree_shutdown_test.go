package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

// watched records what happens to a content: reads in progress, whether
// it was closed, and a read made after that.
type watched struct {
	Content
	active     *atomic.Int32
	closed     *atomic.Bool
	afterClose *atomic.Bool
}

func (w watched) ReadAt(p []byte, off int64) (int, error) {
	w.active.Add(1)
	defer w.active.Add(-1)
	if w.closed.Load() {
		w.afterClose.Store(true)
	}
	return w.Content.ReadAt(p, off)
}

func (w watched) Close() error {
	w.closed.Store(true)
	return w.Content.Close()
}

// slowCancelled is a read that blocks until the server stops hashing and
// then takes a while to return, as a read from a slow disk does.
type slowCancelled struct {
	Content
	started chan struct{}
	stop    <-chan struct{}
	once    *sync.Once
}

func (s slowCancelled) ReadAt(p []byte, off int64) (int, error) {
	s.once.Do(func() { close(s.started) })
	<-s.stop
	time.Sleep(300 * time.Millisecond)
	return s.Content.ReadAt(p, off)
}

// Shutdown waits for the hashing of a tree whose caller gave up: once it
// returns, the content is closed and nothing reads it any more (the daemon
// closes its store and index after Shutdown).
func TestShutdownWaitsForTreeHashing(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(2 * blob.TreeChunk)
	f.store.files["docs/a.bin"] = data
	started := make(chan struct{})
	var active atomic.Int32
	var closed, afterClose atomic.Bool
	f.store.wrap = func(ct Content) Content {
		return watched{slowCancelled{ct, started, f.srv.trees.ctx.Done(), &sync.Once{}}, &active, &closed, &afterClose}
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Tree(cctx, "docs", "a.bin", blob.Of(data), int64(len(data)))
		errc <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the tree was never hashed")
	}
	cancel() // the caller gives up; the hashing goes on
	if err := <-errc; err == nil {
		t.Fatal("the tree came while its content's reads were blocked")
	}
	c.Close() // no connection left for Shutdown to wait for
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := active.Load(); n != 0 {
		t.Fatalf("Shutdown returned with %d reads of the content in progress", n)
	}
	if !closed.Load() {
		t.Fatal("Shutdown returned before the hashed content was closed")
	}
	if afterClose.Load() {
		t.Fatal("the content was read after it was closed")
	}
}

// Shutdown bounded by its context returns its error when the hashing does
// not end in time, and the hashing still ends and closes its content.
func TestShutdownTreeHashingBounded(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(2 * blob.TreeChunk)
	f.store.files["docs/a.bin"] = data
	started := make(chan struct{})
	release := make(chan struct{})
	var active atomic.Int32
	var closed, afterClose atomic.Bool
	f.store.wrap = func(ct Content) Content {
		return watched{gated{ct, started, release, &sync.Once{}}, &active, &closed, &afterClose}
	}
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Tree(cctx, "docs", "a.bin", blob.Of(data), int64(len(data)))
		errc <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the tree was never hashed")
	}
	cancel()
	<-errc
	sctx, scancel := context.WithCancel(ctx)
	scancel() // no time at all: the read is stuck
	if err := f.srv.Shutdown(sctx); err == nil {
		t.Fatal("Shutdown with a done context and a read stuck returned nil")
	}
	close(release)
	for !closed.Load() {
		select {
		case <-ctx.Done():
			t.Fatal("the content was never closed once its read returned")
		case <-time.After(time.Millisecond):
		}
	}
}
