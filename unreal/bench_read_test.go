package unreal

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/identity"
	"github.com/realsync/real/rpc"
)

// memContent is a Store's content in memory.
type memContent struct{ *bytes.Reader }

func (memContent) Close() error { return nil }

type memStore struct{ data []byte }

func (s memStore) Open(ctx context.Context, peer, arena, path string, b blob.Hash) (rpc.Content, error) {
	return memContent{bytes.NewReader(s.data)}, nil
}

// rpcFetcher routes every read to one rpc.Client (the peer "alice").
type rpcFetcher struct{ c *rpc.Client }

func (f rpcFetcher) ReadAt(ctx context.Context, peer, arena, path string, b blob.Hash, p []byte, off int64) (int, error) {
	fctx := ctx
	return f.c.ReadAt(rpc.WithProgress(ctx, func(n int) { Progress(fctx, n) }), arena, path, b, p, off)
}

// loopbackPeer starts a real rpc.Server serving data and returns a client of it.
func loopbackPeer(b *testing.B, data []byte) *rpc.Client {
	b.Helper()
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	_, ck, _ := ed25519.GenerateKey(rand.Reader)
	srv, err := rpc.NewServer(rpc.ServerConfig{Listen: "127.0.0.1:0", Key: sk,
		Peers: []rpc.Peer{{Name: "me", Key: identity.Public(ck)}}, Store: memStore{data}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	c := rpc.NewClient(rpc.Peer{Name: "alice", Key: identity.Public(sk), Address: srv.Addr().String()}, ck, nil)
	b.Cleanup(func() { c.Close(); cancel(); <-done })
	return c
}

// BenchmarkSequentialRead: a 1 GiB remote file read with cat-sized (128 KiB)
// reads through the Unreal mount, against the raw stream of the same bytes
// from the same StoreService (ReadAt in 4 MiB calls, one at a time).
func BenchmarkSequentialRead(b *testing.B) {
	data := randomData(b, 1<<30)
	c := loopbackPeer(b, data)
	h := blob.Of(data)
	b.Run("raw-rpc", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		buf := make([]byte, 4<<20)
		for b.Loop() {
			for off := int64(0); off < int64(len(data)); off += int64(len(buf)) {
				if _, err := c.ReadAt(context.Background(), "docs", "big", h, buf, off); err != nil && err != io.EOF {
					b.Fatal(err)
				}
			}
		}
	})
	cache := newCache(b)
	mustApply(b, cache, "alice", linkData(1, "big", data))
	dir := mountUnrealOpts(b, cache, rpcFetcher{c}, Options{FetchTimeout: time.Minute}, nil)
	for _, size := range []int{128 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("unreal-%dKiB", size>>10), func(b *testing.B) { readThrough(b, dir, data, size) })
	}
	// The reader as a user has it: another process (dd, 128 KiB reads).
	b.Run("unreal-dd-128KiB", func(b *testing.B) { ddThrough(b, dir, len(data)) })
	// As the daemon reads: each chunk checked by the tree the peer serves
	// (rpc.Client.Tree; the store hashes the file once, then caches it).
	tcache := newCache(b)
	mustApply(b, tcache, "alice", linkData(1, "big", data))
	tdir := mountUnrealOpts(b, tcache, rpcTreeClient{rpcFetcher{c}}, Options{FetchTimeout: time.Minute}, nil)
	if _, err := c.Tree(context.Background(), "docs", "big", h, int64(len(data))); err != nil {
		b.Fatal(err) // the peer's tree made (and cached) before the timing
	}
	b.Run("unreal-tree-dd-128KiB", func(b *testing.B) { ddThrough(b, tdir, len(data)) })
}

// readThrough reads docs/big under dir to the end in reads of size bytes.
func readThrough(b *testing.B, dir string, data []byte, size int) {
	b.SetBytes(int64(len(data)))
	buf := make([]byte, size)
	for b.Loop() {
		f, err := os.Open(filepath.Join(dir, "docs", "big"))
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{f}, buf)
		f.Close()
		if err != nil || n != int64(len(data)) {
			b.Fatalf("read %d bytes, %v", n, err)
		}
	}
}

// ddThrough reads docs/big under dir with dd (another process, 128 KiB reads).
func ddThrough(b *testing.B, dir string, size int) {
	b.SetBytes(int64(size))
	for b.Loop() {
		out, err := exec.Command("dd", "if="+filepath.Join(dir, "docs", "big"), "of=/dev/null", "bs=128k").CombinedOutput()
		if err != nil {
			b.Fatalf("dd: %v: %s", err, out)
		}
	}
}

// rpcTreeClient is rpcFetcher with the trees the peer serves (as the
// daemon's fetcher).
type rpcTreeClient struct{ rpcFetcher }

func (f rpcTreeClient) Tree(ctx context.Context, peer, arena, path string, b blob.Hash, size int64) ([]byte, error) {
	return f.c.Tree(ctx, arena, path, b, size)
}

// rpcTreeFetcher is rpcFetcher with the content's tree (computed here, as
// the peer's store would serve it).
type rpcTreeFetcher struct {
	rpcFetcher
	outboard []byte
}

func (f rpcTreeFetcher) Tree(ctx context.Context, peer, arena, path string, b blob.Hash, size int64) ([]byte, error) {
	return f.outboard, nil
}

// BenchmarkSequentialReadTree: dd of a 256 MiB remote file through a mount
// that hashes in order (plain Fetcher) and through one that checks each
// chunk by the tree (TreeFetcher), over the same loopback StoreService.
func BenchmarkSequentialReadTree(b *testing.B) {
	data := randomData(b, 256<<20)
	_, ob, err := blob.Outboard(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		b.Fatal(err)
	}
	c := loopbackPeer(b, data)
	for _, tc := range []struct {
		name string
		f    Fetcher
	}{{"in-order", rpcFetcher{c}}, {"tree", rpcTreeFetcher{rpcFetcher{c}, ob}}} {
		cache := newCache(b)
		mustApply(b, cache, "alice", linkData(1, "big", data))
		dir := mountUnrealOpts(b, cache, tc.f, Options{FetchTimeout: time.Minute}, nil)
		b.Run(tc.name+"-dd-128KiB", func(b *testing.B) { ddThrough(b, dir, len(data)) })
	}
}
