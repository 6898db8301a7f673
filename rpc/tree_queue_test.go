package rpc

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/realsync/real/blob"
)

// closeNotify closes closed when the content is closed.
type closeNotify struct {
	Content
	closed chan struct{}
}

func (c closeNotify) Close() error {
	close(c.closed)
	return c.Content.Close()
}

// A tree asked and given up while it waits for a free slot (both are
// hashing other files) is not hashed once a slot frees: the requests a
// peer gave up on do not keep the slots, and an open file each, from the
// requests still waiting. Its file is closed.
func TestTreeGivenUpBeforeItStartsIsDropped(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	var data [3][]byte
	for i, name := range []string{"a", "b", "c"} {
		data[i] = randomBytes(2*blob.TreeChunk + i)
		f.store.files["docs/"+name+".bin"] = data[i]
	}
	release := make(chan struct{})
	started := []chan struct{}{make(chan struct{}), make(chan struct{})}
	cClosed := make(chan struct{})
	var cRead atomic.Int64
	var opened atomic.Int32
	f.store.wrap = func(ct Content) Content {
		switch n := opened.Add(1); n {
		case 1, 2:
			return gated{ct, started[n-1], release, &sync.Once{}}
		case 3:
			return closeNotify{counting{ct, &cRead}, cClosed}
		}
		return ct
	}
	errs := make(chan error, 2)
	for i, name := range []string{"a", "b"} {
		go func() {
			_, err := c.Tree(ctx, "docs", name+".bin", blob.Of(data[i]), int64(len(data[i])))
			errs <- err
		}()
		select {
		case <-started[i]:
		case <-ctx.Done():
			t.Fatalf("the tree of %s.bin was never computed", name)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cerr := make(chan error, 1)
	go func() {
		_, err := c.Tree(cctx, "docs", "c.bin", blob.Of(data[2]), int64(len(data[2])))
		cerr <- err
	}()
	// c.bin's request waits for a slot once its file is opened: give up.
	f.waitOpens(t, ctx, 3)
	cancel()
	if err := <-cerr; err == nil {
		t.Fatal("the tree of c.bin came while both slots were busy")
	}
	// The server learns of the cancel when the stream's reset arrives, a
	// moment after the client gave up: wait for it, or a slot freed first
	// may go to c.bin's computation while its caller still counts (the
	// test failed so about half of its runs without -race).
	f.waitNoWaiters(t, ctx, blob.Of(data[2]))
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-cClosed:
	case <-ctx.Done():
		t.Fatal("c.bin was never closed")
	}
	if n := cRead.Load(); n != 0 {
		t.Fatalf("c.bin, whose tree nobody waited for any more, was hashed (%d bytes read)", n)
	}
	// Asked again, it is computed.
	if _, err := c.Tree(ctx, "docs", "c.bin", blob.Of(data[2]), int64(len(data[2]))); err != nil {
		t.Fatal(err)
	}
}

// waitOpens waits until the store was asked to open n contents.
func (f *fixture) waitOpens(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for {
		f.store.mu.Lock()
		got := len(f.store.opens)
		f.store.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the store opened %d contents, want %d", got, n)
		case <-time.After(time.Millisecond):
		}
	}
}

// waitNoWaiters waits until the server's computation of b's tree, if one is
// queued, has no caller waiting for it any more.
func (f *fixture) waitNoWaiters(t *testing.T, ctx context.Context, b blob.Hash) {
	t.Helper()
	tc := f.srv.trees
	for {
		tc.mu.Lock()
		call := tc.inFlight[b]
		waiting := call != nil && call.waiters > 0
		tc.mu.Unlock()
		if !waiting {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the server still counts a caller of the tree of %s", b)
		case <-time.After(time.Millisecond):
		}
	}
}
