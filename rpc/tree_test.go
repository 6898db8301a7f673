package rpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/realsync/real/blob"
	realv1 "github.com/realsync/real/rpc/gen/real/v1"
)

// counting counts the content bytes the server reads.
type counting struct {
	Content
	n *atomic.Int64
}

func (c counting) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.Content.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// sized reports another size than its bytes.
type sized struct {
	Content
	size int64
}

func (s sized) Size() int64 { return s.size }

// replaced serves other bytes than those the store opened as the version.
type replaced struct {
	Content
	data []byte
}

func (r replaced) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(r.data).ReadAt(p, off)
}

// The tree of a multi-chunk content comes from a real server over TLS, and
// every chunk verifies on its own against the blob; a changed chunk does not.
func TestTree(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	for _, size := range []int{0, 1, blob.TreeChunk, 2*blob.TreeChunk + 12345} {
		data := randomBytes(size)
		f.store.files["docs/film.mkv"] = data
		f.store.sums = nil
		b := blob.Of(data)
		out, err := c.Tree(ctx, "docs", "film.mkv", b, int64(size))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if len(out) != blob.OutboardSize(int64(size)) {
			t.Fatalf("size %d: outboard of %d bytes, want %d", size, len(out), blob.OutboardSize(int64(size)))
		}
		if size == 0 {
			continue // no chunk to verify (blob.VerifyChunk of nothing is false)
		}
		chunks := 0
		for off := 0; off < size; off += blob.TreeChunk {
			chunk := data[off:min(off+blob.TreeChunk, size)]
			if !blob.VerifyChunk(b, out, int64(off), chunk) {
				t.Fatalf("size %d: chunk at %d does not verify", size, off)
			}
			chunks++
			bad := bytes.Clone(chunk)
			bad[len(bad)/2] ^= 1
			if blob.VerifyChunk(b, out, int64(off), bad) {
				t.Fatalf("size %d: a changed chunk at %d verifies", size, off)
			}
		}
		if size > blob.TreeChunk && chunks != 3 {
			t.Fatalf("size %d: %d chunks checked", size, chunks)
		}
	}
	if f.store.opens[0] != "laptop" {
		t.Errorf("store saw caller %q, want laptop", f.store.opens[0])
	}
}

// A second request for a tree, and concurrent ones, do not hash the file
// again: the server reads the content's bytes once.
func TestTreeCache(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(3*blob.TreeChunk + 1)
	f.store.files["docs/a.bin"] = data
	f.store.files["docs/copy.bin"] = data
	var read atomic.Int64
	f.store.wrap = func(c Content) Content { return counting{c, &read} }
	b := blob.Of(data)

	var wg sync.WaitGroup
	outs := make([][]byte, 6)
	errs := make([]error, 6)
	for i := range outs {
		wg.Go(func() {
			name := "a.bin"
			if i%2 == 1 {
				name = "copy.bin"
			}
			outs[i], errs[i] = c.Tree(ctx, "docs", name, b, int64(len(data)))
		})
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if !bytes.Equal(outs[i], outs[0]) {
			t.Fatalf("request %d got another tree", i)
		}
	}
	if got := read.Load(); got != int64(len(data)) {
		t.Fatalf("six requests read %d bytes of the content, want it read once (%d)", got, len(data))
	}
	if _, err := c.Tree(ctx, "docs", "a.bin", b, int64(len(data))); err != nil {
		t.Fatal(err)
	}
	if got := read.Load(); got != int64(len(data)) {
		t.Fatalf("a later request read the content again (%d bytes in all)", got)
	}
	// The version is still checked for a cached tree.
	f.store.files["docs/a.bin"] = []byte("new")
	f.store.sums = nil
	_, err := c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
	mustIs(t, err, ErrChanged)
	// A file opened as the version with another size is not that version.
	f.store.files["docs/a.bin"] = data
	f.store.wrap = func(c Content) Content { return sized{c, int64(len(data)) - 1} }
	_, err = c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
	mustIs(t, err, ErrChanged)
}

// The cache keeps the most recently used trees within its byte bound.
func TestTreeCacheEvicts(t *testing.T) {
	tc := newTreeCache(100)
	defer tc.close()
	h := func(i byte) blob.Hash { return blob.Of([]byte{i}) }
	tc.mu.Lock()
	tc.add(h(1), make([]byte, 40))
	tc.add(h(2), make([]byte, 40))
	tc.mu.Unlock()
	// h(1) used: h(2) goes first.
	if _, err := tc.compute(context.Background(), h(1), nopContent{}, nil); err != nil {
		t.Fatal(err)
	}
	tc.mu.Lock()
	tc.add(h(3), make([]byte, 40))
	tc.add(h(4), make([]byte, 101)) // larger than the whole cache: not kept
	_, has1 := tc.byBlob[h(1)]
	_, has2 := tc.byBlob[h(2)]
	_, has3 := tc.byBlob[h(3)]
	_, has4 := tc.byBlob[h(4)]
	bytes := tc.bytes
	tc.mu.Unlock()
	if !has1 || has2 || !has3 || has4 || bytes != 80 {
		t.Fatalf("cache has 1:%v 2:%v 3:%v 4:%v, %d bytes; want 1 and 3, 80 bytes", has1, has2, has3, has4, bytes)
	}
}

type nopContent struct{}

func (nopContent) ReadAt([]byte, int64) (int, error) { return 0, errors.New("not read") }
func (nopContent) Close() error                      { return nil }
func (nopContent) Size() int64                       { return 0 }

// A file whose bytes do not hash to the version it was opened as (it
// changed after it was announced) is refused as changed, and not cached.
func TestTreeChanged(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(blob.TreeChunk + 5000)
	f.store.files["docs/a.bin"] = data
	b := blob.Of(data)

	_, err := c.Tree(ctx, "docs", "a.bin", blob.Of([]byte("older")), int64(len(data)))
	mustIs(t, err, ErrChanged)

	other := bytes.Clone(data)
	other[blob.TreeChunk+1] ^= 1
	f.store.wrap = func(c Content) Content { return replaced{c, other} }
	_, err = c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
	mustIs(t, err, ErrChanged)
	if connect.CodeOf(err) != connect.CodeFailedPrecondition || !strings.Contains(err.Error(), "docs/a.bin") {
		t.Errorf("changed bytes: %v, want failed_precondition naming docs/a.bin", err)
	}
	// Truncated after Open.
	f.store.wrap = func(c Content) Content { return shrinking{c, 1000} }
	_, err = c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
	mustIs(t, err, ErrChanged)

	// Nothing wrong was cached: the right bytes give the tree.
	f.store.wrap = nil
	out, err := c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if !blob.VerifyChunk(b, out, blob.TreeChunk, data[blob.TreeChunk:]) {
		t.Fatal("the tree after a refused one does not verify")
	}
	// The client checks the shape against the size it expects.
	_, err = c.Tree(ctx, "docs", "a.bin", b, int64(len(data))+blob.TreeChunk)
	mustIs(t, err, ErrInvalid)
	mustIs(t, err, blob.ErrBadOutboard)
	if !strings.Contains(err.Error(), "peer desk") {
		t.Errorf("bad shape: %v does not name the peer", err)
	}
}

func TestTreeErrors(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(1000)
	f.store.files["docs/a.txt"] = data
	b := blob.Of(data)

	_, err := c.Tree(ctx, "docs", "gone.txt", b, 1000)
	mustIs(t, err, ErrNotFound)
	_, err = c.Tree(ctx, "music", "a.txt", b, 1000)
	mustIs(t, err, ErrUnknownArena)

	opens := len(f.store.opens)
	for name, call := range map[string]func() error{
		"dotdot":     func() error { _, err := c.Tree(ctx, "docs", "../x", b, 1000); return err },
		"bad arena":  func() error { _, err := c.Tree(ctx, "/docs", "a.txt", b, 1000); return err },
		"no blob":    func() error { _, err := c.Tree(ctx, "docs", "a.txt", blob.Hash{}, 1000); return err },
		"negative":   func() error { _, err := c.Tree(ctx, "docs", "a.txt", b, -1); return err },
		"empty path": func() error { _, err := c.Tree(ctx, "docs", "", b, 1000); return err },
	} {
		if err := call(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	for name, req := range map[string]*realv1.TreeRequest{
		"dotdot":     {Arena: "docs", Path: "a/../../x", Blob: b.Bytes()},
		"short blob": {Arena: "docs", Path: "a.txt", Blob: []byte{1, 2, 3}},
		"no blob":    {Arena: "docs", Path: "a.txt"},
		"no arena":   {Path: "a.txt", Blob: b.Bytes()},
		"NUL":        {Arena: "docs", Path: "a\x00", Blob: b.Bytes()},
	} {
		_, err := c.trees.Tree(ctx, connect.NewRequest(req))
		if connect.CodeOf(err) != connect.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, err)
		}
	}
	if len(f.store.opens) != opens {
		t.Error("the store was asked to open an invalid request")
	}
	// Each refusal (unknown arena and the five bad requests) logged at Warn.
	if got := f.log.lines("level=WARN", "refused request", "op=tree", "peer=laptop"); len(got) != 6 {
		t.Errorf("%d tree refusals logged at Warn, want 6:\n%s", len(got), f.log)
	}
}

// A content whose tree would exceed MaxTree is refused with ErrTooLarge
// (ResourceExhausted) without being read; one right at the bound passes
// the message limits of both sides.
func TestTreeTooLarge(t *testing.T) {
	if got := blob.OutboardSize(maxTreeContent); got > MaxTree {
		t.Fatalf("the tree of maxTreeContent is %d bytes, over MaxTree", got)
	}
	if got := blob.OutboardSize(maxTreeContent + 1); got <= MaxTree {
		t.Fatalf("the tree of maxTreeContent+1 is %d bytes, within MaxTree", got)
	}
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(100)
	f.store.files["big/huge.img"] = data
	b := blob.Of(data)
	var read atomic.Int64
	f.store.wrap = func(c Content) Content { return sized{counting{c, &read}, maxTreeContent + 1} }

	// Refused by the client for the size it expects...
	opens := len(f.store.opens)
	_, err := c.Tree(ctx, "big", "huge.img", b, maxTreeContent+1)
	mustIs(t, err, ErrTooLarge)
	if len(f.store.opens) != opens {
		t.Error("the client sent a request for a too large tree")
	}
	// ...and by the server for the size the file has.
	_, err = c.trees.Tree(ctx, connect.NewRequest(&realv1.TreeRequest{Arena: "big", Path: "huge.img", Blob: b.Bytes()}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted || !strings.Contains(err.Error(), "big/huge.img") {
		t.Fatalf("too large: %v, want resource_exhausted naming big/huge.img", err)
	}
	mustIs(t, fromConnect(err), ErrTooLarge)
	if read.Load() != 0 {
		t.Error("the server read a too large content")
	}
	if got := f.log.lines("level=WARN", "refused request", "op=tree", "big/huge.img"); len(got) != 1 {
		t.Errorf("%d refusals logged at Warn, want 1:\n%s", len(got), f.log)
	}

	// The largest tree served crosses both sides' limits (a cached one: no
	// need to hash a TiB).
	f.store.wrap = func(c Content) Content { return sized{c, maxTreeContent} }
	out := make([]byte, blob.OutboardSize(maxTreeContent))
	binary.LittleEndian.PutUint64(out, uint64(maxTreeContent))
	f.srv.trees.mu.Lock()
	f.srv.trees.add(b, out)
	f.srv.trees.mu.Unlock()
	got, err := c.Tree(ctx, "big", "huge.img", b, maxTreeContent)
	if err != nil {
		t.Fatalf("largest tree: %v", err)
	}
	if len(got) != len(out) {
		t.Fatalf("largest tree: %d bytes, want %d", len(got), len(out))
	}
}

// gated is content whose reads wait until release is closed; started is
// closed at its first read.
type gated struct {
	Content
	started chan struct{}
	release <-chan struct{}
	once    *sync.Once
}

func (g gated) ReadAt(p []byte, off int64) (int, error) {
	g.once.Do(func() { close(g.started) })
	<-g.release
	return g.Content.ReadAt(p, off)
}

// A server stopping cancels the hashing in flight: the caller waiting for
// the tree gets ErrUnavailable, and Shutdown returns.
func TestTreeShutdown(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(2 * blob.TreeChunk)
	f.store.files["docs/a.bin"] = data
	started := make(chan struct{})
	f.store.wrap = func(c Content) Content {
		return gated{c, started, f.srv.trees.ctx.Done(), &sync.Once{}} // until the server stops hashing
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Tree(ctx, "docs", "a.bin", blob.Of(data), int64(len(data)))
		errc <- err
	}()
	<-started
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	err := <-errc
	mustIs(t, err, ErrUnavailable)
}

// Two files of one blob asked at once: the first one's bytes changed (the
// tree computed from them fails), the second is right. The second request
// gets the tree from its own file, not the first one's ErrChanged.
func TestTreeSharedComputationFailsForOtherFile(t *testing.T) {
	f := newFixture(t)
	c := f.client(t)
	ctx := ctxT(t)
	data := randomBytes(2*blob.TreeChunk + 5000)
	f.store.files["docs/a.bin"] = data
	f.store.files["docs/b.bin"] = data
	b := blob.Of(data)
	other := bytes.Clone(data)
	other[17] ^= 1
	started, release := make(chan struct{}), make(chan struct{})
	var opened atomic.Int32
	f.store.wrap = func(c Content) Content {
		if opened.Add(1) == 1 {
			return gated{replaced{c, other}, started, release, &sync.Once{}} // other bytes than the version, late
		}
		return c
	}
	errA := make(chan error, 1)
	go func() {
		_, err := c.Tree(ctx, "docs", "a.bin", b, int64(len(data)))
		errA <- err
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the tree of a.bin was never computed")
	}
	type result struct {
		out []byte
		err error
	}
	resB := make(chan result, 1)
	go func() {
		out, err := c.Tree(ctx, "docs", "b.bin", b, int64(len(data)))
		resB <- result{out, err}
	}()
	for opened.Load() < 2 && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // b.bin's request joins a.bin's computation
	close(release)
	mustIs(t, <-errA, ErrChanged)
	r := <-resB
	if r.err != nil {
		t.Fatalf("tree of b.bin, whose bytes are right, while a.bin's failed: %v", r.err)
	}
	if !blob.VerifyChunk(b, r.out, blob.TreeChunk, data[blob.TreeChunk:2*blob.TreeChunk]) {
		t.Fatal("the tree of b.bin does not verify")
	}
}
