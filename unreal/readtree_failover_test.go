package unreal

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A file checked by its tree (alice's came at once), read while alice goes
// away after its first chunks: bob serves the rest, and his chunks are
// checked by the tree the handle has, not held until bob's own tree comes
// (bob must hash the large file first, which may take up to FetchTimeout).
// Before, every chunk from bob waited for bob's tree: the read stalled for
// FetchTimeout at the failover.
func TestReadTreeFailoverNotHeldByNewPeersTree(t *testing.T) {
	data := randomData(t, 8*chunkSize+100)
	f := newTreeFetcher(t, data)
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		if call.peer == "alice" && call.off >= 2*chunkSize {
			return 0, errors.New("connection reset"), true
		}
		return 0, nil, false
	}
	f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
		if peer == "bob" { // hashing the file: no tree for a while
			<-ctx.Done()
			return nil, ctx.Err(), true
		}
		return nil, nil, false
	}
	c := newCache(t)
	for _, h := range holders(true) {
		mustApply(t, c, h, linkData(1, "big.bin", data))
	}
	opts := Options{TreeWait: 30 * time.Second, FetchTimeout: 40 * time.Second}
	dir := mountWith(t, c, f, opts)
	type result struct {
		got []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		got, err := readAll(filepath.Join(dir, "docs", "big.bin"), 128<<10)
		done <- result{got, err}
	}()
	var r result
	select {
	case r = <-done:
	case <-time.After(20 * time.Second):
		t.Error("read still waiting 20 s after alice went away (FetchTimeout 40 s): bob's chunks wait for bob's tree")
		r = <-done
	}
	if r.err != nil || !bytes.Equal(r.got, data) {
		t.Fatalf("read with failover to bob: %d bytes, %v; want the %d bytes", len(r.got), r.err, len(data))
	}
	if !f.servedBy("bob", 2*chunkSize) {
		t.Fatal("bob never served: no failover happened")
	}
}

// The same in a file whose tree came late, read at its start, then seeking
// (so its chunks are checked by the late tree): once alice goes away, bob's
// chunks are checked by alice's tree, which the handle has, not held until
// bob's own tree comes. Before, they waited for bob's tree: FetchTimeout.
func TestReadTreeLateFailoverNotHeldByNewPeersTree(t *testing.T) {
	data := randomData(t, 10*chunkSize+100)
	f := newTreeFetcher(t, data)
	var aliceGone atomic.Bool
	f.answer = func(ctx context.Context, call fetchCall, p []byte) (int, error, bool) {
		if call.peer == "alice" && aliceGone.Load() {
			return 0, errors.New("connection reset"), true
		}
		return 0, nil, false
	}
	opts := lateTreeOptions
	opts.FetchTimeout = 40 * time.Second
	c := newCache(t)
	release := lateTrees(t, f, false)
	late := f.tree
	f.tree = func(ctx context.Context, peer string) ([]byte, error, bool) {
		if peer == "bob" { // hashing the file: no tree for a while
			<-ctx.Done()
			return nil, ctx.Err(), true
		}
		return late(ctx, peer)
	}
	for _, h := range holders(true) {
		mustApply(t, c, h, linkData(1, "big.bin", data))
	}
	dir := mountWith(t, c, f, opts)
	fd := openDoc(t, dir, "big.bin")
	buf := make([]byte, 64<<10)
	if n, err := fd.ReadAt(buf, 0); err != nil || !bytes.Equal(buf[:n], data[:n]) {
		t.Fatalf("pread at 0 (tree late): %d bytes, %v, or wrong bytes", n, err)
	}
	release()
	// A seek, checked by alice's late tree: once it is served, the handle
	// has that tree.
	at := int64(5 * chunkSize)
	if err := <-preadWithin(fd, buf, at); err != nil || !bytes.Equal(buf, data[at:at+int64(len(buf))]) {
		t.Fatalf("pread at chunk 5 (late tree): %v, or wrong bytes", err)
	}
	aliceGone.Store(true)
	at = 8 * chunkSize
	var err error
	read := preadWithin(fd, buf, at)
	select {
	case err = <-read:
	case <-time.After(20 * time.Second):
		t.Error("pread at chunk 8 still waiting 20 s after alice went away (FetchTimeout 40 s): bob's chunk waits for bob's tree")
		err = <-read
	}
	if err != nil || !bytes.Equal(buf, data[at:at+int64(len(buf))]) {
		t.Fatalf("pread at chunk 8 after alice went away: %v, or not bob's good bytes", err)
	}
	if !f.servedBy("bob", at) {
		t.Fatal("bob never served chunk 8: no failover happened")
	}
}
